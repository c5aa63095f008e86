"""Custom neuron models written in NESTML, compiled for the NEST that pip installed.

:func:`build` takes ``.nestml`` files and returns PyNN cell types for ``pyNN.nest``::

    import pyNN.nest as sim
    from pynn_multiscale import nestml

    cells = nestml.build(["my_neuron.nestml"])
    sim.setup(timestep=0.1)
    pop = sim.Population(100, cells["my_neuron"](tau_m=20.0))

The NEST wheel on PyPI was not made for building extension modules against: its
``nest-config`` names the wheel builder's temporary directories and compiler, and NESTML's
builder stops on it.  :func:`build` does what a user would otherwise find out by hand:

1. it gives NESTML a NEST prefix of its own whose ``bin/nest-config`` names the system
   C++ compiler, the headers inside the installed ``nest`` package, the wheel's old C++
   string ABI (``-D_GLIBCXX_USE_CXX11_ABI=0``; without it the module compiles but cannot be
   loaded) and no libraries to link (the wheel's kernel lives in ``nestkernel_api.so``, which
   Python has already loaded);
2. it checks the system headers NEST's own headers include (GSL, Boost, libltdl) before
   compiling, and names the Debian packages that provide them;
3. it loads the module by its absolute path (no ``LD_LIBRARY_PATH``), and loads it again
   whenever ``sim.setup()`` resets the NEST kernel (which forgets loaded models);
4. it leaves out of the cell types' defaults the values a NESTML model reports but NEST
   refuses to set (internal constants).

Generation and compilation run in a separate process (NESTML keeps global state). The
compiled module is cached under ``$PYNN_MULTISCALE_CACHE/nestml`` (default
``~/.cache/pynn_multiscale/nestml``), keyed by the files' contents and the NEST, NESTML and
Python versions: a second build of the same files, in any process, loads in well under a
second.  Deleting the directory is safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import ConfigurationError, MissingDependency, PynnMultiscaleError, bad_value

__all__ = ["build", "NESTMLError", "ModelNotFound", "Models", "model_file", "cache_root", "system_headers_missing",
           "last_build"]

#: changes whenever the way a module is built changes, so that old cache entries are not used
_RECIPE = 1

#: headers that NEST's headers include, and the Debian package that has each
SYSTEM_HEADERS = {"gsl/gsl_odeiv.h": "libgsl-dev", "boost/tuple/tuple.hpp": "libboost-dev",
                  "ltdl.h": "libltdl-dev"}

#: module name -> absolute path of its library, for every module this process has loaded
_LIBRARIES: dict[str, str] = {}

#: what the last call to :func:`build` did: ``{"cached": bool, "seconds": float, "key": str}``
last_build: dict = {}


class ModelNotFound(ConfigurationError, KeyError):
    """A model name that the built module does not define."""

    __str__ = Exception.__str__  # KeyError would show the message as a quoted repr


class Models(dict):
    """Model name -> PyNN cell type; an unknown name says which names there are."""

    def __init__(self, cells, files):
        super().__init__(cells)
        self.files = files

    def __missing__(self, name):
        raise ModelNotFound(bad_value(
            "model", name, f"a neuron model defined in {', '.join(self.files)}",
            f"use one of {', '.join(self) or '(none)'}"))


class NESTMLError(PynnMultiscaleError, RuntimeError):
    """A NESTML model could not be generated, compiled or loaded.

    ``stage`` says which step failed: ``"parse"`` (NESTML's own errors, with file and line),
    ``"headers"`` (a system header is missing), ``"compile"`` (the compiler's first error)
    or ``"load"`` (NEST refused the module).
    """

    def __init__(self, stage: str, message: str):
        super().__init__(message)
        self.stage = stage


def cache_root() -> Path:
    """``$PYNN_MULTISCALE_CACHE/nestml`` (default ``~/.cache/pynn_multiscale/nestml``)."""
    from ..backends.base import cache_directory

    return cache_directory("nestml")


def _imports():
    """nest and pynestml, or the error that says how to install them."""
    try:
        import pynestml
    except ImportError as exc:
        raise MissingDependency(
            f"NESTML is not installed in this environment ({exc}). "
            "Fix: pip install 'pynn-multiscale[nestml]'") from None
    nest = _nest()
    return nest, pynestml.__version__


def _nest():
    os.environ.setdefault("PYNEST_QUIET", "1")
    try:
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            import nest
    except ImportError as exc:
        raise MissingDependency(
            f"NEST is not installed in this environment ({exc}). "
            "Fix: pip install 'pynn-multiscale[nestml]'") from None
    return nest


def model_file(name: str) -> Path:
    """The ``.nestml`` file of one of NESTML's own models (installed with it), by model name,
    e.g. ``model_file("iaf_psc_exp_neuron")``."""
    _imports()
    folder = Path(sys.prefix) / "models" / "neurons"
    path = folder / f"{name}.nestml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.nestml"))
        raise ConfigurationError(bad_value(
            "name", name, f"one of NESTML's models in {folder} ({len(known)} found)",
            f"pick one of {', '.join(known[:8])}, ... or pass your own file to build()"))
    return path


def _files(paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            found = sorted(path.glob("*.nestml"))
            if not found:
                raise ConfigurationError(bad_value("paths", str(p), "a .nestml file or a folder "
                                                   "holding some", "check the path"))
            files.extend(found)
        elif path.is_file() and path.suffix == ".nestml":
            files.append(path)
        else:
            raise ConfigurationError(bad_value(
                "paths", str(p), "an existing .nestml file (or a folder of them)",
                "check the path" if not path.exists() else "name the .nestml file itself"))
    return [f.resolve() for f in files]


def _key(files, nest_version, nestml_version) -> str:
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.name):
        digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    digest.update(f"{nest_version}|{nestml_version}|{sys.version_info[:2]}|{_RECIPE}".encode())
    return digest.hexdigest()[:20]


def system_headers_missing(compiler: str | None = None) -> dict[str, str]:
    """The headers of :data:`SYSTEM_HEADERS` the C++ compiler cannot find, with their packages."""
    compiler = compiler or _compiler()
    missing = {}
    for header, package in SYSTEM_HEADERS.items():
        done = subprocess.run([compiler, "-x", "c++", "-E", "-o", os.devnull, "-"],
                              input=f"#include <{header}>\n", capture_output=True, text=True)
        if done.returncode != 0:
            missing[header] = package
    return missing


def _compiler() -> str:
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not compiler:
        raise NESTMLError("headers", "no C++ compiler was found (CXX, g++ or c++). Fix: sudo "
                          "apt-get install g++ (or set CXX to your compiler)")
    return compiler


def _nest_prefix(folder: Path, nest, compiler: str) -> Path:
    """A NEST prefix whose ``bin/nest-config`` describes the pip-installed NEST truthfully."""
    include = Path(nest.__file__).parent / "include" / "nest"
    answers = {
        "--prefix": str(folder), "--exec-prefix": str(folder),
        "--version": nest.__version__ if hasattr(nest, "__version__") else nest.build_info["version"],
        "--includes": f"-I{include}",
        # the wheel is built with the pre-C++11 string ABI (manylinux2014)
        "--cflags": "-Wall -fopenmp -O2 -DNDEBUG -std=c++20 -D_GLIBCXX_USE_CXX11_ABI=0",
        # the kernel is in nestkernel_api.so, already loaded by Python with global symbols
        "--libs": "", "--static-libraries": "OFF",
        "--compiler": compiler, "--compiler-name": "GNU", "--compiler-version": "",
        "--python-executable": sys.executable,
        "--python-version": ".".join(map(str, sys.version_info[:3])),
        "--libdir": "lib", "--datadir": "share/nest", "--docdir": "share/doc/nest",
    }
    cases = "\n".join(f"    {opt}) echo '{value}' ;;" for opt, value in answers.items())
    script = ("#!/bin/sh\n# written by pynn_multiscale.nestml for the NEST wheel\n"
              f'for a in "$@"; do\n  case "$a" in\n{cases}\n'
              '    *) echo "unknown option $a" >&2; exit 1 ;;\n  esac\ndone\n')
    (folder / "bin").mkdir(parents=True)
    config = folder / "bin" / "nest-config"
    config.write_text(script)
    config.chmod(0o755)
    return folder


def _compile(files, key, entry: Path, nest) -> dict:
    """Generate and compile into ``entry`` (a new folder); returns the manifest."""
    if not shutil.which("cmake") or not shutil.which("make"):
        raise NESTMLError("headers", "NESTML builds with cmake and make, and one is missing. "
                          "Fix: sudo apt-get install cmake make")
    compiler = _compiler()
    missing = system_headers_missing(compiler)
    if missing:
        raise NESTMLError(
            "headers", "NEST's headers include system headers that the C++ compiler cannot find: "
            + ", ".join(missing) + ". Fix: sudo apt-get install "
            + " ".join(sorted(set(missing.values()))))
    with tempfile.TemporaryDirectory(prefix="pm-nestml-") as work:
        work = Path(work)
        request = {"files": [str(f) for f in files], "module_name": f"pm{key}module",
                   "work_dir": str(work), "install_dir": str(entry),
                   "nest_prefix": str(_nest_prefix(work / "nest", nest, compiler)),
                   "result": str(work / "result.json")}
        (work / "request.json").write_text(json.dumps(request))
        done = subprocess.run([sys.executable, "-m", "pynn_multiscale.nestml._worker",
                               str(work / "request.json")], capture_output=True, text=True)
        result_file = work / "result.json"
        if not result_file.is_file():
            raise NESTMLError("compile", "the NESTML build process stopped without a result "
                              f"(exit code {done.returncode}):\n{done.stderr.strip()[-3000:]}")
        result = json.loads(result_file.read_text())
        if not result["ok"] and result.get("log"):  # keep the whole build log for the user
            kept = entry.parent / f"{key}.build.log"
            kept.write_text("".join(p.read_text(errors="replace")
                                    for p in sorted(Path(result["log"]).glob("*.txt"))))
            result["message"] += f"\n(the whole build log: {kept})"
    if not result["ok"]:
        names = ", ".join(f.name for f in files)
        stage, message = result["stage"], result["message"]
        intro = {"parse": f"NESTML found errors in {names}",
                 "compile": f"the C++ code NESTML generated from {names} did not compile; "
                            "the compiler's first error",
                 "load": f"NEST could not load the module built from {names}"}[stage]
        raise NESTMLError(stage, f"{intro}:\n{message}")
    if not result["node_models"]:
        raise NESTMLError("parse", f"{', '.join(f.name for f in files)} define no neuron model")
    return {"module": request["module_name"], "library": Path(result["library"]).name,
            "node_models": result["node_models"], "synapse_models": result["synapse_models"],
            "files": [f.name for f in files]}


def _entry(files, nest, nestml_version) -> tuple[dict, Path, bool]:
    """The cache entry of ``files`` (built if absent): its manifest, folder and whether cached."""
    key = _key(files, nest.build_info["version"], nestml_version)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    entry = root / key
    manifest = entry / "manifest.json"
    if manifest.is_file():
        return json.loads(manifest.read_text()), entry, True
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build per entry at a time, across processes
        if manifest.is_file():
            return json.loads(manifest.read_text()), entry, True
        partial = Path(tempfile.mkdtemp(prefix=f"{key}.partial-", dir=root))
        try:
            data = _compile(files, key, partial, nest)
            (partial / "manifest.json").write_text(json.dumps(data, indent=1))
            os.rename(partial, entry)  # the entry appears complete or not at all
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return data, entry, False


def _install(module: str, library: Path, nest) -> None:
    """Load ``library`` into the current NEST kernel unless its models are already there."""
    try:
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            nest.Install(str(library))
    except Exception as exc:  # nest.NESTError and its kin
        if "already" not in str(exc).lower():
            raise NESTMLError("load", f"NEST could not load {library}: {exc}") from None
    _LIBRARIES[module] = str(library)
    _reload_after_pynn_resets(nest)


def _reload_after_pynn_resets(nest) -> None:
    """Make ``sim.setup()`` load this process's modules again after it resets the kernel.

    NEST forgets dynamically loaded models at ``ResetKernel``, and refuses to load a module
    once any node exists (PyNN creates a population's recorders before its neurons), so the
    reload must follow the reset at once: it is added to PyNN's ``state.clear``.
    """
    try:
        from pyNN.nest import simulator
    except ImportError:  # PyNN is not used: nest.ResetKernel() is the user's own
        return
    state = simulator.state
    if getattr(state.clear, "pynn_multiscale_nestml", False):
        return
    clear = state.clear

    def clear_and_reload(*args, **kwargs):
        result = clear(*args, **kwargs)
        for module, path in _LIBRARIES.items():
            _install(module, Path(path), nest)
        return result

    clear_and_reload.pynn_multiscale_nestml = True
    state.clear = clear_and_reload


def _known(model: str, nest) -> bool:
    """Whether the current kernel has ``model`` (``nest.node_models`` can lag behind Install)."""
    try:
        nest.GetDefaults(model, "element_type")
    except Exception:  # NEST's UnknownComponent
        return False
    return True


def _settable(model: str, nest, defaults: dict) -> dict:
    """The entries of ``defaults`` that NEST accepts back with SetDefaults."""
    kept = {}
    for name, value in defaults.items():
        try:
            nest.SetDefaults(model, {name: value})
        except Exception:  # NEST refuses internal values (e.g. NESTML's unit_psc)
            continue
        kept[name] = value
    return kept


def _cell_type(model: str, module: str, library: Path, nest):
    """A PyNN cell type for ``model`` (its module is reloaded by ``sim.setup()``)."""
    from pyNN.nest.cells import native_cell_type

    base = native_cell_type(model)
    defaults = _settable(model, nest, base.default_parameters)

    def nest_name(self):
        if not _known(model, nest):  # the kernel was reset outside PyNN's setup()
            if nest.network_size:
                raise NESTMLError("load", (
                    f"the NEST kernel was reset (nest.ResetKernel()) and no longer knows {model}, "
                    "and nodes exist already, so NEST will not load its module now. Fix: call "
                    "pynn_multiscale.nestml.build(...) again right after resetting the kernel, "
                    "or reset through sim.setup(), which reloads it"))
            _install(module, library, nest)
        return {"on_grid": model, "off_grid": model}

    def __init__(self, **parameters):
        if not nest.network_size and not _known(model, nest):  # after a raw nest.ResetKernel()
            _install(module, library, nest)
        unknown = sorted(set(parameters) - set(defaults) - set(base.default_initial_values))
        if unknown:
            raise ConfigurationError(bad_value(
                "parameters", unknown, f"parameters of the NESTML model {model}",
                f"use some of {', '.join(sorted(defaults))}"))
        base.__init__(self, **parameters)

    return type(model, (base,), {"default_parameters": defaults, "__init__": __init__,
                                 "nest_name": property(nest_name), "__module__": __name__,
                                 "__doc__": f"NESTML model {model} (module {module})."})


def build(paths, *, models=None) -> dict:
    """Compile NESTML models for the installed NEST (or take them from the cache) and load them.

    Parameters
    ----------
    paths : str, Path or list of them
        ``.nestml`` files, or folders whose ``.nestml`` files are all built; all of them go
        into one NEST module.
    models : list of str, optional
        The neuron models to return (default: all that the files define).

    Returns
    -------
    Models
        A dict: model name -> PyNN cell type for ``pyNN.nest``, usable as
        ``sim.Population(n, cells[name](**parameters))`` after ``sim.setup()``.

    Raises
    ------
    NESTMLError
        With ``stage`` ``"parse"``, ``"headers"``, ``"compile"`` or ``"load"``.
    MissingDependency
        NEST or NESTML is not installed (``pip install 'pynn-multiscale[nestml]'``).
    """
    started = time.perf_counter()
    nest, nestml_version = _imports()
    files = _files(paths)
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise ConfigurationError(bad_value("paths", names, "files with distinct names",
                                           "rename one of the files of the same name"))
    manifest, entry, cached = _entry(files, nest, nestml_version)
    library = entry / manifest["library"]
    if not all(_known(m, nest) for m in manifest["node_models"]):
        if nest.network_size:
            raise NESTMLError("load", (
                f"NEST loads a module only into an empty network, and this kernel holds "
                f"{nest.network_size} nodes already, so the models of {', '.join(names)} cannot "
                "be loaded now (the module is compiled and cached). Fix: call "
                "pynn_multiscale.nestml.build(...) before creating any population or device, "
                "for instance right after sim.setup()"))
        _install(manifest["module"], library, nest)
    available = manifest["node_models"]
    wanted = available if models is None else list(models)
    unknown = [m for m in wanted if m not in available]
    if unknown:
        raise ModelNotFound(bad_value(
            "models", unknown, f"neuron models defined in {', '.join(names)}",
            f"pick from {', '.join(available)}"))
    cells = Models({m: _cell_type(m, manifest["module"], library, nest) for m in wanted}, names)
    last_build.clear()
    last_build.update(cached=cached, seconds=time.perf_counter() - started, key=entry.name)
    return cells
