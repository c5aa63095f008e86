"""The co-simulation backend for ANNarchy (through this package's PyNN adapter).

Region builders receive ``pynn_multiscale.backends.annarchy`` as ``sim``.
The loop advances the network one window at a time (``simulate`` per
window; each call costs about 0.1 ms of overhead on top of the steps).

Mechanisms, and why:

* **TVB rates -> Poisson input.**  One ``PoissonPopulation`` per target
  population, one source per target neuron (one to one), whose rate is the
  input it sums from a ``TimedArray`` of one value (the *drive*: a rate-coded
  projection, weight 1, onto every source).  Each window only the drive's
  schedule and values are rewritten in C++ (``cyInstance.set_schedule``,
  ``set_rates``: one value per TVB step, whatever the number of neurons).
  Before, a ``TimedPoissonPopulation`` took one rate per source and step:
  26 steps of 12 800 sources, 8 ms a window, the loop's largest cost growing
  with the neurons.  The drive is never ``reset``: ANNarchy's reset clears
  the spikes of the last step and those still in the delay queue (measured:
  W1's E rates 22-37% low).  Timing as NEST's
  ``inhomogeneous_poisson_generator``: the rate of TVB step k of a window
  starting at t0 drives the source's step ``t0 + (k + 1) dt`` (a step's
  sources read the value the drive set in the step before), and the spike
  reaches its target one synaptic delay later.  A shared fraction ``f`` is a
  single source connected to every target, one ``min_delay`` later (as the
  parrot relay on NEST).  ANNarchy's Poisson sources fire at most one spike
  per step (a spike when a uniform number is below ``r dt``): one source per
  neuron gives the right mean but a per-step variance ``p (1 - p)`` instead of
  Poisson's ``p`` (``p = r dt``), i.e. 30% too little input variance at the
  AdEx pair's 3000 Hz per neuron at dt 0.1 ms (measured: 0.695 of Poisson's
  conductance variance, 0.937 at 1000 Hz), which silenced its fluctuation-driven
  E cells by a third.  With
  :attr:`AnnarchyBackend.poisson_sources_per_neuron` (``K``) each neuron gets
  ``K`` sources at ``r / K`` (one ``PoissonPopulation`` of ``K n``
  sources, source ``i K + j`` onto neuron ``i``): variance ``p (1 - p / K)``,
  0.99 of Poisson's at 3000 Hz with ``K = 10``.  The shared part likewise.
  ``K`` is 1 by default: ten sources cost a pair's run 60% more time (28 to
  45 s) and most co-simulations send well under 500 Hz per neuron (p < 0.05
  at 0.1 ms).  A window that sends more than that (``r dt / K > 0.05``, more
  than 5% of the variance lost) warns once per proxy, naming the ``K`` that
  keeps the loss under 5%.
* **Spikes -> counts.**  The population's ``Monitor`` on spikes, drained
  once every window, at the end of its run (``Population._collect``).  The
  monitor's map is emptied after each read, so a read holds only the neurons
  that spiked: 0.13 ms a window for 12 800 neurons on W2, against 3.65 ms
  when ANNarchy's own clear left an empty list for every neuron to convert.
* **Step currents.**  Every adapter model adds ``g_inj`` to its ``i_offset``
  (``_cells.py``); a ``TimedArray`` per target population sets it every
  step through a ``CurrentInjection``, so a neuron's own ``i_offset`` (the
  MPR and Jansen-Rit pairs' excitability) is kept.  Timing as NEST's
  ``step_current_generator`` through PyNN: the value of TVB step k of a
  window starting at t0 acts on the integration steps after
  ``t0 + (k + 1) dt + delay``.  Each window its schedule and values are
  written in C++ (about 0.4-0.55 ms per region and window for 200 neurons and
  26 TVB steps on the MPR pair); ``simulate`` is not split.  Writing the
  changes into ``i_offset`` instead, with ``simulate`` split at each one,
  cost about 13 ms more per 2.6 ms window (27 calls).
* **Offsets.**  ``i_offset`` written as one array (0.05 ms for 1000 neurons).
* **State reads.**  The population mean of ``v`` (or ``gsyn_*``) read from
  ANNarchy at the window's end.

Not available (ANNarchy would need its own per-step input mechanism):
``spike_trains`` (use ``RateToPoisson``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import ConfigurationError, bad_value
from ..base import GlobalStateGuard, WindowLoop
from ._cells import INJECTED
from ._projections import RECEPTORS
from ._simulator import annarchy, state

_GUARD = GlobalStateGuard("ANNarchy's network (in pynn_multiscale's adapter)", "ANNarchy")
#: The fraction of a Poisson input's variance a rate proxy may lose before it warns.
SUB_POISSON_LOSS = 0.05
#: The target name of the drive (a rate-coded ``TimedArray``) into the Poisson sources.
DRIVE = "drive"


@dataclass
class RateSource:
    """The drives of a population's Poisson sources (one per neuron, and one shared)."""

    independent: Any  # the drive of the sources one to one, a TimedArray of one value
    size: int
    shared_fraction: float = 0.0
    k: int = 1  # sources per neuron (and shared sources), each at 1/k of the rate
    label: str = ""  # the target population's, for the warning
    warned: bool = False  # the sub-Poisson warning was given
    shared: Any = None
    last: float = 0.0  # the previous window's last rate, which drives this window's first step
    pending: tuple | None = None  # a schedule set before the network was compiled


@dataclass
class SpikeCounter:
    """A population's spike recording, and how many of its chunks the loop has read."""

    population: Any
    keep: bool  # the builder records spikes too: keep them for its get_data()
    read: int = 0


@dataclass
class CurrentSource:
    """A current proxy's sources (one ``TimedArray`` per target part) and its schedule."""

    parts: list  # (TimedArray, size, cell type)
    delay: float
    changes: dict = field(default_factory=dict)  # step -> amplitude (nA) acting from that step
    value: float = 0.0  # the amplitude acting on the last step scheduled so far
    pending: tuple | None = None  # a schedule set before the network was compiled


@dataclass
class StateReader:
    """A population and the ANNarchy name of a state variable."""

    population: Any
    name: str
    cells: Any = field(default_factory=lambda: slice(None))  # a view's neurons in the population


class AnnarchyBackend(WindowLoop):
    """The ANNarchy backend (see the module docstring)."""

    name = "annarchy"
    threads_note = "the adapter compiles ANNarchy's network for one thread"
    #: The process-wide guard of the simulator's global state (CoSimulation asks it to make room).
    guard = _GUARD
    #: The adapter's Projection refuses a delay outside [min_delay, max_delay] when made.
    refuses_short_delays = True
    #: Poisson sources per target neuron of a rate proxy, each at 1/K of the rate: ANNarchy's
    #: sources fire at most once per step, so one source per neuron is sub-Poisson at kHz
    #: rates (module docstring).  Set it on the class before the co-simulation (10 keeps 99%
    #: of the variance at 3000 Hz and 0.1 ms); a rate that loses more than
    #: :data:`SUB_POISSON_LOSS` of the variance warns.
    poisson_sources_per_neuron = 1

    def __init__(self, sim):
        self.sim = sim
        self._finished = False
        self._sources = []
        self._currents = []
        self._dt = None  # the spiking step (ms), from setup

    def version(self) -> str:
        return str(annarchy().__version__)

    def setup(self, timestep, min_delay, seed, max_delay=None):
        _GUARD.check()
        # a backend may be set up again once finished (a derived max_delay that grows)
        self._finished = False
        self._sources, self._currents = [], []
        self.sim.setup(timestep=timestep, min_delay=min_delay, max_delay=max_delay,
                       rng_seed=seed)
        self._dt = float(timestep)
        _GUARD.claim(self)

    def start(self):
        state.compile()
        for handle in self._sources:  # schedules set before the network existed in C++
            if handle.pending is not None:
                self._write_schedule(handle, *handle.pending)
                handle.pending = None
        for handle in self._currents:
            if handle.pending is not None:
                self._write_current(handle, *handle.pending)
                handle.pending = None

    @property
    def compile_s(self):
        """Seconds the compile step took (a cache hit takes well under one)."""
        return state.compile_s

    def advance(self, t_stop):
        state.run_until(t_stop)

    def finish(self):
        if not self._finished:
            self._finished = True
            self.sim.end()
        _GUARD.release(self)

    # -------------------------------------------------------------- inputs
    def _source(self, size, population, synapse_weight, delay, receptor_type, kind, k=1):
        """``k`` Poisson sources per target (``size`` targets, one to one) or ``k`` shared ones.

        Returns the sources' drive: the ``TimedArray`` of one value whose ``r`` is
        every source's rate (Hz).
        """
        ann = annarchy()
        net = state.network()
        drive = net.create(ann.TimedArray(rates=np.zeros((1, 1))))
        src = net.create(ann.PoissonPopulation(size * k, target=DRIVE))
        net.connect(drive, src, DRIVE).all_to_all(weights=1.0)
        whole, cells = _whole(population)
        target = whole._ann if cells is None else whole._ann[cells.tolist()]  # ANNarchy's view
        proj = net.connect(src, target, target=RECEPTORS[receptor_type])
        weight = abs(float(synapse_weight)) * population.celltype.weight_factor(state.dt)
        if size == 1:
            proj.all_to_all(weights=weight, delays=float(delay))
        elif k == 1:
            proj.one_to_one(weights=weight, delays=float(delay))
        else:  # source i k + j -> neuron i (sparse matrices are pre x post)
            from scipy.sparse import csr_matrix

            pre = np.arange(size * k)
            proj.from_sparse(csr_matrix((np.full(pre.size, weight), (pre, pre // k)),
                                        shape=(size * k, population.size)), delays=float(delay))
        # the sources' type is in the key: a network compiled with the earlier sources
        # (one TimedPoissonPopulation) must not be loaded from the cache for these
        state.extra_code_keys.append([kind, f"PoissonPopulation(target={DRIVE})",
                                      state.populations.index(whole), size,
                                      RECEPTORS[receptor_type]]
                                     + ([] if k == 1 else [k])
                                     + ([] if cells is None else [cells.tolist()]))
        return drive

    def add_rate_source(self, population, synapse_weight, delay, receptor_type,
                        shared_fraction=0.0):
        if population.celltype.current_based and receptor_type == "inhibitory":
            synapse_weight = -abs(synapse_weight)
        k = int(self.poisson_sources_per_neuron)
        if k < 1:
            raise ConfigurationError(bad_value("AnnarchyBackend.poisson_sources_per_neuron", k,
                                               "a whole number >= 1", "set it to e.g. 10"))
        handle = RateSource(self._source(population.size, population, synapse_weight, delay,
                                         receptor_type, "poisson", k),
                            population.size, float(shared_fraction), k=k,
                            label=str(population.label))
        if shared_fraction > 0:
            handle.shared = self._source(1, population, synapse_weight,
                                         delay + state.min_delay, receptor_type, "shared", k)
        self._sources.append(handle)
        return handle

    def set_rates(self, handle, t0, dt, rates):
        if abs(dt - self._dt) > 1e-9:
            raise ConfigurationError("the ANNarchy backend needs TVB's step equal to the "
                                     "spiking step (rates change every spiking step)")
        rates = np.asarray(rates, dtype=float)
        if not rates.size:
            return
        # Value k drives the sources' step starting at t0 + (k + 1) dt: the drive takes
        # value k in its step t0 + k dt, and a step's sources read the value the drive set
        # in the step before, so the window's first step reads the previous window's last
        # value (left in the drive's r).  The schedule is in the drive's own step count,
        # which is the network's (it started with it and is never reset: a reset would
        # also drop the spikes still on their way).  All entries are used up within the
        # window, so the drive is back at its first entry for the next one.
        first = self._next_window_step("set_rates", "rates", t0)
        _warn_if_sub_poisson(handle, rates, dt)
        values, acting = rates.tolist(), handle.last
        handle.last = values[-1]
        schedule = list(range(first, first + len(values)))
        if not state.compiled:
            handle.pending = (schedule, values, acting)
            return
        self._write_schedule(handle, schedule, values, acting)

    def _next_window_step(self, method, what, t0):
        """The step of ``t0``, which must start the next window: a ``TimedArray`` holds one
        window's schedule, so a later window's values would replace the next one's and an
        earlier window's would act in the past."""
        first, now = state.steps(t0), state.steps(state.t)
        if first != now:
            raise ConfigurationError(bad_value(
                f"{method} t0", t0, f"the start of the next window ({now * self._dt:g} ms)",
                f"send each window's {what} just before running it"))
        return first

    @staticmethod
    def _write_schedule(handle, schedule, values, acting):
        f, k = handle.shared_fraction, handle.k
        for drive, scale in ((handle.independent, 1.0 - f), (handle.shared, f)):
            if drive is None:
                continue
            # each of k sources per target at 1/k of the rate
            _rewrite(drive, schedule, [[scale * v / k] for v in values], [scale * acting / k])

    def add_current_source(self, population, delay=None):
        """A ``TimedArray`` per target population, injected into its ``g_inj`` every step."""
        ann = annarchy()
        net = state.network()
        parts = []
        for whole, cells in population._parts():
            if not whole.celltype.injectable:
                raise ConfigurationError(bad_value(
                    "CurrentFromCoupling population", whole.label, "neurons (not spike "
                    "sources)", "inject into a neuron population"))
            cells = np.asarray(cells, dtype=np.int64)
            full = cells.size == whole.size and np.array_equal(cells, np.arange(whole.size))
            source = net.create(ann.TimedArray(rates=np.zeros((1, cells.size))))
            target = whole._ann if full else whole._ann[cells.tolist()]
            net.connect(ann.CurrentInjection(source, target, INJECTED)).connect_current()
            state.extra_code_keys.append(["current", state.populations.index(whole), cells.size]
                                         + ([] if full else [cells.tolist()]))
            parts.append((source, cells.size, whole.celltype))
        delay = self._dt if delay is None else float(delay)
        handle = CurrentSource(parts, delay)
        self._currents.append(handle)
        return handle

    def set_currents(self, handle, t0, dt, amplitudes):
        """Amplitudes in nA, one per TVB step: value k acts from ``t0 + (k + 1) dt + delay``.

        As NEST's ``step_current_generator`` through PyNN: TVB step k ends at
        ``t0 + (k + 1) dt``, and its value acts on the integration steps after
        that time plus the delay; after a window's last value the current is
        0 until the next window's values replace it (NEST's generator too).
        The changes are kept here; each window, those acting on the window's
        steps ``s0 + 1 .. s1`` go to the ``TimedArray`` as a schedule in its
        own step count (the network's: it is never reset), one step early,
        because a step's ``CurrentInjection`` reads the value the array set in
        the step before.  All of them are used up within the window.
        """
        amplitudes = np.asarray(amplitudes, dtype=float)
        if not amplitudes.size:
            return
        times = t0 + handle.delay + dt * np.arange(1, amplitudes.size + 2)
        steps = np.rint(times / self._dt)
        if np.abs(steps * self._dt - times).max() > 1e-6 * self._dt:
            raise ConfigurationError(bad_value(
                "set_currents times", f"steps of {dt} ms from {t0} ms with delay {handle.delay}",
                f"times on the spiking grid ({self._dt} ms)",
                "use a TVB step and a delay that are multiples of the spiking step"))
        s0 = self._next_window_step("set_currents", "currents", t0)
        s1 = state.steps(t0 + amplitudes.size * dt)
        handle.changes.update(zip(steps.astype(np.int64).tolist(), amplitudes.tolist() + [0.0]))
        acting = handle.value  # the amplitude acting on step s0 (already in the array's r)
        schedule, values = [s0], [None]
        for step in sorted(s for s in handle.changes if s <= s1):
            value = handle.changes.pop(step)
            if step <= s0 + 1:  # acts from s0 + 1 at the latest: the window's first entry
                values[0] = value
            else:
                schedule.append(step - 1)
                values.append(value)
        if values[0] is None:  # no change at s0 + 1: the amplitude acting on s0 goes on
            values[0] = acting
        handle.value = values[-1]
        if not state.compiled:
            handle.pending = (schedule, values, acting)
            return
        self._write_current(handle, schedule, values, acting)

    @staticmethod
    def _write_current(handle, schedule, values, acting):
        for source, size, celltype in handle.parts:
            scaled = celltype.to_annarchy("i_offset", np.asarray(values), state.dt).tolist()
            _rewrite(source, schedule, [[v] * size for v in scaled],
                     [float(celltype.to_annarchy("i_offset", acting, state.dt))] * size)

    def add_offset(self, population):
        return population

    def set_offset(self, handle, value):
        handle.set(i_offset=float(value))

    # ------------------------------------------------------------- outputs
    def add_spike_counter(self, population):
        # spikes the builder records itself stay for its get_data(); others are dropped once read
        handle = SpikeCounter(population, keep="spikes" in population._monitors)
        population.record("spikes")
        return handle

    def window_spikes(self, handle):
        population = handle.population
        # no _collect() here: every run (state.run_until) ends by collecting every
        # population, so the monitors hold nothing new
        times, index = population.spike_data(handle.read)
        if handle.keep:
            handle.read = len(population._spikes)
        else:
            population._spikes = []
        return times, index

    def add_state_reader(self, population, variable):
        if variable not in population.celltype.recordables:
            from ...errors import CapabilityError

            raise CapabilityError(
                f"MeanState({variable!r}) is not supported by the annarchy backend for "
                f"{type(population.celltype).__name__}: it records "
                f"{sorted(population.celltype.recordables)}. Use a conductance-based cell type "
                "for conductances.")
        whole, cells = _whole(population)
        return StateReader(whole, population.celltype.recordables[variable][0],
                           slice(None) if cells is None else cells)

    def read_state_mean(self, handle):
        return float(np.mean(np.asarray(getattr(handle.population._ann,
                                                handle.name))[handle.cells]))

    def recorded_signals(self, population) -> list:
        names = [n for n in population._signals]
        if not names:
            return []
        return list(population.get_data(names).segments[0].analogsignals)


def _rewrite(array, schedule, rows, acting):
    """Give a ``TimedArray`` a window's schedule (its own steps) and rows, and ``acting`` as ``r``.

    ``set_rates`` also sets ``r`` to the first row, but ``r`` is what the next
    step reads (the value acting now), so it is put back.
    """
    cy = array.cyInstance
    cy.set_schedule(schedule)
    cy.set_rates(rows)
    cy.r = acting


def _whole(population):
    """(the whole population, a view's neurons there or None)."""
    if getattr(population, "parent", None) is not None:
        return population.grandparent, np.asarray(
            population.index_in_grandparent(np.arange(population.size)), dtype=np.int64)
    return population, None


def make_backend(sim):
    if sim.__name__ != "pynn_multiscale.backends.annarchy":
        raise ConfigurationError(f"make_backend expects pynn_multiscale.backends.annarchy, got "
                                 f"{sim.__name__}")
    return AnnarchyBackend(sim)


def _warn_if_sub_poisson(handle, rates, dt):
    """Warn once per proxy when a source's ``r dt / K`` loses more than 5% of the variance."""
    if handle.warned:  # set_rates runs every window: nothing to compute once it has warned
        return
    p = float(np.max(rates, initial=0.0)) * dt * 1e-3 / handle.k
    if p <= SUB_POISSON_LOSS:
        return
    handle.warned = True
    needed = math.ceil(round(handle.k * p / SUB_POISSON_LOSS, 9))
    warnings.warn(
        f"The rate proxy into {handle.label!r} sends up to {p * handle.k / (dt * 1e-3):g} Hz per "
        f"neuron: ANNarchy's Poisson sources fire at most once per {dt:g} ms step, so its input "
        f"has {1 - p:.0%} of a Poisson input's variance (AnnarchyBackend."
        f"poisson_sources_per_neuron = {handle.k}).  Set AnnarchyBackend."
        f"poisson_sources_per_neuron = {needed} (or more) before the co-simulation to keep "
        f"{1 - SUB_POISSON_LOSS:.0%} of it.", RuntimeWarning, stacklevel=3)
