"""The co-simulation: one synchronisation loop for every backend.

One window of the loop (the order of the seed, tvb-multiscale's slides):

1. TVB -> spiking: the values TVB sends for the window are set as sources.
2. TVB integrates the window.
3. The spiking simulator advances the same window.
4. Spiking -> TVB: rates (and other values) of the window are written into
   the state and history of the regions the spiking networks replace.
5. TVB's coupling, non-state variables and history (steps 5 to 7 of the
   seed) follow from the corrected states (:meth:`TVBEngine.commit`).
6. TVB's monitors record the window (the seed's step 8).

Steps 1 and 2 are computed together: the coupling TVB sends to a spiking
region during the window only reads history from before the window (every
connection that touches a spiking region is at least one window long), so it
is taken from the coupling TVB evaluates while integrating, and it reaches the
spiking side before step 3, exactly as if it had been computed first.

With ``pipeline=True`` TVB's steps 2 and 5-6 run in a second process, one
window ahead of the spiking side (:mod:`pynn_multiscale.pipeline`).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time as _time
from dataclasses import asdict
from typing import Callable, Sequence

import numpy as np

from . import proxies as _proxies
from .backends import backends_with, get_backend
from .backends.base import counts_per_step, run_windows
from .proxies.to_tvb import smooth
from .errors import (CapabilityError, ConfigurationError, ConfigurationTypeError,
                     NumericalError, bad_value)
from .region import check_built_region, check_receptor_guesses, receptor_guesses
from .results import Result, connectivity_dataset, tvb_dataset
from .pipeline import PIPELINE_COUPLINGS, ForkedTVB, LocalTVB
from .tvb import TVBEngine, validate_region_indices

#: Tolerance (ms) when checking that times are whole numbers of steps.
_EPS = 1e-9

#: The default synchronisation interval without spiking regions (ms).
DEFAULT_INTERVAL_NO_SPIKING = 1.0


class RunTerminated(KeyboardInterrupt):
    """SIGTERM arrived during :meth:`CoSimulation.run`."""


@contextlib.contextmanager
def _sigterm_raises():
    """Turn SIGTERM into :class:`RunTerminated` while the loop runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise RunTerminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _chain(exc):
    """An exception and the ones it was raised from or while handling."""
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _is_delay_error(exc) -> bool:
    """A simulator's refusal of a delay below its minimum delay (NEST: BadDelay)."""
    return any(type(e).__name__ == "BadDelay" or "min_delay" in str(e) for e in _chain(exc))


def _root_message(exc) -> str:
    return str(_chain(exc)[-1]).strip()


def _describe(proxy) -> dict:
    """A proxy's kind and fields, JSON-compatible (other objects by their repr)."""
    out = {"kind": type(proxy).__name__}
    for key, value in asdict(proxy).items():
        out[key] = value if value is None or isinstance(value, (bool, int, float, str)) \
            else repr(value)
    return out


def _traits(obj) -> dict:
    """A TVB object's type and numeric or text attributes, JSON-compatible."""
    out = {"type": type(obj).__name__}
    for name in getattr(type(obj), "declarative_attrs", ()):
        value = getattr(obj, name, None)
        if isinstance(value, (np.ndarray, int, float, str, bool, np.number)) and \
                np.asarray(value).dtype.kind in "biufU":
            out[name] = np.asarray(value).tolist()
    return out


def derive_seeds(seed: int | None, n_regions: int) -> dict:
    """Derive every component's seed from the one co-simulation seed.

    ``numpy.random.SeedSequence(seed)`` spawns, in this order: TVB's noise,
    the spiking simulator's kernel, one stream per spiking region (for its
    builder's ``NumpyRNG``), and the proxies.  Each child yields one 31-bit
    integer.  ``seed=None`` returns None everywhere: each component keeps its
    own seed.

    Examples
    --------
    >>> derive_seeds(42, 2) == derive_seeds(42, 2)
    True
    >>> derive_seeds(None, 1)["tvb_noise"] is None
    True
    """
    if seed is None:
        return {"seed": None, "tvb_noise": None, "spiking_kernel": None,
                "regions": [None] * n_regions, "proxies": None}
    children = np.random.SeedSequence(int(seed)).spawn(3 + n_regions)
    values = [int(c.generate_state(1, dtype=np.uint32)[0] % (2**31 - 1)) + 1 for c in children]
    return {"seed": int(seed), "tvb_noise": values[0], "spiking_kernel": values[1],
            "regions": values[3:], "proxies": values[2]}


def longest_interval(engine: TVBEngine, coupling_mode: str = "tvb",
                     pipeline: bool = False) -> float | None:
    """The longest synchronisation interval (ms) that the loop allows, before flooring to steps.

    The shortest delay among the non-zero-weight connections that touch a
    spiking region; None without such connections.
    """
    coupled = engine.min_coupled_delay()
    pair = engine.min_proxy_pair_idelay() if coupling_mode == "spiking" else None
    if coupled is not None and pair is not None:
        # a spiking source's value goes one interval ahead and its delay shrinks by
        # the interval, which is then at most half of that delay (docs/proxies.md)
        coupled = min(coupled, pair * engine.dt / 2.0)
    if pipeline and coupled is not None:
        # TVB's window k + 1 may only read spiking values up to window k - 1
        coupled = coupled / 2.0
    return coupled


def divided_min_delay(interval: float, shortest: float, spiking_dt: float) -> float:
    """The default ``min_delay``: the interval split into as few equal parts as fit under ``shortest``.

    NEST advances in slices of ``min_delay`` and also stops at every window
    end.  With a 2.6 ms interval and a 1.5 ms delay, slices end at multiples
    of both (about 2.4 slices a window); with 1.3 ms, two equal slices, the
    same as in one long run, and the co-simulation's spikes are then those of
    the spiking network run alone on the same input.  If the interval does
    not split into equal whole steps, ``shortest`` itself.

    Examples
    --------
    >>> divided_min_delay(2.6, 1.5, 0.1), divided_min_delay(2.9, 1.5, 0.1)
    (1.3, 1.5)
    """
    window = int(round(interval / spiking_dt))
    limit = max(int(math.floor(shortest / spiking_dt + 1e-9)), 1)
    parts = -(-window // limit)  # ceil
    if window % parts == 0:
        return round(window // parts * spiking_dt, 12)
    return shortest


class CoSimulation:
    """A TVB whole-brain model with some regions replaced by PyNN networks.

    Parameters
    ----------
    tvb : tvb.simulator.simulator.Simulator
        The whole-brain simulator (configured or not).  Its connectivity is
        modified in place: the self-connections of spiking regions are set
        to zero, because the spiking network's recurrence replaces them.
    sim : module or Backend
        A PyNN simulator module, e.g. ``pyNN.nest``, or a backend instance.
    spiking_regions : sequence of int
        TVB region indices replaced by spiking networks.
    build_region : callable
        ``build_region(sim, region_index, label, rng) -> SpikingRegion``: plain
        PyNN code, called once per spiking region.
    to_spiking, to_tvb : sequence of proxies
        The interfaces (see :mod:`pynn_multiscale.proxies`).
    sync_interval : float, optional
        Synchronisation interval (ms).  Default: the shortest delay among the
        non-zero-weight connections that touch a spiking region (self
        connections excluded), floored to whole TVB steps; 1 ms without
        spiking regions.  A longer interval is an error.
    seed : int, optional
        The one seed (see :func:`derive_seeds`).  None keeps each component's
        own seed (e.g. TVB's ``noise_seed``).
    spiking_timestep : float, optional
        The spiking simulator's step (ms); it must divide TVB's dt.  Default:
        TVB's dt.
    min_delay : float, optional
        The spiking simulator's minimum delay (ms), passed to
        ``sim.setup``.  Every delay in the spiking network must be at least
        this long.  Default: the shortest proxy delay d (spiking time step
        without proxies), or, if the synchronisation interval splits into
        ceil(interval / d) equal whole steps, that part (W1: 1.3 ms, half
        the 2.6 ms interval, for d = 1.5 ms).  On NEST a longer minimum delay
        means fewer communication rounds: 1.5 ms instead of 0.1 ms made W1's
        network 1.6x faster here; one that divides the interval makes NEST
        stop only where a long run would, so the co-simulation's spikes are
        those of the network run alone on the same input.
    coupling_mode : {"tvb", "spiking"}
        ``"tvb"``: TVB computes each spiking region's delayed, weighted
        coupling and one proxy per spiking region sends it.  ``"spiking"``:
        one proxy per TVB source region sends that region's own value, and
        the connectome's weights and delays become those of the proxy's
        connections (``RateToPoisson`` only, ``Linear`` coupling with b = 0).
        A region TVB integrates sends its window's values before the spiking
        side runs the window, with its full connectome delay.  A spiking
        region's values exist only after the window: they are sent one
        interval ahead (a time shift s equal to the interval) and their
        connection delays are shortened by s, so the default interval is at
        most half the shortest delay between two spiking regions; no
        connection delay falls below the interval (docs/proxies.md).
    max_rate : float
        A population whose mean rate over a window exceeds this (Hz) stops
        the run with :class:`~pynn_multiscale.errors.NumericalError`: a
        runaway network.  ``inf`` disables the check.
    progress : bool, optional
        Show a progress bar (it appears after 3 s).  Default: when stderr is
        a terminal.
    pipeline : bool
        Run TVB in a second process, one window ahead, while the spiking
        simulator runs the current window (:mod:`pynn_multiscale.pipeline`).
        With two cores, TVB's time is hidden.  The results are the sequential
        loop's at the same interval.  It needs an interval of at most half
        the shortest delay touching a spiking region (the default interval
        is halved), ``coupling_mode="tvb"``, a TVB model with a
        ``spiking_update`` method for the ``to_tvb`` variables, and a
        coupling that reads only the source regions.

    Examples
    --------
    See README.md and ``examples/red_wong_wang.py``.
    """

    def __init__(self, tvb, sim, spiking_regions: Sequence[int] = (),
                 build_region: Callable | None = None, to_spiking=(), to_tvb=(),
                 sync_interval: float | None = None, seed: int | None = None,
                 spiking_timestep: float | None = None, min_delay: float | None = None,
                 max_rate: float = 500.0, coupling_mode: str = "tvb",
                 progress: bool | None = None, pipeline: bool = False):
        from tvb.simulator.simulator import Simulator

        # ---------------------------------------------------- validate inputs
        backend = get_backend(sim)
        if not isinstance(tvb, Simulator):
            raise ConfigurationTypeError(bad_value(
                "tvb", type(tvb).__name__, "a tvb.simulator.simulator.Simulator",
                "build one with tvb.simulator.simulator.Simulator(...) or "
                "pynn_multiscale.models.red_wong_wang.tvb_simulator()"))
        regions = validate_region_indices(spiking_regions, tvb.connectivity.weights.shape[0])
        to_spiking = self._check_proxy_list("to_spiking", to_spiking, (
            _proxies.RateToPoisson, _proxies.ElephantTrains, _proxies.CurrentFromCoupling,
            _proxies.OffsetFromCoupling))
        to_tvb = self._check_proxy_list("to_tvb", to_tvb, (
            _proxies.SpikeRate, _proxies.InstantaneousRate, _proxies.MeanState, _proxies.Replay))
        for name, plist in (("to_spiking", to_spiking), ("to_tvb", to_tvb)):
            for p in plist:
                if p.capability not in backend.capabilities:
                    raise CapabilityError(
                        f"{name}: {type(p).__name__} is not supported by the {backend.name} "
                        f"backend (it lacks '{p.capability}'). Fix: use a backend with it "
                        f"({', '.join(backends_with(p.capability)) or 'none yet'}) or another "
                        "proxy kind.")
        if regions and backend.sim is not None and not callable(build_region):
            raise ConfigurationTypeError(bad_value(
                "build_region", build_region, "a function (sim, region_index, label, rng) -> "
                "SpikingRegion", "pass e.g. pynn_multiscale.models.red_wong_wang.build_spiking_region"))
        if regions and not to_tvb:
            raise ConfigurationError(bad_value(
                "to_tvb", [], "at least one spiking -> TVB proxy when there are spiking regions",
                'pass e.g. to_tvb=[SpikeRate("E", "Rin_e")]'))
        model = tvb.model
        state_vars = list(model.state_variables)
        cvar_names = [state_vars[i] for i in np.asarray(model.cvar)]
        for i, p in enumerate(to_spiking):
            if p.tvb_variable not in cvar_names:
                raise ConfigurationError(bad_value(
                    f"to_spiking[{i}].tvb_variable", p.tvb_variable,
                    f"a coupling variable of {type(model).__name__}: {cvar_names}",
                    "use one of those, or a model whose cvar includes it"))
        for i, p in enumerate(to_tvb):
            if p.tvb_variable not in state_vars:
                raise ConfigurationError(bad_value(
                    f"to_tvb[{i}].tvb_variable", p.tvb_variable,
                    f"a state variable of {type(model).__name__}: {state_vars}",
                    "use one of those"))
        dt = float(tvb.integrator.dt)
        spiking_dt = dt if spiking_timestep is None else spiking_timestep
        if isinstance(spiking_dt, bool) or not isinstance(spiking_dt, (int, float)) \
                or not math.isfinite(spiking_dt) or spiking_dt <= 0:
            raise ConfigurationError(bad_value(
                "spiking_timestep", spiking_timestep, "a positive time step in ms",
                "pass e.g. 0.1, or None for TVB's dt"))
        ratio = dt / spiking_dt
        if abs(ratio - round(ratio)) > 1e-6:
            raise ConfigurationError(bad_value(
                "spiking_timestep", spiking_timestep, f"a divisor of TVB's dt ({dt} ms)",
                f"use {dt} or {dt}/k for an integer k"))
        if isinstance(max_rate, bool) or not isinstance(max_rate, (int, float)) \
                or math.isnan(max_rate) or max_rate <= 0:
            raise ConfigurationError(bad_value(
                "max_rate", max_rate, "a positive rate in Hz (inf disables the check)",
                "pass e.g. 500.0"))
        self.max_rate = float(max_rate)
        self._seeds = derive_seeds(seed, len(regions))
        if self._seeds["tvb_noise"] is not None and hasattr(tvb.integrator, "noise"):
            tvb.integrator.noise.noise_seed = self._seeds["tvb_noise"]
            tvb.integrator.noise.random_stream = np.random.RandomState(self._seeds["tvb_noise"])

        # ------------------------------------------------------- TVB engine
        engine = TVBEngine(tvb, regions)
        if coupling_mode not in ("tvb", "spiking"):
            raise ConfigurationError(bad_value("coupling_mode", coupling_mode, "'tvb' or 'spiking'",
                                               "pick one of the two"))
        if coupling_mode == "spiking":
            self._check_spiking_mode(tvb, to_spiking)
        self._check_pipeline(pipeline, tvb, to_tvb, coupling_mode, regions)
        coupled = longest_interval(engine, coupling_mode, pipeline)
        if sync_interval is None:
            if coupled is None:
                n_sync = max(1, int(round(DEFAULT_INTERVAL_NO_SPIKING / dt)))
            else:
                n_sync = int(math.floor(coupled / dt + 1e-9))
                if n_sync < 1:
                    raise ConfigurationError(bad_value(
                        "tvb.connectivity", f"shortest coupled delay {coupled:g} ms",
                        f"a delay of at least one TVB step ({dt} ms) on every connection that "
                        "touches a spiking region", "raise the conduction speed or drop the link"))
        else:
            if isinstance(sync_interval, bool) or not isinstance(sync_interval, (int, float)) \
                    or not math.isfinite(sync_interval) or sync_interval <= 0:
                raise ConfigurationError(bad_value(
                    "sync_interval", sync_interval, "a positive number of ms",
                    "pass None for the default"))
            n_sync = int(round(sync_interval / dt))
            if n_sync < 1 or abs(n_sync * dt - sync_interval) > 1e-6 * dt:
                raise ConfigurationError(bad_value(
                    "sync_interval", sync_interval, f"a whole number of TVB steps (dt = {dt} ms)",
                    f"use e.g. {max(1, n_sync) * dt:g}"))
            if coupled is not None and sync_interval > coupled + _EPS:
                raise ConfigurationError(bad_value(
                    "sync_interval", sync_interval,
                    f"at most the shortest delay coupling a spiking region"
                    f"{' (halved in spiking coupling mode)' if coupling_mode == 'spiking' else ''}"
                    f"{' (halved with pipeline=True)' if pipeline else ''}"
                    f", {coupled:g} ms "
                    "(a longer interval would need TVB values that do not exist yet)",
                    f"pass sync_interval=None (gives {math.floor(coupled / dt + 1e-9) * dt:g} ms)"))
        self.tvb, self.backend, self.engine = tvb, backend, engine
        self.spiking_regions = regions
        self.to_spiking, self.to_tvb = to_spiking, to_tvb
        self.dt, self.spiking_dt, self.n_sync = dt, float(spiking_dt), n_sync
        self.coupling_mode = coupling_mode
        self.progress = progress
        self.pipeline = bool(pipeline)
        self._tvb = LocalTVB(engine)  # ForkedTVB from the first run() with pipeline=True
        self._proxy_previous = None  # the spiking regions' committed state before a window
        self._closed = False
        self._broken = None
        self._writer = None
        self._committed_time = 0.0
        self._monitor_buffers = [([], []) for _ in tvb.monitors]
        self._spikes = {}  # (region, population) -> list of (times, indices)
        self.regions = {}

        # ---------------------------------------------------- spiking side
        self.min_delay = self._min_delay(min_delay)
        backend.setup(timestep=self.spiking_dt, min_delay=self.min_delay,
                      seed=self._seeds["spiking_kernel"], max_delay=self._max_delay())
        if self._seeds["proxies"] is not None and \
                any(isinstance(p, _proxies.ElephantTrains) for p in to_spiking):
            # Elephant's generators draw from numpy's global generator: seed it
            np.random.seed(self._seeds["proxies"])
        self._build_region_name = None if build_region is None else \
            f"{getattr(build_region, '__module__', '?')}.{getattr(build_region, '__qualname__', '?')}"
        try:
            self._build(build_region)
        except BaseException:
            backend.finish()
            self._closed = True
            raise

    @staticmethod
    def _check_pipeline(pipeline, tvb, to_tvb, coupling_mode, regions):
        if not isinstance(pipeline, (bool, np.bool_)):
            raise ConfigurationTypeError(bad_value("pipeline", pipeline, "True or False",
                                                   "pass pipeline=True or pipeline=False"))
        if not pipeline:
            return
        if not hasattr(os, "fork"):
            raise CapabilityError("pipeline=True forks the process (os.fork), which this "
                                  "platform lacks. Fix: pass pipeline=False.")
        if coupling_mode != "tvb":
            raise ConfigurationError(bad_value(
                "pipeline", True, "coupling_mode='tvb' (in spiking coupling mode the spiking "
                "side needs TVB's values of the window it runs)",
                "pass pipeline=False, or coupling_mode='tvb'"))
        model = tvb.model
        needed = {p.tvb_variable for p in to_tvb}
        if regions and not (hasattr(model, "spiking_update")
                            and needed <= set(getattr(model, "spiking_inputs", ()))):
            raise ConfigurationError(bad_value(
                "pipeline", True, f"a TVB model whose spiking_update method computes a spiking "
                f"region's whole state from {sorted(needed)} ({type(model).__name__} has none): "
                "TVB integrates a window before the previous one is committed",
                "pass pipeline=False, or use a model like red_wong_wang's "
                "ReducedWongWangExcInhRates"))
        coupling = type(tvb.coupling).__name__
        if coupling not in PIPELINE_COUPLINGS:
            raise ConfigurationError(bad_value(
                "pipeline", True, f"a coupling that reads only the source regions "
                f"({', '.join(PIPELINE_COUPLINGS)}); {coupling} reads the target's own state",
                "pass pipeline=False, or use one of those couplings"))

    @staticmethod
    def _check_spiking_mode(tvb, to_spiking):
        for i, p in enumerate(to_spiking):
            if not isinstance(p, _proxies.RateToPoisson):
                raise ConfigurationError(bad_value(
                    f"to_spiking[{i}]", type(p).__name__,
                    "RateToPoisson proxies in coupling_mode='spiking'",
                    "use coupling_mode='tvb' for this proxy kind"))
        coupling = tvb.coupling
        b = np.asarray(getattr(coupling, "b", 0.0))
        if type(coupling).__name__ != "Linear" or np.any(b != 0):
            raise ConfigurationError(bad_value(
                "coupling_mode", "spiking", "a TVB Linear coupling with b = 0 (the spiking side "
                "sums the sources itself)", "use coupling_mode='tvb' with this coupling"))

    # ---------------------------------------------------------------- build
    def _proxy_delays(self):
        """Connection delays (ms) that the to_spiking proxies will create."""
        if self.coupling_mode == "spiking":
            return list(self._source_delays()) if self.to_spiking else []
        return [self.spiking_dt if p.delay is None else p.delay for p in self.to_spiking
                if p.capability in ("poisson_rate", "spike_trains", "step_current")]

    def _max_delay(self):
        """PyNN's default max_delay is 10 ms; connectome delays can be longer."""
        return max([10.0] + [d + self.spiking_dt for d in self._proxy_delays()])

    def _min_delay(self, min_delay):
        delays = self._proxy_delays()
        if min_delay is None:
            return self._default_min_delay(min(delays)) if delays else self.spiking_dt
        if isinstance(min_delay, bool) or not isinstance(min_delay, (int, float)) \
                or not math.isfinite(min_delay) or min_delay < self.spiking_dt:
            raise ConfigurationError(bad_value(
                "min_delay", min_delay, f"a delay in ms of at least the spiking time step "
                f"({self.spiking_dt} ms)", "pass None for the shortest proxy delay"))
        if delays and min(delays) < min_delay - _EPS:
            raise ConfigurationError(bad_value(
                "min_delay", min_delay, f"at most the shortest proxy delay ({min(delays)} ms)",
                "raise the proxies' delay or lower min_delay"))
        return float(min_delay)

    def _default_min_delay(self, shortest):
        return divided_min_delay(self.n_sync * self.dt, shortest, self.spiking_dt)

    @staticmethod
    def _check_proxy_list(name, plist, kinds):
        if isinstance(plist, (str, bytes)) or not hasattr(plist, "__iter__"):
            raise ConfigurationTypeError(bad_value(name, plist, "a list of proxies",
                                                   f"pass {name}=[...]"))
        plist = list(plist)
        for i, p in enumerate(plist):
            if not isinstance(p, kinds):
                raise ConfigurationTypeError(bad_value(
                    f"{name}[{i}]", p, "one of " + ", ".join(k.__name__ for k in kinds),
                    f"use the proxies of pynn_multiscale.proxies for {name}"))
        return plist

    def _build(self, build_region):
        backend = self.backend
        labels = self.engine.region_labels
        self._rate_handles = []  # per to_spiking proxy: list of handles, one per region
        self._counters = {}  # (slot, population) -> handle
        if backend.sim is not None:
            self._build_regions(build_region, labels)
        if self.coupling_mode == "spiking":
            self._build_source_proxies()
            return self._build_counters()
        for p in self.to_spiking:
            handles = []
            for idx in self.spiking_regions:
                pop = self.regions[idx].populations[p.population] if self.regions else None
                if p.capability == "poisson_rate":
                    delay = self.spiking_dt if p.delay is None else p.delay
                    handles.append(backend.add_rate_source(pop, p.synapse_weight, delay,
                                                           p.receptor_type, p.shared_fraction))
                elif p.capability == "spike_trains":
                    delay = self.spiking_dt if p.delay is None else p.delay
                    handles.append(backend.add_train_sources(pop, p.synapse_weight, delay,
                                                             p.receptor_type))
                elif p.capability == "step_current":
                    handles.append(backend.add_current_source(
                        pop, self.spiking_dt if p.delay is None else p.delay))
                else:
                    handles.append(backend.add_offset(pop))
            self._rate_handles.append(handles)
        self._build_counters()

    def _build_counters(self):
        backend = self.backend
        self._smoothed = [np.array([self._initial_value(p, idx) for idx in self.spiking_regions])
                          for p in self.to_tvb]
        self._taps, self._count_history, self._state_readers = {}, {}, {}
        for i, p in enumerate(self.to_tvb):
            for slot, idx in enumerate(self.spiking_regions):
                if isinstance(p, _proxies.InstantaneousRate):
                    self._taps[i] = p.taps(self.dt)
                    self._count_history[(i, slot)] = np.zeros(self._taps[i].size - 1)
                elif isinstance(p, _proxies.MeanState):
                    self._state_readers[(i, slot)] = backend.add_state_reader(
                        self.regions[idx].populations[p.population], p.variable)
        if "spike_counts" in backend.capabilities:
            for slot, idx in enumerate(self.spiking_regions):
                for name, pop in self.regions[idx].populations.items():
                    self._counters[(slot, name)] = backend.add_spike_counter(pop)
                    self._spikes[(slot, name)] = []

    # ------------------------------------------------- spiking coupling mode
    def _source_pairs(self):
        """(slot, target region, source region) for every non-zero connection into a spiking region."""
        weights = self.tvb.connectivity.weights
        return [(slot, i, j) for slot, i in enumerate(self.spiking_regions)
                for j in range(weights.shape[1]) if j != i and weights[i, j] != 0]

    def _source_shift(self, j):
        """Time shift s (ms) of source region j's values in spiking coupling mode.

        A region TVB integrates has its window's values before the spiking
        side runs that window: they go out at once (s = 0).  A spiking
        region's values exist only after the window: they go one interval
        ahead (s = the interval).
        """
        return self.n_sync * self.dt if j in self.spiking_regions else 0.0

    def _source_delays(self):
        """Connection delays (ms) of the source proxies: TVB's delay, less the shift s.

        A state of TVB step m is scheduled at t_m + s and reaches its targets at
        t_m + s + delay; TVB itself lets it act on step m + 1 + idelay, which
        ends at t_m + (idelay + 1) dt; one spiking step of generator latency
        takes the rest: delay = idelay * dt - s.
        """
        idelays = self.tvb.connectivity.idelays
        return np.array([idelays[i, j] * self.dt - self._source_shift(j)
                         for _, i, j in self._source_pairs()])

    def _build_source_proxies(self):
        backend = self.backend
        a = float(np.asarray(self.tvb.coupling.a).ravel()[0])
        weights = self.tvb.connectivity.weights
        delays = self._source_delays()
        # per proxy: (entries of TVB-integrated sources, entries of spiking sources),
        # an entry being (handle, j, rate factor, shift)
        self._source_handles = []
        for p in self.to_spiking:
            entries = ([], [])
            for (slot, i, j), delay in zip(self._source_pairs(), delays):
                delay = round(delay / self.spiking_dt) * self.spiking_dt
                handle = backend.add_rate_source(self.regions[i].populations[p.population]
                                                 if self.regions else None, p.synapse_weight,
                                                 delay, p.receptor_type, p.shared_fraction)
                shift = self._source_shift(j)
                entries[shift > 0].append((handle, j, p.weight * a * float(weights[i, j]), shift))
            self._source_handles.append(entries)
        # the first interval's input from spiking sources comes from TVB's initial history
        history = self.tvb.history
        steps = np.arange(self.engine.current_step - self.n_sync + 1, self.engine.current_step + 1)
        for p, (_, spiking_sources) in zip(self.to_spiking, self._source_handles):
            slot_c = self.engine.cvar_names.index(p.tvb_variable)
            values = history.buffer[steps % history.n_time, slot_c, :, 0]
            self._send_to_sources(spiking_sources, values, -self.n_sync * self.dt)

    def _send_to_sources(self, entries, values, t0):
        """Schedule each source's rates (values: (n_steps, n_regions)), each with its shift."""
        for handle, j, factor, shift in entries:
            self.backend.set_rates(handle, t0 + shift, self.dt, factor * values[:, j])

    def _initial_value(self, proxy, idx):
        """A smoothed to_tvb value starts from the TVB state it replaces."""
        var = self.engine.state_variables.index(proxy.tvb_variable)
        return float(self.tvb.current_state[var, idx, 0])

    def _build_regions(self, build_region, labels):
        from pyNN.random import NumpyRNG

        backend = self.backend
        for slot, idx in enumerate(self.spiking_regions):
            rng = NumpyRNG(seed=self._seeds["regions"][slot])
            try:
                with receptor_guesses() as guessed:
                    built = build_region(backend.sim, idx, labels[idx], rng)
            except Exception as exc:
                if _is_delay_error(exc):
                    raise ConfigurationError(bad_value(
                        "min_delay", self.min_delay,
                        f"at most every delay that build_region creates (building region {idx} "
                        f"({labels[idx]}) failed: {_root_message(exc)})",
                        "pass min_delay=<the network's shortest synaptic delay> to "
                        "CoSimulation")) from exc
                raise
            region = check_built_region(built, idx)
            check_receptor_guesses(guessed, idx, labels[idx])
            self.regions[idx] = region
        for i, p in enumerate(self.to_spiking + self.to_tvb):
            if isinstance(p, _proxies.Replay):
                continue
            for idx, region in self.regions.items():
                if p.population not in region.populations:
                    kind = "to_spiking" if i < len(self.to_spiking) else "to_tvb"
                    j = i if i < len(self.to_spiking) else i - len(self.to_spiking)
                    raise ConfigurationError(bad_value(
                        f"{kind}[{j}].population", p.population,
                        f"a population that build_region created for region {idx} "
                        f"({labels[idx]}): {sorted(region.populations)}",
                        "use one of those names or create it in the builder"))

    # ------------------------------------------------------------------ run
    def _check_duration(self, duration):
        if isinstance(duration, bool) or not isinstance(duration, (int, float, np.floating)) \
                or not math.isfinite(duration) or duration <= 0:
            raise ConfigurationError(bad_value(
                "duration", duration, "a positive number of ms", "pass e.g. 1000.0"))
        n = int(round(duration / self.dt))
        if abs(n * self.dt - duration) > 1e-6 * self.dt or n < 1:
            raise ConfigurationError(bad_value(
                "duration", duration, f"a whole number of TVB steps (dt = {self.dt} ms)",
                f"use {max(1, n) * self.dt:g}"))
        return n

    def run(self, duration: float, out=None):
        """Advance the co-simulation by ``duration`` ms.

        Parameters
        ----------
        duration : float
            A whole number of TVB steps (ms).  The last window may be shorter
            than the synchronisation interval.  Calling ``run`` again
            continues from where the previous call stopped.
        out : str or Path, optional
            Stream the results to this directory while running: TVB output
            is appended every :attr:`flush_windows` windows and spikes are
            rewritten at most every :attr:`flush_spikes_s` seconds, so memory
            stays bounded.  If the run stops early (an exception, Ctrl-C,
            SIGTERM), everything up to the last completed window is written,
            marked incomplete with the reason, and the exception propagates.

        Returns
        -------
        Result or pathlib.Path
            All results so far; with ``out``, the directory to open with
            :meth:`Result.load` instead (loading them all would defeat the
            bounded memory).
        """
        if self._closed:
            raise ConfigurationError("run() on a closed CoSimulation. Fix: create a new one.")
        if self._broken:
            raise ConfigurationError(
                f"run() after an interrupted run ({self._broken}): the simulators may have "
                "stopped mid-window. Fix: create a new CoSimulation; the results up to the "
                "interruption are in the directory given as out.")
        n_total = self._check_duration(duration)
        writer = self._open_writer(out)
        if not getattr(self, "_started", False):
            self.backend.start()
            self._started = True
        if self.pipeline and isinstance(self._tvb, LocalTVB):
            self._tvb = ForkedTVB(self.engine)
        windows = [self.n_sync] * (n_total // self.n_sync)
        if n_total % self.n_sync:
            windows.append(n_total % self.n_sync)
        ahead = windows[1:] + [None]
        bar = self._progress_bar(len(windows))
        last_spike_flush = [_time.monotonic()]
        t_start = self.engine.time
        t_stops = t_start + self.dt * np.cumsum(windows)
        pending = []

        def between(k):
            """The spiking side has reached t_stops[k]: finish window k, begin k + 1."""
            self._end_window(pending.pop())
            if bar is not None:
                bar.update(1)
            if writer is not None and (k + 1) % self.flush_windows == 0:
                spikes_due = _time.monotonic() - last_spike_flush[0] > self.flush_spikes_s
                self._flush(writer, spikes=spikes_due)
                if spikes_due:
                    last_spike_flush[0] = _time.monotonic()
            if k + 1 < len(windows):
                pending.append(self._begin_window(windows[k + 1], ahead[k + 1]))

        try:
            with _sigterm_raises():
                pending.append(self._begin_window(windows[0], ahead[0]))
                run_windows(self.backend, t_stops, between)
                self._tvb.drain()
        except BaseException as exc:
            self._broken = f"{type(exc).__name__}: {exc}".rstrip(": ")
            with contextlib.suppress(BaseException):
                self._tvb.drain()  # keep every window committed before the stop
            if writer is not None:
                self._flush(writer, spikes=True)
                writer.mark(False, f"{self._broken} (stopped at t = {self._committed_time:g} ms)")
            raise
        finally:
            if bar is not None:
                bar.close()
        if writer is not None:
            self._flush(writer, spikes=True)
            writer.mark(True, None)
            return writer.path
        return self.result()

    #: With ``run(out=...)``: append TVB output every this many windows ...
    flush_windows = 200
    #: ... and rewrite the spike files at most every this many seconds.
    flush_spikes_s = 30.0

    def _open_writer(self, out):
        from .results import ResultIOError
        from .store import ResultWriter

        if out is None:
            if self._writer is not None:
                raise ConfigurationError(bad_value(
                    "out", None, f"the directory of the previous run() calls ({self._writer.path})",
                    "pass the same out to every run() of a co-simulation"))
            return None
        if self._writer is not None:
            if os.path.abspath(out) != os.path.abspath(self._writer.path):
                raise ConfigurationError(bad_value(
                    "out", str(out), f"the directory of the previous run() calls ({self._writer.path})",
                    "pass the same out to every run() of a co-simulation"))
            return self._writer
        if self._monitor_buffers and any(buf[0] for buf in self._monitor_buffers):
            raise ConfigurationError(bad_value(
                "out", str(out), "out from the first run() on (earlier results are in memory)",
                "pass out to the first run() call"))
        monitors = [(type(m).__name__, self._monitor_variables(m)) for m in self.tvb.monitors]
        try:
            self._writer = ResultWriter(out, monitors, self.engine.region_labels,
                                        self.tvb.model.number_of_modes, self.metadata(),
                                        connectivity=self._connectivity())
        except ResultIOError as exc:
            raise ConfigurationError(bad_value(
                "out", str(out), "a directory that can be created and written",
                "pass a writable path, e.g. under your home or the working directory")
                + f" ({exc})") from exc
        except TypeError as exc:
            raise ConfigurationTypeError(bad_value(
                "out", out, "a str or pathlib.Path", "pass the directory as a string")) from exc
        return self._writer

    def _flush(self, writer, spikes):
        """Write what the completed windows produced; keep nothing of TVB's in memory."""
        writer.metadata = self.metadata()
        writer.append_tvb(self._take_monitor_samples())
        if spikes and self.regions:
            writer.write_spiking(self._spiking_blocks())

    def _progress_bar(self, total):
        show = self.progress if self.progress is not None else os.isatty(2)
        if not show:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, unit="window", delay=3.0, desc="co-simulation")

    def _window(self, n_steps):
        """One whole window, with the spiking side advanced in between (tests, benchmarks)."""
        pending = self._begin_window(n_steps)
        self.backend.advance(pending[0] + n_steps * self.dt)
        self._end_window(pending)
        self._tvb.drain()

    def _begin_window(self, n_steps, ahead=None):
        """Steps 1-2: TVB integrates the window and the proxies schedule its input.

        ``ahead``: the next window's steps, which the pipelined loop starts
        integrating now.
        """
        engine, backend = self.engine, self.backend
        proxy_inds = engine.proxy_inds
        # 1.-2. TVB integrates; the coupling it used is what spiking regions receive.
        window = self._tvb.window(n_steps, ahead)
        t0 = (window.first_step - 1 - engine.step0) * self.dt
        self._check_tvb_states(window, t0)
        for p, handles in zip(self.to_spiking, self._rate_handles):
            if self.coupling_mode == "spiking":
                break
            c = engine.cvar_names.index(p.tvb_variable)
            values = p.weight * window.coupling[:, c, proxy_inds, 0]
            self._check_values(values, "to_spiking", p.tvb_variable, t0,
                               require_nonneg=p.capability in ("poisson_rate", "spike_trains"))
            for slot, handle in enumerate(handles):
                if p.capability == "poisson_rate":
                    backend.set_rates(handle, t0, self.dt, values[:, slot])
                elif p.capability == "spike_trains":
                    size = self.regions[self.spiking_regions[slot]].populations[p.population].size
                    backend.set_trains(handle, p.generate(values[:, slot], t0, self.dt, size),
                                       t0, self.dt)
                elif p.capability == "step_current":
                    backend.set_currents(handle, t0, self.dt, values[:, slot])
                else:
                    backend.set_offset(handle, values[:, slot].mean())
        if self.coupling_mode == "spiking":
            for p, (tvb_sources, _) in zip(self.to_spiking, self._source_handles):
                var = engine.state_variables.index(p.tvb_variable)
                self._send_to_sources(tvb_sources, window.states[:, var, :, 0], t0)
        return t0, window, n_steps

    def _end_window(self, pending):
        """Steps 4-8, once the spiking side has run the window (step 3)."""
        t0, window, n_steps = pending
        engine, backend = self.engine, self.backend
        # 4. Spiking -> TVB.
        window_spikes, new_spikes = {}, {}
        for key, handle in self._counters.items():
            times, index = backend.window_spikes(handle)
            new_spikes[key] = (times, index)
            window_spikes[key] = times
        self._check_runaway(window_spikes, t0, n_steps)
        inputs = {}
        for i, p in enumerate(self.to_tvb):
            values = np.empty((n_steps, len(self.spiking_regions)))
            for slot, idx in enumerate(self.spiking_regions):
                values[:, slot] = self._to_tvb_values(i, p, slot, idx, window, window_spikes,
                                                      t0, n_steps)
            if p.tau > 0:
                values = smooth(values, self._smoothed[i], p.tau, self.dt)
                self._smoothed[i] = values[-1].copy()
            self._check_values(values, "to_tvb", p.tvb_variable, t0)
            inputs[p.tvb_variable] = values
        proxy_states = self._proxy_states(window, inputs)

        def committed(samples):
            if self.coupling_mode == "spiking":
                for p, (_, spiking_sources) in zip(self.to_spiking, self._source_handles):
                    var = engine.state_variables.index(p.tvb_variable)
                    # finite: TVB's states and the spiking side's values were checked above
                    self._send_to_sources(spiking_sources, window.states[:, var, :, 0], t0)
            # The window is complete: keep its outputs (results written after an
            # interruption stop at the last time set here).
            for key, chunk in new_spikes.items():
                self._spikes[key].append(chunk)
            for buf, smp in zip(self._monitor_buffers, samples):
                for t, data in smp:
                    buf[0].append(t)
                    buf[1].append(data)
            self._committed_time = (window.first_step - 1 + n_steps - engine.step0) * self.dt

        # 5.-8. History, coupling, non-state variables, monitors (now, or in the
        # TVB process while the spiking side runs the next window).
        self._tvb.commit(window, proxy_states, committed)

    def _to_tvb_values(self, i, p, slot, idx, window, window_spikes, t0, n_steps):
        """One to_tvb proxy's values for one region over the window."""
        if isinstance(p, _proxies.Replay):
            return self.backend.replay(p.tvb_variable, slot, window.first_step - self.engine.step0,
                                       n_steps)
        if isinstance(p, _proxies.MeanState):
            return self.backend.read_state_mean(self._state_readers[(i, slot)])
        counts = counts_per_step(window_spikes[(slot, p.population)], t0, self.dt, n_steps)
        size = self.regions[idx].populations[p.population].size
        if isinstance(p, _proxies.SpikeRate):
            return p.rate(counts, self.dt, size)
        # InstantaneousRate: the kernel's causal convolution, carried across windows
        taps = self._taps[i]
        history = self._count_history[(i, slot)]
        extended = np.concatenate([history, counts])
        rate = np.convolve(extended, taps)[history.size:history.size + n_steps]
        self._count_history[(i, slot)] = extended[extended.size - history.size:]
        return np.clip(rate, 0.0, None) / size

    def _proxy_states(self, window, inputs):
        if not self.spiking_regions:
            return None
        model = self.tvb.model
        if self._proxy_previous is None:  # the first window: TVB's initial state
            self._proxy_previous = window.initial_state[:, self.engine.proxy_inds, :]
        if hasattr(model, "spiking_update") and set(inputs) <= set(model.spiking_inputs):
            states = model.spiking_update(self._proxy_previous, inputs, self.dt)
            self._proxy_previous = states[-1]
            return states
        states = window.states[:, :, self.engine.proxy_inds, :].copy()
        for name, values in inputs.items():
            states[:, self.engine.state_variables.index(name), :, :] = values[:, :, None]
        self._proxy_previous = states[-1]
        return states

    def _check_tvb_states(self, window, t0):
        bad = ~np.isfinite(window.states)
        if bad.any():
            step, var, region, _ = np.argwhere(bad)[0]
            label = self.engine.region_labels[region]
            raise NumericalError(
                f"TVB state {self.engine.state_variables[var]} of region {region} ({label}) is "
                f"{window.states[step, var, region, 0]} at t = {t0 + (step + 1) * self.dt:g} ms. "
                "Likely cause: the integration diverged (a too large dt, coupling G or noise, or "
                "a NaN in the initial conditions or parameters).")

    def _check_runaway(self, window_spikes, t0, n_steps):
        if not math.isfinite(self.max_rate):
            return
        span = n_steps * self.dt
        for (slot, name), times in window_spikes.items():
            idx = self.spiking_regions[slot]
            size = self.regions[idx].populations[name].size
            rate = 1000.0 * len(times) / (size * span)
            if rate > self.max_rate:
                raise NumericalError(
                    f"population {name} of region {idx} ({self.engine.region_labels[idx]}) fired "
                    f"at {rate:.1f} Hz between t = {t0:g} and {t0 + span:g} ms, above "
                    f"max_rate={self.max_rate:g} Hz. Likely cause: runaway excitation (too strong "
                    "excitatory or input weights, too weak inhibition); raise max_rate if the "
                    "rate is intended.")

    def _check_values(self, values, direction, variable, t0, require_nonneg=False):
        bad = ~np.isfinite(values)
        if require_nonneg:
            bad |= values < 0
        if bad.any():
            step, slot = np.argwhere(bad)[0]
            idx = self.spiking_regions[slot]
            raise NumericalError(
                f"{direction}: {variable} of region {idx} ({self.engine.region_labels[idx]}) is "
                f"{values[step, slot]} at t = {t0 + (step + 1) * self.dt:g} ms. Likely cause: "
                + ("the TVB model diverged (check dt, the coupling G and the noise)"
                   if direction == "to_spiking" else
                   "the spiking side produced an invalid value (check the population and its input)"))

    # -------------------------------------------------------------- results
    def result(self, complete: bool = True, reason: str | None = None) -> Result:
        """The results recorded so far, as a :class:`~pynn_multiscale.results.Result`."""
        if self._closed:
            raise ConfigurationError(
                "result() on a closed CoSimulation: its spiking regions are released. Fix: "
                "keep the Result that run() returns, or pass out= to run() and use "
                "Result.load.")
        if self._writer is not None:
            raise ConfigurationError(
                f"the results were streamed to {self._writer.path}. Fix: open them with "
                f"pynn_multiscale.Result.load({str(self._writer.path)!r}).")
        buffers = [(list(t), list(d)) for t, d in self._monitor_buffers]
        samples = self._take_monitor_samples(keep=True)
        self._monitor_buffers = buffers
        monitors = [(type(mon).__name__, times, data, self._monitor_variables(mon))
                    for mon, (times, data) in zip(self.tvb.monitors, samples)]
        dataset = tvb_dataset(monitors, self.engine.region_labels)
        return Result(dataset, self._spiking_blocks(), self.metadata(), complete=complete,
                      reason=reason, connectivity=self._connectivity())

    def _connectivity(self):
        conn = self.tvb.connectivity
        return connectivity_dataset(conn.weights, conn.tract_lengths, self.engine.region_labels)

    def _monitor_variables(self, monitor):
        return [self.engine.state_variables[i] for i in np.asarray(monitor.voi)]

    def _take_monitor_samples(self, keep=False):
        """Each monitor's buffered samples as (co-simulation times, data); empties the buffers."""
        engine = self.engine
        offset = engine.step0 * engine.dt
        out = []
        for mon, (times, data) in zip(self.tvb.monitors, self._monitor_buffers):
            n_var = len(self._monitor_variables(mon))
            arr = np.array(data) if data else np.empty((0, n_var, engine.n_regions,
                                                        self.tvb.model.number_of_modes))
            times = np.array(times, dtype=float)
            if offset:
                times = np.round(times - offset, 9)
            out.append((times, arr))
        if not keep:
            self._monitor_buffers = [([], []) for _ in self.tvb.monitors]
        return out

    def _spiking_blocks(self):
        return {idx: self._spiking_block(slot, idx) for slot, idx in enumerate(self.spiking_regions)
                if self.regions}

    def _spiking_block(self, slot, idx):
        import neo
        label = self.engine.region_labels[idx]
        t_stop = self._committed_time
        block = neo.Block(name=f"region {idx} ({label})", region=idx, region_label=label,
                          simulator=self.backend.name)
        segment = neo.Segment(name="co-simulation")
        block.segments.append(segment)
        # One SpikeTrain per population, with each spike's neuron index as an
        # array annotation: NIX files of one train per neuron take minutes to
        # write.  Result.spiketrains() splits a population into neurons.
        trains = []
        for name, pop in self.regions[idx].populations.items():
            chunks = self._spikes.get((slot, name))
            if chunks is None:
                continue
            times = np.concatenate([c[0] for c in chunks]) if chunks else np.empty(0)
            index = np.concatenate([c[1] for c in chunks]).astype(np.int64) if chunks \
                else np.empty(0, np.int64)
            order = np.lexsort((index, times))
            trains.append(neo.SpikeTrain(
                times[order], units="ms", t_start=0.0, t_stop=t_stop, name=name,
                array_annotations={"source_index": index[order]}, region=idx,
                region_label=label, population=name, size=int(pop.size),
                simulator=self.backend.name))
        segment.spiketrains = trains
        if "analog_signals" in self.backend.capabilities:
            for name, pop in self.regions[idx].populations.items():
                for analog in self.backend.recorded_signals(pop):
                    analog.annotate(region=idx, region_label=label, population=name,
                                    simulator=self.backend.name)
                    analog.segment = segment
                    segment.analogsignals.append(analog)
        return block

    def metadata(self) -> dict:
        """Everything needed to know how the run was made (JSON-compatible)."""
        model = self.tvb.model
        params = _traits(model)
        params.pop("type")
        return {
            "simulator": self.backend.name,
            "simulator_version": self.backend.version(),
            "seeds": self._seeds,
            "tvb_dt_ms": self.dt,
            "spiking_dt_ms": self.spiking_dt,
            "sync_interval_ms": self.n_sync * self.dt,
            "duration_ms": self._committed_time,
            "spiking_regions": list(self.spiking_regions),
            "region_labels": [self.engine.region_labels[i] for i in self.spiking_regions],
            "tvb_model": type(model).__name__,
            "tvb_model_parameters": params,
            "min_delay_ms": self.min_delay,
            "coupling_mode": self.coupling_mode,
            "max_rate_hz": self.max_rate if math.isfinite(self.max_rate) else None,
            "build_region": self._build_region_name,
            "tvb": self._tvb_description(),
            "to_spiking": [_describe(p) for p in self.to_spiking],
            "to_tvb": [_describe(p) for p in self.to_tvb],
        }

    def _tvb_description(self) -> dict:
        """Coupling, integrator and noise of the TVB simulator (JSON-compatible)."""
        tvb = self.tvb

        description = {"n_regions": self.engine.n_regions, "coupling": _traits(tvb.coupling),
                       "integrator": _traits(tvb.integrator),
                       "monitors": [_traits(m) for m in tvb.monitors]}
        if hasattr(tvb.integrator, "noise"):
            description["noise"] = _traits(tvb.integrator.noise)
        return description

    # ------------------------------------------------------------ lifecycle
    def close(self):
        """End the spiking simulator.  The object cannot run afterwards.

        It also lets go of the spiking regions (populations, projections,
        proxy handles).  On NEURON every cell that still exists is
        integrated by the next run in the process, so a closed co-simulation
        must not keep its cells alive.
        """
        if not self._closed:
            self._closed = True
            self._tvb.close()
            self.backend.finish()
            self.regions = {}
            self._counters, self._rate_handles, self._source_handles = {}, [], []
            self._state_readers = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
