"""The package as users get it: an sdist and a wheel built by the standard front end, and the
wheel installed into an environment that already holds its own numpy, scipy and matplotlib.

One module-scoped build; the environment is a real venv filled from the package index (as a
user's ``pip install`` is), so this file needs the index as ``make test`` does.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent

#: What the user's environment holds before installing the package: versions within
#: setup.cfg's ranges but not those of the lock (older where the lock is the newest).  The
#: lower bounds of these packages in setup.cfg are the versions here.
EXISTING = {"numpy": "2.3.5", "scipy": "1.16.3", "matplotlib": "3.10.7", "xarray": "2025.6.1",
            "h5py": "3.13.0", "h5netcdf": "1.6.4", "psutil": "7.0.0", "tqdm": "4.67.1"}


def run(*args, **kwargs):
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """``python -m build``: the sdist, and the wheel built from the unpacked sdist."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT, timeout=600)
    (sdist,), (wheel,) = out.glob("*.tar.gz"), out.glob("*.whl")
    return sdist, wheel


def test_the_sdist_holds_every_tracked_file(dist):
    """A source release from which the two commands, the examples and the suite work."""
    sdist, _ = dist
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    tracked = set(run("git", "-C", ROOT, "ls-files").split())
    assert tracked <= names, sorted(tracked - names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_wheel_holds_the_package_and_its_command(dist):
    _, wheel = dist
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = whl.read(meta).decode()
        (entry,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = whl.read(entry).decode()
    sources = {str(p.relative_to(ROOT)) for pattern in ("*.py", "*.nestml")
               for p in (ROOT / "pynn_multiscale").rglob(pattern)}
    assert any(n.endswith(".nestml") for n in sources)  # the package's NESTML models ...
    assert sources <= names, sorted(sources - names)  # ... are in the wheel with the code
    assert not [n for n in names if n.startswith(("tests/", "examples/", "benchmarks/"))]
    assert "pynn-multiscale = pynn_multiscale.cli:main" in entry_points
    # the ranges of setup.cfg, not the lock's pins, and an extra per simulator and feature
    assert "Requires-Dist: numpy>=2.2" in metadata
    for extra in ("nest", "brian2", "neuron", "annarchy", "dask", "nestml", "all", "test"):
        assert f"Provides-Extra: {extra}" in metadata
    for python in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {python}" in metadata


def test_install_requires_are_ranges_and_the_locks_satisfy_them():
    """setup.cfg has no exact pin; each lock's version of each requirement is within its range."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    requirements = [Requirement(line) for line in
                    cfg["options"]["install_requires"].split("\n") if line.strip()]
    for value in cfg["options.extras_require"].values():
        requirements += [Requirement(line) for line in value.split("\n")
                         if line.strip() and not line.startswith("pynn-multiscale")]
    assert not [str(r) for r in requirements if any(s.operator == "==" for s in r.specifier)]
    for python in ("3.11", "3.12", "3.13"):
        lock = {}
        for line in (ROOT / "requirements" / f"py{python}.txt").read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, version = line.split("#")[0].strip().split("==")
                lock[name.lower().replace("_", "-")] = version
        environment = {"python_version": python}
        for r in requirements:
            if r.marker is not None and not r.marker.evaluate(environment):
                continue
            name = r.name.lower().replace("_", "-")
            assert name in lock, (python, name)
            assert r.specifier.contains(lock[name]), (python, str(r), lock[name])


@pytest.mark.slow
def test_the_wheel_installs_into_an_existing_environment_without_changing_it(dist, tmp_path):
    """``pip install pynn-multiscale[nest]`` keeps the numpy, scipy, matplotlib, ... already
    there, and the use-case example then runs from the sdist on NEST and its result loads."""
    sdist, wheel = dist
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, timeout=300)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    pip = [python, "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]
    run(*pip, *[f"{name}=={version}" for name, version in EXISTING.items()], env=env, timeout=900)

    def versions():
        listed = json.loads(run(python, "-m", "pip", "list", "--format", "json", env=env))
        return {p["name"].lower(): p["version"] for p in listed}

    before = versions()
    run(*pip, f"{wheel}[nest]", env=env, timeout=1800)
    after = versions()
    assert {name: after[name] for name in EXISTING} == EXISTING
    assert {name: after[name] for name in before} == before  # nothing there was changed
    assert after["pynn-multiscale"] and after["nest-simulator"]

    # the example from the sdist, outside the checkout, against the installed wheel
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, filter="data")
    (source,) = [p for p in tmp_path.iterdir() if p.name.startswith("pynn_multiscale-")]
    out = tmp_path / "result"
    printed = run(python, source / "examples" / "red_wong_wang.py", "--simulator", "nest",
                  "--duration", "26", "--out", out, cwd=tmp_path, env=env, timeout=900)
    assert "(nest, 26 ms)" in printed, printed
    check = ("import pynn_multiscale as pm, sys; r = pm.Result.load(sys.argv[1]); "
             "print(pm.__file__); print(len(r.spiketrains(31, 'E')))")
    where, trains = run(python, "-c", check, out, cwd=tmp_path, env=env).split()
    assert where.startswith(str(venv)), where  # the installed wheel, not the checkout
    assert int(trains) == 800
