"""The compiler launcher of the adapter's ANNarchy builds: shorter first compiles, same code.

ANNarchy builds each network with CMake as three pieces: the simulation
kernel (``ANNarchyCore<N>.cpp``: the populations' and projections' update
code, at ANNarchy's ``-O3 -march=native``), its nanobind bindings
(``ANNarchyWrapper<N>.cpp``: a getter and a setter per attribute of every
population and projection, also at ``-O3``) and nanobind's own runtime
(eleven sources of the installed ``nanobind`` package, compiled into a
static library for every network).  ANNarchy runs ``cmake`` and ``make``
itself and resets every flag it does not set, so the one documented way in
is CMake's compiler launcher (``CMAKE_CXX_COMPILER_LAUNCHER``, read from
the environment since CMake 3.17; ccache uses it).  This file is that
launcher.  Run as a script with a compiler command line after it, it

* appends ``-O0`` (the last ``-O`` wins in GCC and Clang) when the command
  compiles an ``ANNarchyWrapper*.cpp``: the bindings are most of a first
  compile, and ``-O3`` spends its time inlining nanobind's templates, which
  run once per attribute access from Python (measured: 43.6 s to 19.5 s for
  the bindings of a seven-population network; docs/backends.md);
* keeps the objects of nanobind's runtime sources, which are the same for
  every network of an environment, in ``$PYNN_MULTISCALE_OBJECTS`` (set by
  :func:`launcher_in_environment`), keyed by the command and the source, and
  reuses one only while every file its compiler listed as a dependency is
  unchanged (size and modification time);
* runs every other command unchanged.

A launcher the user set already (e.g. ccache) is kept: it runs next.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

ENV = "CMAKE_CXX_COMPILER_LAUNCHER"
OBJECTS_ENV = "PYNN_MULTISCALE_OBJECTS"
#: What the bindings are compiled with (appended after ANNarchy's flags).
WRAPPER_FLAGS = ("-O0",)
#: This file, which CMake runs in front of the compiler.
LAUNCHER = os.path.abspath(__file__)


def command(argv: list[str]) -> list[str]:
    """The compiler command to run for ``argv`` (the compiler and its arguments)."""
    compiles_wrapper = "-c" in argv and any(
        os.path.basename(arg).startswith("ANNarchyWrapper") and arg.endswith(".cpp")
        for arg in argv)
    return list(argv) + list(WRAPPER_FLAGS) if compiles_wrapper else list(argv)


def _value(argv, flag):
    return argv[argv.index(flag) + 1] if flag in argv[:-1] else None


def nanobind_source(argv: list[str]) -> str | None:
    """The nanobind runtime source that ``argv`` compiles, or None for any other command."""
    source = _value(argv, "-c")
    if source is None or _value(argv, "-o") is None or not source.endswith(".cpp"):
        return None
    package = os.path.dirname(os.path.dirname(source))
    if os.path.basename(os.path.dirname(source)) != "src" or \
            not os.path.isfile(os.path.join(package, "include", "nanobind", "nanobind.h")):
        return None
    return source


def object_key(argv: list[str], source: str) -> str:
    """The command (output paths left out), the compiler's identity and the source's bytes."""
    compiler = shutil.which(argv[0]) or argv[0]
    stat = os.stat(os.path.realpath(compiler))
    args = [arg for k, arg in enumerate(argv)
            if arg not in ("-o", "-MF", "-MT") and argv[k - 1] not in ("-o", "-MF", "-MT")]
    with open(source, "rb") as f:
        text = f.read()
    material = json.dumps([os.path.realpath(compiler), stat.st_size, stat.st_mtime_ns, args])
    return hashlib.sha256(material.encode() + b"\0" + text).hexdigest()[:32]


def _dependencies(depfile: str) -> list[str]:
    """The files a GCC/Clang ``-MD`` dependency file lists (the target's name left out)."""
    with open(depfile) as f:
        text = f.read().replace("\\\n", " ")
    _, _, deps = text.partition(": ")
    return [d for d in deps.split() if d]


def _stamp(paths):
    out = []
    for path in paths:
        try:
            s = os.stat(path)
        except OSError:
            return None
        out.append([path, s.st_size, s.st_mtime_ns])
    return out


def compile_nanobind_source(argv: list[str], source: str, store: str) -> int:
    """Compile one nanobind source, or copy its object from ``store`` if nothing it read changed."""
    output, depfile = _value(argv, "-o"), _value(argv, "-MF")
    entry = os.path.join(store, object_key(argv, source))
    try:
        with open(entry + ".json") as f:
            manifest = json.load(f)
        if _stamp(p for p, *_ in manifest) == manifest:
            shutil.copyfile(entry + ".o", output)
            if depfile:
                shutil.copyfile(entry + ".d", depfile)
            return 0
    except (OSError, ValueError):
        pass
    code = subprocess.call(argv)
    if code == 0 and depfile and os.path.isfile(depfile):
        os.makedirs(store, exist_ok=True)
        manifest = _stamp(_dependencies(depfile))
        if manifest is not None:
            for suffix, path in ((".o", output), (".d", depfile)):
                fd, tmp = tempfile.mkstemp(dir=store)
                os.close(fd)
                shutil.copyfile(path, tmp)
                os.replace(tmp, entry + suffix)
            fd, tmp = tempfile.mkstemp(dir=store)
            with os.fdopen(fd, "w") as f:
                json.dump(manifest, f)
            os.replace(tmp, entry + ".json")  # written last: an entry is complete or absent
    return code


@contextlib.contextmanager
def launcher_in_environment(store: str):
    """Within the block, CMake configures new builds with this launcher in front of the compiler."""
    saved = {name: os.environ.get(name) for name in (ENV, OBJECTS_ENV)}
    os.environ[ENV] = ";".join([sys.executable, LAUNCHER] + ([saved[ENV]] if saved[ENV] else []))
    os.environ[OBJECTS_ENV] = str(store)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main(argv: list[str]) -> int:
    store = os.environ.get(OBJECTS_ENV)
    source = nanobind_source(argv)
    if store and source:
        return compile_nanobind_source(argv, source, store)
    args = command(argv)
    os.execvp(args[0], args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
