"""The adapter's simulator state: one ANNarchy ``Network``, compiled once, cached on disk.

ANNarchy generates C++ code for a network and compiles it before the first
step (30 to 60 s).  PyNN builds eagerly and runs at any time, so the adapter
creates ANNarchy objects as the PyNN calls come, and compiles at the first
``run``.  The compiled code is kept in
``$PYNN_MULTISCALE_CACHE/annarchy/<hash>`` (default
``~/.cache/pynn_multiscale``): ``<hash>`` covers what changes the generated
code (each population's model and size, each projection's populations,
target and delay class, ANNarchy's version and install path, the network's
id and ``dt``, the compiler launcher and its flags for the bindings: ``_launcher``),
while parameter values, weights, delays above one step, rates and seeds do
not, so a second run of the same network loads its library in under a
second.  Within a directory ANNarchy compares the generated files with the
built ones and rebuilds only if they differ, so a network the hash misses is
still compiled correctly, only not shared.  The generated build files name
ANNarchy's install directory, so each virtual environment has its own cache
entries (a rebuild in a directory configured for another environment would
use that environment's paths).

ANNarchy behaviours handled here (measured on ANNarchy 5.0.4.1):

* It reads the host program's ``sys.argv`` (``-v``, ``-c``, ``-j``...) at
  import and in ``compile``: pytest's own flags turned on verbose output,
  clean rebuilds and threads.  ``sys.argv`` is trimmed around both.
* CMake finds ``python3`` on ``PATH``, not the running interpreter, and
  fails to find nanobind outside an activated venv: ``VIRTUAL_ENV`` is set
  to the running environment.
* An interrupted build leaves a library that ANNarchy would load without
  complaint: a marker file is written after each successful compile, and
  without it the next compile is a clean one.
* A failed compile leaves the process in the build directory: the working
  directory is restored.
* ``ann.clear()`` followed by a different network fails, so networks are
  never cleared; each ``setup`` creates a new ``Network`` (its id grows).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np

from ...errors import ConfigurationError, bad_value, simulator_not_installed
from ..base import cache_directory
from ._launcher import LAUNCHER, WRAPPER_FLAGS, launcher_in_environment

#: NEST's default seed, used when setup() gets none (runs are reproducible).
DEFAULT_SEED = 143202461


@contextlib.contextmanager
def _plain_argv():
    saved = sys.argv
    sys.argv = saved[:1] if saved else ["python"]
    try:
        yield
    finally:
        sys.argv = saved


def annarchy():
    """Import ANNarchy quietly (its banner goes to stdout; it parses ``sys.argv``)."""
    if sys.modules.get("ANNarchy") is not None:
        return sys.modules["ANNarchy"]
    if sys.prefix != sys.base_prefix:
        os.environ.setdefault("VIRTUAL_ENV", sys.prefix)
    try:
        with _plain_argv(), contextlib.redirect_stdout(io.StringIO()):
            import ANNarchy
    except ImportError as exc:
        error = simulator_not_installed("annarchy", exc, ("ANNarchy",), " (ANNarchy 5.0 builds "
                                        "with a C++ compiler and cmake)")
        if error is None:
            raise
        raise error from None
    return ANNarchy


def cache_root() -> Path:
    """Where compiled networks are kept: ``$PYNN_MULTISCALE_CACHE/annarchy``."""
    return cache_directory("annarchy")


class State:
    """Everything ``setup`` creates and ``end`` releases."""

    def __init__(self):
        self.net = None
        self.dt = 0.1
        self.min_delay = 0.1
        self.max_delay = 10.0
        self.seed = DEFAULT_SEED
        self.populations = []
        self.projections = []
        #: one ANNarchy neuron model per cell type class (populations share it)
        self.neuron_models = {}
        self.current_sources = []
        self.compiled = False
        self.compile_s = None
        self.cache_dir = None
        #: what code-relevant objects the co-simulation backend adds (its input sources)
        self.extra_code_keys = []

    # ------------------------------------------------------------------ setup
    def setup(self, timestep, min_delay, max_delay, seed):
        ann = annarchy()
        self.__init__()
        self.dt = float(timestep)
        self.min_delay = self.dt if min_delay in (None, "auto") else float(min_delay)
        self.max_delay = 10.0 if max_delay is None else float(max_delay)
        self.seed = DEFAULT_SEED if seed is None else int(seed)
        with contextlib.redirect_stdout(io.StringIO()):
            self.net = ann.Network(dt=self.dt, seed=self.seed)
        return self

    def network(self):
        if self.net is None:
            raise ConfigurationError("pynn_multiscale.backends.annarchy: call setup() before "
                                     "creating populations or running. Fix: sim.setup(timestep=0.1)")
        return self.net

    def require_not_compiled(self, what):
        if self.compiled:
            raise NotImplementedError(
                f"{what} after the first run() is outside the ANNarchy adapter's PyNN subset: "
                "ANNarchy compiles the network at the first run. Build everything before "
                "running (or call setup() again for a new network).")

    # --------------------------------------------------------------- compile
    def _description(self):
        ann = annarchy()
        return json.dumps({
            "annarchy": ann.__version__, "python": sys.version.split()[0], "net_id": self.net.id,
            # ANNarchy writes its own install path into the generated CMakeLists.txt
            "annarchy_path": os.path.dirname(ann.__file__),
            "dt": self.dt,
            # the launcher's path is written into the build files (CMakeCache.txt)
            "bindings": [LAUNCHER, WRAPPER_FLAGS],
            "populations": [p._code_key() for p in self.populations],
            "projections": [p._code_key() for p in self.projections],
            "extra": self.extra_code_keys,
        }, sort_keys=True)

    def compile(self):
        if self.compiled:
            return
        import time

        for population in self.populations:
            population._before_compile()
        for projection in self.projections:
            projection._connect()
        digest = hashlib.sha256(self._description().encode()).hexdigest()[:16]
        directory = cache_root() / digest
        directory.parent.mkdir(parents=True, exist_ok=True)
        done = directory.parent / f"{digest}.done"
        lock = directory.parent / f"{digest}.lock"
        cwd = os.getcwd()
        start = time.perf_counter()
        with open(lock, "w") as lock_file, _plain_argv(), \
                launcher_in_environment(directory.parent / "objects"), \
                contextlib.redirect_stdout(io.StringIO()) as out:
            import fcntl

            fcntl.flock(lock_file, fcntl.LOCK_EX)  # one compile per directory at a time
            clean = not done.exists()
            done.unlink(missing_ok=True)
            try:
                self.net.compile(directory=str(directory), clean=clean, silent=True)
            except BaseException as exc:
                os.chdir(cwd)
                text = out.getvalue().strip()
                raise RuntimeError(f"ANNarchy failed to compile the network in {directory}"
                                   + (f":\n{text}" if text else "")) from exc
            finally:
                os.chdir(cwd)
            done.write_text("compiled\n")
        self.compile_s = time.perf_counter() - start
        self.cache_dir = directory
        self.compiled = True

    # ------------------------------------------------------------------ time
    @property
    def t(self):
        return float(self.net.time) if self.compiled else 0.0

    def steps(self, t):
        return int(round(float(t) / self.dt))

    def run_until(self, t_stop):
        """Advance to ``t_stop`` (ms), applying current-source changes on the way."""
        self.network()
        self.compile()
        target = self.steps(t_stop)
        now = self.steps(self.t)
        if target < now:
            raise ConfigurationError(bad_value("tstop", t_stop, f"a time after the current time "
                                               f"({now * self.dt:g} ms)", "pass a later time"))
        changes = sorted({s for source in self.current_sources for s in source._change_steps()
                          if now <= s < target})
        for step in changes + [target]:
            if step > now:
                self._simulate(step - now)
                now = step
            for source in self.current_sources:
                source._apply(now)
        for population in self.populations:
            population._collect()
        return now * self.dt

    def _simulate(self, n_steps):
        # simulate(d) runs ceil(d / dt) steps: n - 0.5 steps is exactly n, whatever the round-off
        self.net.simulate((n_steps - 0.5) * self.dt)


state = State()


def evaluate(value, n, name):
    """A parameter given to PyNN (scalar, sequence or RandomDistribution) as ``n`` values."""
    from pyNN.random import RandomDistribution

    if isinstance(value, RandomDistribution):
        return np.asarray(value.next(n), dtype=float).reshape(n)
    if callable(value):
        raise NotImplementedError(
            f"{name} given as a function is outside the ANNarchy adapter's PyNN subset: pass a "
            "number, an array or a RandomDistribution")
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return np.full(n, float(array))
    if array.shape != (n,):
        raise ConfigurationError(bad_value(name, f"an array of shape {array.shape}",
                                           f"a number or {n} values", "pass one value per neuron"))
    return array.copy()
