"""Brian2 through PyNN (``pyNN.brian2``), with the window loop inside one Brian2 run.

Region builders use plain PyNN (``pyNN.brian2``).  The loop bypasses PyNN's
``run()``: each ``Network.run`` call costs about 0.3 s of set-up on PyNN's
Brian2 networks (FINDINGS), so :meth:`Brian2Backend.run_windows` runs all the
windows of a ``CoSimulation.run`` as ONE ``Network.run``, and a Brian2
``NetworkOperation`` (added to PyNN's ``simulator.state.network``) calls the
loop's ``between(k)`` at each window end.

Mechanisms, and why:

* **Time.**  Brian2's step ``j`` integrates ``(j h, (j+1) h]`` and stamps the
  spikes it detects ``j h``; NEST stamps a spike at the end of the step it
  occurs in.  After ``Network.run`` to ``T`` the neurons' state is at ``T``
  (co-simulation time = Brian2's clock = PyNN's ``t``) and the spikes are
  those of steps ``j < T/h``; :meth:`~Brian2Backend.window_spikes` reports
  them at ``(j + 1) h``, the end of their step, as NEST does.  With that
  convention a neuron's spikes, and their delivery (a spike at ``s`` with
  delay ``d`` changes the target's synaptic variable at ``s + d``), are the
  same as NEST's.  One consequence: PyNN's Brian2 ``SpikeSourceArray`` emits a
  spike given at ``t`` in the step ``(t, t + h]``, so its spikes are reported,
  and act on their targets, one step later than on NEST (measured: a spike at
  1.0 ms with a 1.0 ms delay moves V from 2.1 ms on NEST, 2.2 ms on Brian2).
* **The window loop.**  A ``NetworkOperation`` in the ``start`` slot, on its
  own clock whose period ``g h`` divides every window end (the greatest
  common divisor of the ends, in steps), sees the state after the steps
  before a window end; it calls ``between(k)`` when the step is a window end
  and returns at once otherwise.  The last end is handled after the run
  returns.  An exception in ``between`` stops the network and is re-raised,
  unchanged, once ``Network.run`` returns.
* **TVB rates -> Poisson input.**  No spike source at all: a
  ``run_regularly`` operation on the PyNN population's ``NeuronGroup``, in the
  ``synapses`` slot, adds ``weight * poisson(lambda_j)`` to the receptor's
  variable (the variable PyNN's ``Projection`` increments: ``ye`` for alpha
  synapses, ``ge``/``ie`` for exponential ones) of every neuron, every step.
  Each neuron's input count per step is therefore exactly Poisson whatever
  ``rate * dt`` is (Brian2's ``PoissonGroup`` fires at most one spike per
  step, which makes a several-kHz input sub-Poisson; FINDINGS).  The
  synaptic delay is not a queue but a shift of the schedule: a NEST
  generator spike stamped ``s`` (rate value ``k`` gives stamps in
  ``[t0 + (k+1) dt, t0 + (k+2) dt)``, measured on NEST 3.10) reaches its
  target at ``s + d``, which on Brian2 is the end of step ``(s + d)/h - 1``.
  A shared fraction ``f`` is drawn once per step for the whole population
  (numpy, seeded), one ``min_delay`` later, as NEST's parrot relay does.
* **Schedules inside one run.**  ``lambda_j`` comes from a ``TimedArray``
  used as a ring buffer of ``ring_steps`` steps, indexed by
  ``timestep(t, dt) % ring_steps``.  ``set_rates`` writes into a Python-side
  schedule of any length; the part within the ring's horizon is copied into
  the ``TimedArray``'s values in place (the compiled code reads that buffer
  on every step), and the network operation extends the horizon at least
  every ``ring_steps / 2`` steps.  Writing the buffer in place relies on
  Brian2 (2.9) passing the ``TimedArray``'s own ``values`` array to the
  generated code; ``test_brian2_backend.py::test_rate_step_latency`` fails if
  that ever stops being true.
* **Step currents.**  The same ring; a ``run_regularly`` in the
  ``before_groups`` slot adds the change of amplitude to PyNN's ``i_inj``
  (which PyNN's own current sources also change by differences).  Amplitude
  ``k`` drives the integration steps ``(t_{k+1} + d, t_{k+2} + d]``, as on NEST.
* **Spike trains.**  A ring of per-neuron spike counts (``ring_steps_trains``
  steps, one column per neuron), injected like the Poisson counts.
* **Spikes -> counts.**  A ``SpikeMonitor`` per population; each window reads
  only the entries after the previous read, and once a monitor holds
  ``flush_events`` spikes it is emptied (``resize(0)`` and ``N = 0``, between
  two steps): the cost and memory per window stay bounded.
* **Seeding.**  PyNN's Brian2 backend ignores seeds; ``setup`` calls
  ``brian2.seed(seed)`` (which also seeds numpy's global generator, used by
  Brian2's runtime random numbers).

Upstream defects worked around here (tests in ``tests/test_brian2_backend.py``):

* ``SpikeSourcePoisson.set(rate=...)`` on ``pyNN.brian2`` silently does
  nothing (it overwrites a Python attribute, not Brian2's ``rates``):
  ``test_upstream_spike_source_poisson_set_rate_is_ignored`` fails once fixed.
  This backend does not use ``SpikeSourcePoisson``.
* PyNN's ``SpikeGeneratorGroup`` (``SpikeSourceArray``) runs on Brian2's
  ``defaultclock``, not on PyNN's network clock: ``setup`` sets
  ``defaultclock.dt`` to the time step so both agree.
* PyNN's ``setup`` ignores ``seed`` on Brian2 (see Seeding).
* Brian2 derives the update step of linear models (``IF_curr_alpha``,
  ``IF_curr_exp``) with SymPy's slow matrix exponential again in every
  process (25-50 s for ``IF_curr_alpha``): :func:`cache_exact_integration`
  keeps the derived code on disk.
* PyNN's Brian2 current sources compare times in Brian2 quantities at every
  step (0.6 ms per source and step): :func:`quick_current_sources`.

Code generation target
----------------------
Brian2 compiles its generated code with Cython by default.  Its cache key
includes the Python executable's path, so each new virtual environment (a CI
run on a clean clone, for instance) compiles everything again: about 400 s for
the use case's network on 2 cores.  Set the environment variable
``PYNN_MULTISCALE_BRIAN2_TARGET`` to ``numpy`` (or ``cython``) to choose
Brian2's target; :func:`apply_codegen_target` reads it when a backend is set
up.  The test suite runs Brian2 on ``numpy`` (set in ``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CapabilityError, ConfigurationError
from .base import GlobalStateGuard, recorded_signal_names, setup_arguments, step_of

#: PyNN's Brian2 state is global: at most one live backend per process.
_GUARD = GlobalStateGuard("PyNN's Brian2 state", "Brian2")


@contextlib.contextmanager
def _objects_frozen():
    """The interpreter's objects out of the garbage collector's reach, for one ``Network.run``.

    ``Network.run`` starts with a full ``gc.collect()`` (to warn about Brian2
    objects left out of a network), which walks every object of the process:
    TVB's, the loop's, and after a compilation in the same process, the
    compiler's.  With about 390 000 objects (W1, two regions) that is 0.15-0.17 s,
    paid once per ``CoSimulation.run`` call: 0.8 s per simulated second of a
    200 ms run.  ``gc.freeze()`` puts the existing objects in a permanent
    generation that collections skip; ``gc.unfreeze()`` returns them afterwards,
    when their garbage is collected as usual.  Objects Brian2 would warn about
    are PyNN's network's own here.  If the caller has frozen objects already,
    nothing is done: unfreezing would release theirs too.
    """
    if gc.get_freeze_count() or not gc.isenabled():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Ring:
    """Values per Brian2 step (``width`` columns), fed from a Python-side schedule.

    The Brian2 side is a 1-D ``TimedArray`` of ``size * width`` values; the
    value of step ``j``, column ``i`` lives at ``(j % size) * width + i``.
    The ring holds the steps ``[horizon - size + 1, horizon)``: the step
    before the current one stays readable (currents use differences).
    """

    def __init__(self, brian2, name, width, size, dt_s):
        self.width, self.size = int(width), int(size)
        self.array = brian2.TimedArray(np.zeros(self.size * self.width), dt=dt_s * brian2.second,
                                       name=name)
        self.values = self.array.values  # the buffer the generated code reads
        self.values.flags.writeable = True
        self.name = name
        self._sched = np.zeros((0, self.width))
        self._base = 0  # step of _sched[0]
        self._used = 0  # rows of _sched in use
        self.horizon = 0

    def write(self, j0, rows, now):
        """Schedule ``rows`` (n x width) for steps ``j0 .. j0 + n - 1``."""
        rows = np.asarray(rows, dtype=float).reshape(-1, self.width)
        j1 = j0 + rows.shape[0]
        if j0 < now:
            raise RuntimeError(
                f"input scheduled for step {j0} but the simulation is already at step {now}")
        end = j1 - self._base
        if end > self._sched.shape[0]:
            grown = np.zeros((max(end, 2 * self._sched.shape[0]), self.width))
            grown[:self._used] = self._sched[:self._used]
            self._sched = grown
        self._used = max(self._used, end)
        self._sched[j0 - self._base:end] = rows
        lo, hi = max(j0, now), min(j1, self.horizon)
        if lo < hi:
            self._copy(lo, hi)

    def advance(self, now):
        """Make the ring hold steps ``now - 1 .. now + size - 2``."""
        new = now + self.size - 1
        if new > self.horizon:
            self._copy(max(self.horizon, now - 1, 0), new)
            self.horizon = new
        drop = now - 1 - self._base
        if drop > 4096:  # forget the consumed part of the schedule
            self._sched = self._sched[drop:].copy()
            self._used = max(self._used - drop, 0)
            self._base += drop

    def _copy(self, lo, hi):
        rows = np.zeros((hi - lo, self.width))
        a, b = max(lo, self._base), min(hi, self._base + self._used)
        if a < b:
            rows[a - lo:b - lo] = self._sched[a - self._base:b - self._base]
        slots = np.arange(lo, hi) % self.size
        self.values.reshape(self.size, self.width)[slots] = rows


@dataclass
class RingInput:
    """A ring of per-step values that the network reads (rates, trains or currents)."""

    ring: _Ring
    delay_steps: int
    shared: _Ring | None = None  # the shared Poisson counts of a rate input
    shared_fraction: float = 0.0


@dataclass
class GroupVariable:
    """A variable of a population's Brian2 group, and its factor from SI to PyNN's units."""

    variable: Any
    factor: float
    cells: Any = field(default_factory=lambda: slice(None))  # a view's neurons in the group


@dataclass
class Monitor:
    """A ``SpikeMonitor`` with its time, index and count variables, and the spikes read."""

    monitor: Any
    t: Any
    i: Any
    n: Any
    read: int = 0


class Brian2Backend:
    """The Brian2 backend (see the module docstring)."""

    name = "brian2"
    #: Why threads=1 only: Brian2's runtime mode, which the window loop runs, is single-threaded
    #: (its OpenMP code is for standalone mode, which cannot stop for windows).
    threads_note = ("Brian2's runtime mode, which the window loop needs, is single-threaded; "
                    "its OpenMP code is for standalone mode")
    #: The process-wide guard of the simulator's global state (CoSimulation asks it to make room).
    guard = _GUARD
    #: Cell types refused in a region, and why (upstream defects, docs/backends.md).
    refused_cell_types = {
        "HH_cond_exp": "PyNN's Brian2 HH_cond_exp has a threshold (v > -40 mV) without "
                       "refractoriness, so Brian2 reports a spike in every time step V stays above "
                       "it (dozens per action potential; each one is sent to the cell's targets), "
                       "and integrates it with explicit Euler, which diverges at dt 0.1 ms",
    }

    #: Steps held by a rate or current ring (a power of 2).
    ring_steps = 8192
    #: Steps held by a spike-train ring (one column per neuron; a power of 2).
    ring_steps_trains = 1024
    #: Spikes in a monitor at which it is emptied after a read.
    flush_events = 200_000

    def __init__(self, sim):
        import brian2

        self.sim = sim
        self.brian2 = brian2
        self._rings = []
        self._counters = []
        self._namespace = {}
        self._n_objects = 0
        self._started = False
        self._finished = False
        self._step = 0  # the next Brian2 step to run
        self._rng = np.random.default_rng()
        self._previous_target = None  # Brian2's code generation target before setup
        self._h = self._min_steps = None  # the spiking step (ms) and min_delay in steps
        self._state = None  # PyNN's simulator state

    def version(self) -> str:
        return str(self.brian2.__version__)

    # ----------------------------------------------------------- lifecycle
    def setup(self, timestep, min_delay, seed, max_delay=None):
        _GUARD.check()
        self.sim.setup(**setup_arguments(timestep, min_delay, max_delay))
        # process-wide changes that change no result, left in place
        cache_exact_integration()
        quick_current_sources()
        # process-wide changes, undone when the network is built (start) or abandoned (finish)
        batch_projections()
        self._previous_target = self.brian2.prefs.codegen.target
        apply_codegen_target()
        b2 = self.brian2
        b2.defaultclock.dt = timestep * b2.ms  # PyNN's SpikeGeneratorGroup runs on it
        if seed is not None:
            b2.seed(int(seed))
            self._rng = np.random.default_rng(int(seed) + 1)
        self._h = float(timestep)
        self._min_steps = max(1, int(round(min_delay / timestep)))
        self._state = self.sim.simulator.state
        _GUARD.claim(self)

    def start(self):
        batch_projections(False)  # the regions are built
        self._prepare_run()
        self._started = True

    def _prepare_run(self):
        """What PyNN's ``state.run`` does before each run, without running."""
        state = self._state
        for recorder in state.recorders:
            recorder._finalize()
        if not state.running:
            state.network.store("before-first-run")
            state.running = True

    def finish(self):
        if not self._finished:
            self._finished = True
            batch_projections(False)
            if self._previous_target is not None:
                self.brian2.prefs.codegen.target = self._previous_target
            try:
                self.sim.end()
            except Exception:  # pragma: no cover - end() only writes requested files
                pass
        _GUARD.release(self)

    # --------------------------------------------------------------- running
    def _steps(self, t):
        return int(round(float(t) / self._h))

    def advance(self, t_stop):
        self.run_windows([t_stop], lambda k: None)

    def run_windows(self, t_stops, between):
        """One ``Network.run`` through every window end; ``between(k)`` at each."""
        b2 = self.brian2
        stops = [self._steps(t) for t in t_stops]
        now = self._step
        if not stops or stops[-1] <= now:
            for k in range(len(stops)):
                between(k)
            return
        if any(b <= a for a, b in zip([now] + stops[:-1], stops)):
            raise ConfigurationError(f"window ends {list(t_stops)} are not increasing from "
                                     f"t = {now * self._h} ms")
        self._prepare_run()
        # tick at every window end but the last (handled after the run), and often
        # enough that no ring runs dry
        half = min([self.ring_steps // 2] + [r.size // 2 for r in self._rings])
        g = 0
        for s in stops[:-1]:
            g = math.gcd(g, s)
        if g == 0:
            g = half
        elif g > half:
            g = math.gcd(g, half)
        pending = {"k": 0, "error": None}
        network = self._state.network

        def tick(t):
            step = int(round(float(t / b2.ms) / self._h))
            if step <= now or pending["error"] is not None:
                return
            self._step = step
            try:
                k = pending["k"]
                if k < len(stops) - 1 and step == stops[k]:
                    pending["k"] = k + 1
                    between(k)
                for ring in self._rings:
                    ring.advance(step)
            except BaseException as exc:  # re-raised, unchanged, after the run
                pending["error"] = exc
                network.stop()

        self._n_objects += 1
        op = b2.NetworkOperation(tick, dt=g * self._h * b2.ms, when="start", order=-100,
                                 name=f"pm_windows_{self._n_objects}")
        for ring in self._rings:
            ring.advance(now)
        network.add(op)
        try:
            with _objects_frozen():
                network.run((stops[-1] - now) * self._h * b2.ms, namespace=self._namespace)
        finally:
            network.remove(op)
            self._step = self._steps(float(network.t / b2.ms))
        if pending["error"] is not None:
            raise pending["error"]
        for k in range(pending["k"], len(stops)):
            between(k)

    # ------------------------------------------------------------- helpers
    @staticmethod
    def projection_delays(projection):
        """Every connection's delay (ms), read from its Brian2 ``Synapses``.

        PyNN's ``Projection.get`` raises NotImplementedError for a projection
        from or onto an Assembly, and fails on a projection of one connection.
        """
        parts = [np.asarray(syn.delay_[:], dtype=float) * 1e3
                 for row in projection._brian2_synapses.values() for syn in row.values()]
        return np.concatenate(parts) if parts else np.empty(0)

    @staticmethod
    def _group(population, what):
        """(the Brian2 group of a Population or view, the view's neurons there or None)."""
        from pyNN.common import Population, PopulationView

        if isinstance(population, Population):
            return population.brian2_group, None
        if isinstance(population, PopulationView):
            cells = population.index_in_grandparent(np.arange(population.size))
            return population.grandparent.brian2_group, np.asarray(cells, dtype=np.int64)
        raise CapabilityError(
            f"{what} on a {type(population).__name__} is not supported by the brian2 backend. "
            "Fix: make the proxy's population a Population or a view of one.")

    def _cells_code(self, group, cells):
        """For a view: a factor ``" * (1 if neuron i is in it else 0)"`` and its index there.

        Two ``TimedArray`` lookups indexed by ``i`` (as the rings are); for a
        whole population, no factor and ``i``.
        """
        if cells is None:
            return "", "i"
        b2 = self.brian2
        inside, position = np.zeros(len(group)), np.zeros(len(group))
        inside[cells], position[cells] = 1.0, np.arange(cells.size)
        names = []
        for kind, values in (("in", inside), ("pos", position)):
            name = f"_pm_{kind}_{len(self._namespace)}"
            self._namespace[name] = b2.TimedArray(values, dt=self._h * 1e-3 * b2.second,
                                                  name=name)
            names.append(f"{name}(i * dt)")
        return f" * {names[0]}", names[1]

    def _new_ring(self, kind, width, size):
        name = f"_pm_{kind}_{len(self._rings)}"
        ring = _Ring(self.brian2, name, width, size, self._h * 1e-3)
        self._rings.append(ring)
        self._namespace[name] = ring.array
        if self._started:
            ring.advance(self._step)
        return ring

    def _constant(self, kind, value):
        name = f"_pm_{kind}_{len(self._namespace)}"
        self._namespace[name] = value
        return name

    def _increment(self, population, weight, receptor_type, what):
        """(variable, weight as a Brian2 quantity) for one input spike, as PyNN's Projection."""
        b2 = self.brian2
        celltype = population.celltype
        variables = getattr(celltype, "post_synaptic_variables", None) or {}
        if receptor_type not in variables:
            raise CapabilityError(
                f"{what} onto {type(celltype).__name__} with receptor_type={receptor_type!r} is "
                f"not supported by the brian2 backend: the cell type's receptors are "
                f"{sorted(variables)}. Fix: use a cell type with 'excitatory' and 'inhibitory' "
                "receptors (IF_cond_alpha, IF_cond_exp, IF_curr_alpha, IF_curr_exp, ...).")
        if getattr(celltype, "voltage_based_synapses", False) or variables[receptor_type] == "v":
            unit, conductance = b2.mV, False
        elif celltype.conductance_based:
            unit, conductance = b2.uS, True
        else:
            unit, conductance = b2.nA, False
        sign = -1.0 if (receptor_type == "inhibitory" and not conductance) else 1.0
        return variables[receptor_type], sign * float(weight) * unit

    def _run_regularly(self, group, code, when):
        self._n_objects += 1
        obj = group.run_regularly(code, when=when, order=10,
                                  name=f"pm_input_{self._n_objects}")
        self._state.network.add(obj)
        return obj

    # ------------------------------------------------------------- proxies
    def add_rate_source(self, population, synapse_weight, delay, receptor_type,
                        shared_fraction=0.0):
        """Independent Poisson input to every neuron, optionally with a shared part.

        With ``shared_fraction`` f, each neuron gets an independent Poisson
        count at (1 - f) r and one count at f r common to all of them (drawn
        per step with numpy, one ``min_delay`` later, as on NEST), so the
        input counts of two neurons correlate with coefficient f.
        """
        group, cells = self._group(population, "A rate proxy")
        inside, _ = self._cells_code(group, cells)
        var, w = self._increment(population, synapse_weight, receptor_type, "A rate proxy")
        ring = self._new_ring("rate", 1, self.ring_steps)
        wname = self._constant("w", w)
        slot = f"(timestep(t, dt) % {ring.size}) * dt"
        terms = f"poisson({ring.name}({slot}))"
        shared = None
        if shared_fraction > 0:
            shared = self._new_ring("shared", 1, self.ring_steps)
            terms += f" + {shared.name}({slot})"
        self._run_regularly(group, f"{var} += {wname} * ({terms}){inside}", "synapses")
        return RingInput(ring, max(1, self._steps(delay)), shared, float(shared_fraction))

    def _edges(self, t0, dt, n, shift):
        """Brian2 steps at which values 0..n-1 start (and n ends), shifted by ``shift`` steps."""
        return np.rint((t0 + dt * np.arange(1, n + 2)) / self._h).astype(np.int64) + shift

    def set_rates(self, handle, t0, dt, rates):
        """Rates (Hz) of TVB steps ``(t0 + k dt, t0 + (k+1) dt]``, any number of them."""
        rates = np.asarray(rates, dtype=float)
        if rates.size == 0:
            return
        edges = self._edges(t0, dt, rates.size, handle.delay_steps - 1)
        lam = np.repeat(rates * self._h / 1000.0, np.diff(edges))
        f = handle.shared_fraction
        handle.ring.write(int(edges[0]), (1.0 - f) * lam, self._step)
        if handle.shared is not None:
            counts = self._rng.poisson(f * lam).astype(float)
            handle.shared.write(int(edges[0]) + self._min_steps, counts, self._step)

    def add_train_sources(self, population, synapse_weight, delay, receptor_type):
        """One train per target neuron: per-step spike counts in a per-neuron ring."""
        group, cells = self._group(population, "A spike-train proxy")
        inside, position = self._cells_code(group, cells)
        var, w = self._increment(population, synapse_weight, receptor_type, "A spike-train proxy")
        ring = self._new_ring("trains", population.size, self.ring_steps_trains)
        wname = self._constant("w", w)
        index = f"((timestep(t, dt) % {ring.size}) * {ring.width} + {position}) * dt"
        self._run_regularly(group, f"{var} += {wname} * {ring.name}({index}){inside}",
                            "synapses")
        return RingInput(ring, max(1, self._steps(delay)))

    def set_trains(self, handle, trains, t0, dt):
        """Each neuron's spikes of the next window, stamped at the end of their TVB step (as NEST)."""
        n = handle.ring.width
        per_neuron = []
        for times in trains:
            per_neuron.append(np.maximum(step_of(times, t0, dt), 1))
        if not any(s.size for s in per_neuron):
            return
        last = max(int(s.max()) for s in per_neuron if s.size)
        d = handle.delay_steps
        # a spike stamped s reaches its target at s + d: the end of Brian2 step (s + d)/h - 1
        first = self._steps(t0 + dt) + d - 1
        rows = np.zeros((self._steps(t0 + dt * last) + d - 1 - first + 1, n))
        for i, steps in enumerate(per_neuron):
            if steps.size:
                j = np.rint((t0 + steps * dt) / self._h).astype(np.int64) + d - 1 - first
                np.add.at(rows[:, i], j, 1.0)
        if rows.shape[0] >= handle.ring.size // 2:
            raise ConfigurationError(
                f"set_trains: a window of {rows.shape[0]} steps (plus the delay) exceeds half the "
                f"brian2 backend's train ring ({handle.ring.size} steps). Fix: raise "
                "Brian2Backend.ring_steps_trains (a power of 2).")
        handle.ring.write(first, rows, self._step)

    def add_current_source(self, population, delay=None):
        """A step current added to PyNN's ``i_inj``, changed by differences."""
        group, cells = self._group(population, "A current proxy")
        inside, _ = self._cells_code(group, cells)
        ring = self._new_ring("current", 1, self.ring_steps)
        unit = self._constant("nA", 1.0 * self.brian2.nA)
        size = ring.size
        now = f"{ring.name}((timestep(t, dt) % {size}) * dt)"
        before = f"{ring.name}(((timestep(t, dt) + {size - 1}) % {size}) * dt)"
        self._run_regularly(group, f"i_inj += {unit} * ({now} - {before}){inside}",
                            "before_groups")
        delay = self._min_steps * self._h if delay is None else float(delay)
        return RingInput(ring, max(1, self._steps(delay)))

    def set_currents(self, handle, t0, dt, amplitudes):
        """Amplitudes in nA, one per TVB step; step k drives ``(t0+(k+1)dt+d, t0+(k+2)dt+d]``."""
        amplitudes = np.asarray(amplitudes, dtype=float)
        if amplitudes.size == 0:
            return
        edges = self._edges(t0, dt, amplitudes.size, handle.delay_steps)
        handle.ring.write(int(edges[0]), np.repeat(amplitudes, np.diff(edges)), self._step)

    def add_offset(self, population):
        group, cells = self._group(population, "An offset proxy")
        if "i_offset" not in group.variables:
            raise CapabilityError(
                f"OffsetFromCoupling onto {type(population.celltype).__name__} is not supported "
                "by the brian2 backend: the cell type has no i_offset. Fix: use a standard "
                "integrate-and-fire cell type.")
        return GroupVariable(group.variables["i_offset"], 1e9,
                             slice(None) if cells is None else cells)

    def set_offset(self, handle, value):
        """PyNN's ``i_offset`` (nA) on every neuron, written in Brian2's amperes."""
        handle.variable.get_value()[handle.cells] = float(value) * 1e-9

    #: PyNN state variable -> (Brian2 name, factor from SI to PyNN's units)
    _STATE_FACTORS = {"v": 1e3, "gsyn_exc": 1e6, "gsyn_inh": 1e6}

    def add_state_reader(self, population, variable):
        group, cells = self._group(population, "MeanState")
        translations = getattr(population.celltype, "state_variable_translations", {})
        if variable not in self._STATE_FACTORS or variable not in translations:
            raise CapabilityError(
                f"MeanState({variable!r}) is not supported by the brian2 backend for "
                f"{type(population.celltype).__name__}. Use a conductance-based cell type "
                "(IF_cond_alpha, IF_cond_exp) for conductances.")
        name = translations[variable]["translated_name"]
        return GroupVariable(group.variables[name], self._STATE_FACTORS[variable],
                             slice(None) if cells is None else cells)

    def read_state_mean(self, handle):
        """The population mean of a state variable, now, in PyNN's units."""
        return float(np.mean(handle.variable.get_value()[handle.cells])) * handle.factor

    def add_spike_counter(self, population):
        group, _ = self._group(population, "Spike counting")  # whole populations only
        b2 = self.brian2
        self._n_objects += 1
        monitor = b2.SpikeMonitor(group, record=True, name=f"pm_spikes_{self._n_objects}")
        self._state.network.add(monitor)
        handle = Monitor(monitor, monitor.variables["t"], monitor.variables["i"],
                         monitor.variables["N"])
        self._counters.append(handle)
        return handle

    def window_spikes(self, handle):
        """Spikes since the previous call: (end of their step in ms, index in the population)."""
        n = int(handle.n.get_value().item())  # a 1-element array: numpy 2.5 refuses int() of it
        start = handle.read
        t = np.asarray(handle.t.get_value()[start:n])
        index = np.array(handle.i.get_value()[start:n], dtype=np.int64)
        times = (np.rint(t * 1e3 / self._h) + 1.0) * self._h
        if n >= self.flush_events:
            handle.monitor.resize(0)
            handle.n.set_value(0)
            handle.read = 0
        else:
            handle.read = n
        return times, index

    def recorded_signals(self, population) -> list:
        """Analog signals (``v``, ``gsyn_exc``, ...) that the builder asked PyNN to record."""
        names = recorded_signal_names(population)
        if not names:
            return []
        block = population.get_data(names)
        return list(block.segments[-1].analogsignals)


def make_backend(sim):
    if sim.__name__ != "pyNN.brian2":
        raise ConfigurationError(f"make_backend expects pyNN.brian2, got {sim.__name__}")
    return Brian2Backend(sim)


# ------------------------------------------------ upstream: one connect per neuron
def batch_projections(enabled: bool = True):
    """Make PyNN's Brian2 ``Projection`` create its synapses in one call per group.

    Upstream defect (PyNN 0.13): ``pyNN.brian2.Projection._convergent_connect``
    runs once per postsynaptic neuron, and each run calls
    ``Synapses.connect(i=..., j=...)``, which makes Brian2 generate and
    prepare a code object, then sets every synaptic variable one connection
    at a time.  Building the use case's 1000-neuron region took 150 s here,
    almost all of it in those calls.  This replacement collects the
    connections of a whole ``Projection`` and makes one ``connect`` and one
    assignment per variable, in the same order, so the synapses and their
    values are the same.  It is installed by :meth:`Brian2Backend.setup`
    (and can be called directly, e.g. before building a network with plain
    PyNN; ``enabled=False`` restores PyNN's own); ``tests/test_brian2_backend.py::test_upstream_connects_one_neuron_at_a_time``
    fails once PyNN batches by itself.
    """
    from pyNN.brian2 import projections

    cls = projections.Projection
    if not enabled:  # back to PyNN's own (tests compare the two)
        if "_pynn_multiscale_original" in vars(cls):
            cls.__init__, cls._convergent_connect = cls._pynn_multiscale_original
            del cls._pynn_multiscale_original
        return
    if "_pynn_multiscale_original" in vars(cls):
        return
    cls._pynn_multiscale_original = (cls.__init__, cls._convergent_connect)
    original_init = cls.__init__

    def _convergent_connect(self, presynaptic_indices, postsynaptic_index,
                            location_selector=None, **connection_parameters):
        if location_selector is not None:
            raise NotImplementedError("Brian backend does not support multicompartmental models.")
        connection_parameters.pop("dendritic_delay_fraction", None)
        partitions = self._partition(presynaptic_indices)
        j_group, j = self._localize_index(postsynaptic_index)
        parameters = dict(connection_parameters)
        parameters.update(self.synapse_type.initial_conditions)
        for i_group, i in enumerate(partitions):
            if i.size:
                self._pending.setdefault((i_group, j_group), []).append((i, j, parameters))
                self._n_connections += i.size

    @functools.wraps(original_init)  # keeps PyNN's signature (the receptor check reads it)
    def __init__(self, *args, **kwargs):
        self._pending = {}
        original_init(self, *args, **kwargs)
        _flush(self)

    def _flush(projection):
        scale = projection._simulator.state.dt * _ms()
        for (i_group, j_group), chunks in projection._pending.items():
            syn = projection._brian2_synapses[i_group][j_group]
            first = len(syn)
            i = np.concatenate([c[0] for c in chunks])
            j = np.concatenate([np.full(c[0].size, c[1]) for c in chunks])
            syn.connect(i=i, j=j)
            new = slice(first, len(syn))
            for name in chunks[0][2]:
                values = [_values(c[2][name], c[0].size) for c in chunks]
                value = np.concatenate(values) if not hasattr(values[0], "dim") else \
                    _concatenate_quantities(values)
                if name == "delay":  # rounded to the nearest step, as PyNN does
                    value = np.round(value / scale) * scale
                try:
                    getattr(syn, name)[new] = value
                except TypeError as err:
                    if "read-only" not in str(err):
                        raise
        projection._pending = {}

    cls.__init__ = __init__
    cls._convergent_connect = _convergent_connect


TARGET_ENV = "PYNN_MULTISCALE_BRIAN2_TARGET"
_TARGETS = ("numpy", "cython")


def apply_codegen_target():
    """Set Brian2's code generation target from ``$PYNN_MULTISCALE_BRIAN2_TARGET``.

    Does nothing when the variable is unset or empty (Brian2 then keeps its
    own choice: Cython when a compiler is available).  Returns the target in
    force.
    """
    import brian2

    value = os.environ.get(TARGET_ENV, "").strip()
    if value:
        if value not in _TARGETS:
            raise ConfigurationError(
                f"{TARGET_ENV}={value!r} is not a Brian2 code generation target: "
                f"set it to one of {', '.join(_TARGETS)}, or unset it to keep Brian2's default")
        brian2.prefs.codegen.target = value
    return brian2.prefs.codegen.target


# ------------------------------------- upstream: current sources checked with units per step
def quick_current_sources(enabled: bool = True):
    """Make PyNN's Brian2 current sources skip the steps where nothing changes, cheaply.

    Upstream (PyNN 0.13): every current source's ``_update_current`` runs at
    every step and compares the time with its next change time in Brian2
    quantities, about 0.6 ms per source and step on the numpy target: a
    ``DCSource`` cost as much as its cell's whole integration (five single
    cells at 0.01 ms: 45 s of 140 s).  This replacement makes the same
    comparison in floats (the same operations on the same values: seconds)
    and calls PyNN's own method only at a change time or for a streamed
    source (``ACSource``, ``NoisyCurrentSource``), so the injected currents
    are the same (tested).  Installed by :meth:`Brian2Backend.setup` and left
    in place; ``enabled=False`` restores PyNN's own.
    """
    from pyNN.brian2 import simulator
    from pyNN.brian2.standardmodels.electrodes import Brian2CurrentSource as cls

    if not enabled:
        if "_pynn_multiscale_original" in vars(cls):
            cls._update_current = cls._pynn_multiscale_original
            del cls._pynn_multiscale_original
        return
    if "_pynn_multiscale_original" in vars(cls):
        return
    original = cls._pynn_multiscale_original = cls._update_current

    @functools.wraps(original)
    def _update_current(self):
        if self.running and not self.streaming and self.i < len(self._times):
            due = float(self._times[self.i])  # s, as PyNN's comparison in Brian2 units
            if not abs(simulator.state.t * 0.001 - due) < simulator.state.dt * 0.001 / 2.0:
                return  # PyNN's own would find nothing to do
        original(self)

    cls._update_current = _update_current


# ------------------------------------- upstream: exact integration recomputed per process
#: The ``exact`` state updater Brian2 had before :func:`cache_exact_integration` wrapped it.
_EXACT = {}


def cache_exact_integration(enabled: bool = True):
    """Keep Brian2's ``exact`` integration of linear equations on disk, across processes.

    Brian2 derives the update step of a linear model (PyNN's ``IF_curr_exp``
    and ``IF_curr_alpha``, for instance) from SymPy's matrix exponential,
    which newer SymPy computes very slowly (sympy issue 19887): 25 to 50 s
    for ``IF_curr_alpha`` and 5 to 11 s for ``IF_curr_exp`` here, in every
    new process, before the first step.  Brian2 keeps the result in memory
    only.  This keeps it in ``$PYNN_MULTISCALE_CACHE/brian2/exact`` as
    text (JSON: the equations and Brian2's abstract code for them), keyed by
    what Brian2's own in-memory cache is keyed by (the equations and the
    variables' descriptions), plus the time step (the updater checks that
    the equations' functions are constant over it), Brian2's and SymPy's
    versions; the next process reads the code instead of deriving it.  The
    code is Brian2's own output, read back as a string and compiled by
    Brian2 as it would have compiled the derived one (a test compares them).
    Like Brian2's Cython cache, the directory is trusted: it holds code.
    An entry whose equations differ from the ones asked for is ignored, and
    equations whose description cannot be keyed reproducibly (an object
    known only by its address, a function other than Brian2's own, such as
    a ``TimedArray``) are derived as before.

    Installed by :meth:`Brian2Backend.setup` and left in place (it changes
    no result); call it directly before building a network with plain PyNN.
    ``enabled=False`` restores Brian2's own.
    """
    from brian2.stateupdaters.base import StateUpdateMethod

    registry = StateUpdateMethod.stateupdaters
    if not enabled:
        if "exact" in _EXACT:
            registry["exact"] = _EXACT.pop("exact")
        return
    if "exact" not in _EXACT:
        _EXACT["exact"] = registry["exact"]
        registry["exact"] = _DiskCachedExact(_EXACT["exact"])


class _NoKey(Exception):
    """The value has no process-independent text."""


def _canonical(value):
    """A process-independent text for Brian2's cache key of ``value`` (None if there is none)."""
    import re

    from brian2.core.functions import DEFAULT_FUNCTIONS, Function
    from brian2.utils.caching import _hashable

    own = {id(function): name for name, function in DEFAULT_FUNCTIONS.items()}

    def walk(obj):
        if isinstance(obj, frozenset):  # its iteration order depends on the string hash seed
            return "{" + ", ".join(sorted(walk(item) for item in obj)) + "}"
        if isinstance(obj, tuple):
            return "(" + ", ".join(walk(item) for item in obj) + ")"
        if isinstance(obj, Function):  # Brian2's own (exp, rand, ...) by name; others have none
            if id(obj) not in own:
                raise _NoKey(obj)
            return f"Function {own[id(obj)]}"
        return repr(obj)

    try:
        text = walk(_hashable(value))
    except (TypeError, _NoKey):  # Brian2's own cache then derives without caching too
        return None
    return None if re.search(r" at 0x[0-9a-fA-F]+", text) else text


class _DiskCachedExact:
    """Brian2's ``exact`` state updater, with its results kept in :func:`cache_directory`."""

    def __init__(self, updater):
        self.updater = updater

    def __getattr__(self, name):  # can_integrate and the rest: Brian2's own
        return getattr(self.updater, name)

    def __call__(self, equations, variables=None, method_options=None):
        import contextlib
        import hashlib
        import json
        import tempfile

        import brian2
        import sympy

        from .base import cache_directory

        key = _canonical((equations, variables, method_options))
        if key is None:
            return self.updater(equations, variables, method_options)
        # as the updater reads it (exact.py): its checks depend on the value
        dt = repr(float(variables["dt"].get_value()[0])) if variables and "dt" in variables \
            else "none"
        key = f"brian2 {brian2.__version__} sympy {sympy.__version__} dt {dt} {key}"
        path = cache_directory("brian2") / "exact" / (hashlib.sha256(key.encode()).hexdigest() + ".json")
        try:
            entry = json.loads(path.read_text())
            if entry["key"] == key and isinstance(entry["code"], str):
                return entry["code"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        code = self.updater(equations, variables, method_options)  # may refuse the equations
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp",
                                             delete=False) as partial:
                partial.write(json.dumps({"equations": str(equations), "key": key, "code": code}))
            os.replace(partial.name, path)  # whole or absent, also with several processes
        except OSError:  # a read-only cache costs time, not results
            with contextlib.suppress(OSError, NameError):
                os.unlink(partial.name)
        return code


def _ms():
    import brian2

    return brian2.ms


def _values(value, n):
    """A connection parameter for ``n`` connections: its per-connection values."""
    import brian2

    if np.ndim(value) > 0:
        return value
    if isinstance(value, brian2.Quantity):
        return brian2.Quantity(np.full(n, float(value)), dim=value.dim)
    return np.full(n, value)


def _concatenate_quantities(values):
    import brian2

    return brian2.Quantity(np.concatenate([np.asarray(v) for v in values]), dim=values[0].dim)
