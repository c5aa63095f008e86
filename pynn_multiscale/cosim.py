"""The co-simulation: one synchronisation loop for every backend.

One window of the loop (the order of the seed, tvb-multiscale's slides):

1. TVB -> spiking: each ``to_spiking`` binding sends the window's TVB values.
2. TVB integrates the window.
3. The spiking simulator advances the same window.
4. Spiking -> TVB: each ``to_tvb`` binding turns the window's spikes (or
   states) into values, written into the state and history of the regions
   the spiking networks replace.
5. TVB's coupling, non-state variables and history (steps 5 to 7 of the
   seed) follow from the corrected states (:meth:`TVBEngine.commit`).
6. TVB's monitors record the window (the seed's step 8), and the window's
   outputs enter the :class:`~pynn_multiscale.recording.Recording`.

Steps 1 and 2 are computed together: the coupling TVB sends to a spiking
region during the window only reads history from before the window (every
connection that touches a spiking region is at least one window long), so it
is taken from the coupling TVB evaluates while integrating, and it reaches the
spiking side before step 3, exactly as if it had been computed first.

The loop knows no proxy kind: each proxy binds itself once
(:mod:`pynn_multiscale.proxies.binding`), and everything derivable is
computed before any simulator starts (:mod:`pynn_multiscale.plan`).  With
the pipelined loop (the default where exact and where cores are free) TVB's
steps 2 and 5-6 run in a second process, one window ahead of the spiking side
(:mod:`pynn_multiscale.pipeline`).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import math
import os
import re
import signal
import threading
import time as _time
import warnings
from dataclasses import fields
from typing import Callable, Sequence

import numpy as np

from .backends import capabilities_of, get_backend
from .errors import (CapabilityError, ConfigurationError, ConfigurationTypeError, NumericalError,
                     SequentialLoopNote, bad_value)
from .links import check_link_populations, connect, resolve_links, unlink_in_tvb
from .pipeline import ForkedTVB, LocalTVB
from .plan import (check_capabilities, check_proxy_list,
                   check_spiking_timestep, check_variables, derive_seeds, divided_min_delay,
                   grown_max_delay, longest_interval, make_plan)
from .proxies.binding import UNSEEDED, BindContext, NumpyGlobalStream, ToSpikingProxy, ToTVBProxy
from .recording import Recording
from .region import (DelayAboveMaxDelay, cell_pieces, check_built_region, check_cell_types,
                     check_delays, check_receptor_guesses, check_signal_intervals, delay_error,
                     max_delay_error, piece_lookup, projections_made, spikes_of)
from .tvb import TVBEngine, validate_region_indices

__all__ = ["CoSimulation", "RunTerminated", "derive_seeds", "divided_min_delay",
           "longest_interval"]


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


#: NEST's BadDelay: "Delay value 40 is invalid: Delay must be smaller than or equal to max_delay."
_NEST_DELAY_VALUE = re.compile(r"Delay value ([-+0-9.eEinfa]+) is invalid")


def _refused_delay(exc):
    """The delay bound a simulator refused while a builder ran, or None.

    ``("max_delay" or "min_delay", the refused delay in ms or None)``.  NEST
    raises ``BadDelay`` (which PyNN wraps) naming the bound; its text for a
    delay above ``max_delay`` also says "You may set min_delay", so the upper
    bound is looked for first.  The ANNarchy adapter's error carries
    ``delay_bound`` and ``delay_value``.
    """
    chain = _chain(exc)
    for e in chain:
        if getattr(e, "delay_bound", None) in ("min_delay", "max_delay"):
            return e.delay_bound, getattr(e, "delay_value", None)
    bound = "max_delay" if any("equal to max_delay" in str(e) for e in chain) else \
        "min_delay" if any(type(e).__name__ == "BadDelay" or "min_delay" in str(e)
                           for e in chain) else None
    if bound is None:
        return None
    for e in chain:
        match = _NEST_DELAY_VALUE.search(str(e))
        if match:
            with contextlib.suppress(ValueError):
                return bound, float(match.group(1).rstrip("."))
    return bound, None


#: At most this many builds while a derived ``max_delay`` grows (10 ms doubled 11 times: 20 s).
_MAX_BUILDS = 12


def _describe(proxy) -> dict:
    """A proxy's kind and fields, JSON-compatible (transforms as data, other objects by repr)."""
    out = {"kind": type(proxy).__name__}
    for f in fields(proxy):
        value = getattr(proxy, f.name)
        if value is None or isinstance(value, (bool, int, float, str)):
            out[f.name] = value
        else:
            out[f.name] = value.describe() if hasattr(value, "describe") else repr(value)
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


def _tvb_description(tvb, n_regions) -> dict:
    """Coupling, integrator and noise of the TVB simulator (JSON-compatible)."""
    description = {"n_regions": n_regions, "coupling": _traits(tvb.coupling),
                   "integrator": _traits(tvb.integrator),
                   "monitors": [_traits(m) for m in tvb.monitors]}
    if hasattr(tvb.integrator, "noise"):
        description["noise"] = _traits(tvb.integrator.noise)
    if tvb.stimulus is not None:
        description["stimulus"] = {
            "type": type(tvb.stimulus).__name__, "temporal": _traits(tvb.stimulus.temporal),
            "temporal_parameters": {k: float(v) for k, v in tvb.stimulus.temporal.parameters.items()
                                    if isinstance(v, (int, float, np.number))},
            "weight": np.asarray(tvb.stimulus.weight, dtype=float).tolist()}
    return description


def _check_inputs(tvb, backend, regions, build_region, to_spiking, to_tvb):
    """The arguments of CoSimulation that need no TVB engine (raises on the first bad one)."""
    from tvb.simulator.simulator import Simulator

    if not isinstance(tvb, Simulator):
        raise ConfigurationTypeError(bad_value(
            "tvb", type(tvb).__name__, "a tvb.simulator.simulator.Simulator",
            "build one with tvb.simulator.simulator.Simulator(...) or "
            "pynn_multiscale.models.red_wong_wang.tvb_simulator()"))
    regions = validate_region_indices(regions, tvb.connectivity.weights.shape[0])
    to_spiking = check_proxy_list("to_spiking", to_spiking, ToSpikingProxy)
    to_tvb = check_proxy_list("to_tvb", to_tvb, ToTVBProxy)
    check_capabilities(backend.name, capabilities_of(backend), to_spiking, to_tvb)
    if regions and backend.sim is not None and not callable(build_region):
        raise ConfigurationTypeError(bad_value(
            "build_region", build_region, "a function (sim, region_index, label, rng) -> "
            "SpikingRegion", "pass e.g. pynn_multiscale.models.red_wong_wang.build_spiking_region"))
    if regions and not to_tvb:
        raise ConfigurationError(bad_value(
            "to_tvb", [], "at least one spiking -> TVB proxy when there are spiking regions",
            'pass e.g. to_tvb=[SpikeRate("E", "Rin_e")]'))
    check_variables(tvb.model, to_spiking, to_tvb)
    return regions, to_spiking, to_tvb


def _seed_tvb_noise(tvb, seeds) -> None:
    """TVB's noise takes the co-simulation's seed (before TVB configures: it draws the history)."""
    if seeds["tvb_noise"] is not None and hasattr(tvb.integrator, "noise"):
        tvb.integrator.noise.noise_seed = seeds["tvb_noise"]
        tvb.integrator.noise.random_stream = np.random.RandomState(seeds["tvb_noise"])


def build_regions(backend, build_region, plan, labels, max_delay=None) -> dict:
    """Call the user's builder once per spiking region, each with its own ``NumpyRNG``.

    What the builder made is checked right after: the receptor type and the
    delays of every projection.  ``max_delay``: the one the simulator was set
    up with (default ``plan.max_delay``); a delay above it is an error naming
    ``max_delay`` if the user gave it, else :class:`DelayAboveMaxDelay`, on
    which :class:`CoSimulation` sets the simulator up again with a larger one.
    """
    from pyNN.random import NumpyRNG

    max_delay = plan.max_delay if max_delay is None else max_delay
    regions = {}
    for slot, idx in enumerate(plan.spiking_regions):
        rng = NumpyRNG(seed=plan.seeds["regions"][slot])
        try:
            with projections_made(backend.sim) as (made, guessed):
                built = build_region(backend.sim, idx, labels[idx], rng)
        except AttributeError as exc:
            if getattr(exc, "obj", None) is backend.sim:  # e.g. native_cell_type off NEST
                raise CapabilityError(
                    f"build_region for region {idx} ({labels[idx]}) uses sim.{exc.name}, which "
                    f"{backend.sim.__name__} does not have: that part of PyNN is not available "
                    f"on the {backend.name} backend (docs/backends.md lists what each backend "
                    "runs). Fix: run this builder on a backend that has it, or write the region "
                    "with PyNN's standard models.") from exc
            raise
        except Exception as exc:
            refused = _refused_delay(exc)
            if refused is None:
                raise
            name = next((getattr(e, "projection_name", None) for e in _chain(exc)
                         if getattr(e, "projection_name", None)), "?")
            bound, delay = refused
            if bound == "max_delay" and not plan.max_delay_given:
                raise DelayAboveMaxDelay(delay, name, idx, labels[idx]) from exc
            if bound == "max_delay":
                raise max_delay_error(name, delay if delay is not None else
                                      str(_chain(exc)[-1]).strip(), idx, labels[idx],
                                      max_delay) from exc
            raise delay_error(name, str(_chain(exc)[-1]).strip(),
                              idx, labels[idx], plan.min_delay, plan.spiking_dt) from exc
        regions[idx] = check_built_region(built, idx)
        check_cell_types(backend, regions[idx], made, idx, labels[idx])
        check_signal_intervals(regions[idx], idx, labels[idx])
        check_receptor_guesses(guessed, idx, labels[idx])
        if not getattr(backend, "refuses_short_delays", False):  # else refused when made
            check_delays(made, idx, labels[idx], plan.min_delay, plan.spiking_dt,
                         getattr(backend, "projection_delays", None),
                         max_delay=max_delay if plan.max_delay_given else None)
    _check_populations(plan, regions, labels)
    return regions


def _check_populations(plan, regions, labels) -> None:
    """Every proxy's population exists in every region."""
    for kind, plist in (("to_spiking", plan.to_spiking), ("to_tvb", plan.to_tvb)):
        for j, p in enumerate(plist):
            if not p.needs_population:
                continue
            for idx, region in regions.items():
                if p.population not in region.populations:
                    raise ConfigurationError(bad_value(
                        f"{kind}[{j}].population", p.population,
                        f"a population that build_region created for region {idx} "
                        f"({labels[idx]}): {sorted(region.populations)}",
                        "use one of those names or create it in the builder"))


def _check_duration(duration, dt) -> int:
    if isinstance(duration, bool) or not isinstance(duration, (int, float, np.floating)) \
            or not math.isfinite(duration) or duration <= 0:
        raise ConfigurationError(bad_value(
            "duration", duration, "a positive number of ms", "pass e.g. 1000.0"))
    n = int(round(duration / dt))
    if abs(n * dt - duration) > 1e-6 * dt or n < 1:
        raise ConfigurationError(bad_value(
            "duration", duration, f"a whole number of TVB steps (dt = {dt} ms)",
            f"use {max(1, n) * dt:g}"))
    return n


def _check_tvb_states(engine, window, t0, dt) -> None:
    bad = ~np.isfinite(window.states)
    if bad.any():
        step, var, region, _ = np.argwhere(bad)[0]
        raise NumericalError(
            f"TVB state {engine.state_variables[var]} of region {region} "
            f"({engine.region_labels[region]}) is {window.states[step, var, region, 0]} at "
            f"t = {t0 + (step + 1) * dt:g} ms. Likely cause: the integration diverged (a too "
            "large dt, coupling G or noise, or a NaN in the initial conditions or parameters).")


def _setup_extras(plan) -> dict:
    """What ``backend.setup`` takes beyond its four settings (backends without threads or
    options need not accept the keywords)."""
    extras = {}
    if plan.threads != 1:
        extras["threads"] = plan.threads
    if plan.setup_options:
        extras["options"] = dict(plan.setup_options)
    return extras


class _RateSpan:
    """The spike counts of every population over the last windows that cover ``span`` steps.

    One count vector per window is kept while the windows after it still
    cover the span, with their running sum: per window, O(populations)
    amortised, whatever the span.  Counts and steps are integers, so the sum
    stays exact over any number of windows and ``run`` calls.
    """

    def __init__(self, keys, sizes, span_steps):
        self.keys, self.sizes, self.span = list(keys), np.asarray(sizes, dtype=float), span_steps
        self.windows = collections.deque()  # (first step, steps, counts)
        self.counts = np.zeros(len(self.keys), dtype=np.int64)
        self.steps = 0

    def add(self, first, steps, counts) -> bool:
        """Add a window; True once the windows kept cover the span."""
        self.windows.append((first, steps, counts))
        self.counts += counts
        self.steps += steps
        while self.steps - self.windows[0][1] >= self.span:
            _, old_steps, old_counts = self.windows.popleft()
            self.counts -= old_counts
            self.steps -= old_steps
        return self.steps >= self.span


def _check_runaway(cosim, window_spikes, t0, n_steps) -> None:
    """A population above ``max_rate`` on average over the last ``max_rate_span`` ms stops the run.

    Checked from the window at which the co-simulation has run the span; each
    window's spikes are added to the population's last span of windows (a
    window is kept while those after it do not cover the span, so the span
    averaged over is the shortest run of whole windows that covers it).
    """
    plan = cosim.plan
    if not math.isfinite(plan.max_rate) or not window_spikes:
        return
    track = cosim._rate_span
    if track is None:
        keys = list(window_spikes)
        sizes = [cosim.regions[cosim.spiking_regions[slot]].populations[name].size
                 for slot, name in keys]
        track = cosim._rate_span = _RateSpan(keys, sizes,
                                             max(1, int(math.ceil(plan.max_rate_span / cosim.dt
                                                                  - 1e-9))))
    counts = np.fromiter((len(window_spikes[key]) for key in track.keys), dtype=np.int64,
                         count=len(track.keys))
    if not track.add(int(round(t0 / cosim.dt)), n_steps, counts):
        return
    rates = 1000.0 * track.counts / (track.sizes * track.steps * cosim.dt)
    worst = int(np.argmax(rates))
    if rates[worst] > plan.max_rate:
        slot, name = track.keys[worst]
        idx = cosim.spiking_regions[slot]
        start = track.windows[0][0] * cosim.dt
        end = t0 + n_steps * cosim.dt
        raise NumericalError(
            f"population {name} of region {idx} ({cosim.engine.region_labels[idx]}) fired "
            f"at {rates[worst]:.1f} Hz on average between t = {start:g} and {end:g} ms (the "
            f"last {end - start:g} ms; max_rate_span={plan.max_rate_span:g} ms), above "
            f"max_rate={plan.max_rate:g} Hz. Likely cause: runaway excitation (too "
            "strong excitatory or input weights, too weak inhibition), or a cell model the "
            "simulator integrates unstably at this time step (docs/backends.md, upstream "
            "defects); raise max_rate if the rate is intended.")


def _progress_bar(progress, total):
    if not (progress if progress is not None else os.isatty(2)):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="window", delay=3.0, desc="co-simulation")


class _Run:
    """One call of :meth:`CoSimulation.run`: its windows, progress and flushes.

    ``between(k)`` is what the spiking side calls once it has reached the
    end of window k: it finishes window k and begins window k + 1.
    """

    def __init__(self, cosim, n_total, writer):
        self.cosim, self.writer = cosim, writer
        n_sync = cosim.n_sync
        self.windows = [n_sync] * (n_total // n_sync) + ([n_total % n_sync] if n_total % n_sync
                                                         else [])
        self.t_stops = cosim.engine.time + cosim.dt * np.cumsum(self.windows)
        self.bar = _progress_bar(cosim.progress, len(self.windows))
        self.last_spike_flush = _time.monotonic()
        self.pending = None

    def ahead(self, k):
        return self.windows[k + 1] if k + 1 < len(self.windows) else None

    def go(self):
        self.pending = self.cosim._begin_window(self.windows[0], self.ahead(0))
        self.cosim.backend.run_windows(self.t_stops, self.between)

    def between(self, k):
        cosim = self.cosim
        # the pipelined loop asks for window k + 2 with window k's commit (one message)
        cosim._end_window(self.pending, then=self.ahead(k + 1))
        if self.bar is not None:
            self.bar.update(1)
        if self.writer is not None and (k + 1) % cosim.flush_windows == 0:
            spikes_due = _time.monotonic() - self.last_spike_flush > cosim.flush_spikes_s
            cosim.recording.flush(cosim.metadata(), cosim.regions, cosim.spiking_regions,
                                  spikes=spikes_due)
            if spikes_due:
                self.last_spike_flush = _time.monotonic()
        if k + 1 < len(self.windows):
            self.pending = cosim._begin_window(self.windows[k + 1])


class CoSimulation:
    """A TVB whole-brain model with some regions replaced by PyNN networks.

    Parameters
    ----------
    tvb : tvb.simulator.simulator.Simulator
        The whole-brain simulator, configured or not: a configured one keeps
        its initial history, state and step count (it is not configured
        again).  Its connectivity is modified in place: the self-connections
        of spiking regions are set to zero, because the spiking network's
        recurrence replaces them.  A region stimulus (``tvb.stimulus``) is
        applied as TVB does; it may not weight a spiking region.
    sim : module or Backend
        A PyNN simulator module, e.g. ``pyNN.nest``, or a backend instance.
    spiking_regions : sequence of int
        TVB region indices replaced by spiking networks.
    build_region : callable
        ``build_region(sim, region_index, label, rng) -> SpikingRegion``: plain
        PyNN code, called once per spiking region, or again for every region
        after the simulator is set up anew: with a derived ``max_delay``
        (below), a builder that makes a delay the simulator refuses as longer
        than ``max_delay`` (NEST, the ANNarchy adapter) is run again, from the
        same seeds, once the simulator is set up with a larger one.  So a
        builder should not count on being called only once.
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
    max_delay : float, optional
        The spiking simulator's maximum delay (ms), passed to ``sim.setup``.
        None (default): derived.  It starts at PyNN's 10 ms, or more to cover
        the proxies' and links' delays; if a builder makes a longer delay that
        the simulator refuses (NEST, the ANNarchy adapter), the simulator is
        set up again with twice the value, or the refused delay plus a step
        if that is more, and the builders are run again.  It is not set huge
        from the start because NEST's buffers grow with it (each neuron keeps
        ``max_delay`` of future input per receptor).  PyNN's Brian2 and
        NEURON backends deliver longer delays whatever ``max_delay`` says.
        Given: every delay must be at most this long (checked on every
        backend; the error names ``max_delay``).  The value used is
        :attr:`max_delay` and ``metadata()["max_delay_ms"]``.
    max_rate : float
        A population whose mean rate over the last ``max_rate_span`` ms
        exceeds this (Hz) stops the run with
        :class:`~pynn_multiscale.errors.NumericalError`: a runaway network.
        ``inf`` disables the check.
    max_rate_span : float
        The span (ms) of that mean, 50 ms by default: longer than a
        synchronous burst (a few ms, e.g. 555 Hz over one 3.6 ms window in
        tvb-multiscale's Wilson-Cowan example, normal for the model) and
        than one cycle of any oscillation above 20 Hz, so neither stops a
        run; short enough that a runaway is stopped after 50 ms of simulated
        time.  A population is checked once the co-simulation has run the
        span (across ``run`` calls), over the shortest run of whole windows
        that covers it.
    progress : bool, optional
        Show a progress bar (it appears after 3 s).  Default: when stderr is
        a terminal.
    pipeline : bool or None
        Run TVB in a second process, one window ahead, while the spiking
        simulator runs the current window (:mod:`pynn_multiscale.pipeline`).
        With two cores, TVB's time is hidden.  The results are the sequential
        loop's at the same interval.  It needs an interval of at most half
        the shortest delay touching a spiking region (the default interval
        is halved), ``coupling_mode="tvb"``, a TVB model with a
        ``spiking_update`` method for the ``to_tvb`` variables, and a
        coupling that reads only the source regions.  ``None`` (the
        default): wherever the set-up allows it, the interval is halved and
        the loop is pipelined if ``threads + 1`` cores are free
        (:func:`~pynn_multiscale.plan.free_cores`), sequential otherwise,
        with the same results either way; where it does not, the loop is
        sequential at the full interval.  Choosing the sequential loop gives
        a one-line :class:`~pynn_multiscale.errors.SequentialLoopNote` saying
        why.  ``True`` refuses a set-up that does not allow it; ``False``
        runs the sequential loop at the full interval (the earlier
        default).
    links : sequence of RegionLink, optional
        Wire populations of different spiking regions to each other in the
        spiking simulator, weighted from the connectome and delayed by its
        tract delays; TVB then does not couple those pairs
        (:mod:`pynn_multiscale.links`).
    threads : int, optional
        Threads of the spiking simulator (default 1).  NEST runs the network
        on that many threads (``local_num_threads``); results are
        reproducible for a given seed and thread count.  Brian2, NEURON and
        ANNarchy run one thread here: more is a :class:`CapabilityError`
        (docs/backends.md).
    setup_options : dict, optional
        The simulator's own ``sim.setup`` options, passed through, e.g.
        ``{"spike_precision": "on_grid"}`` on NEST.  The ones the
        co-simulation sets itself (time step, delays, seeds, threads) are
        refused, naming the parameter that sets them; the backend lists the
        others it accepts (``backend.setup_options``).
    replace : bool
        NEST, Brian2, NEURON and the ANNarchy adapter keep their network in
        global state, so one process holds at most one open co-simulation
        per simulator.  An earlier one that nothing refers to any more is
        closed when this one is created, with a
        :class:`~pynn_multiscale.errors.StaleCoSimulationWarning`; one that
        is still referenced makes this one fail with
        :class:`~pynn_multiscale.errors.KernelInUseError`, unless
        ``replace=True``: then the earlier one is closed (with the same
        warning) and refuses ``run()`` from then on.  In a notebook, a cell
        ``cosim = CoSimulation(..., replace=True)`` can be run again: while
        the new object is built, the name ``cosim`` still refers to the old
        one, so only ``replace`` can tell that it is to go.  ``with
        CoSimulation(...)`` or :meth:`close` release the simulator without
        either.

    Examples
    --------
    See README.md and ``examples/red_wong_wang.py``.
    """

    #: With ``run(out=...)``: turn the journal's windows into a part file every this many
    #: windows (memory holds no more TVB output than that) ...
    flush_windows = 200
    #: ... and rewrite the NIX spike files at most every this many seconds.
    flush_spikes_s = 30.0

    def __init__(self, tvb, sim, spiking_regions: Sequence[int] = (),
                 build_region: Callable | None = None, to_spiking=(), to_tvb=(),
                 sync_interval: float | None = None, seed: int | None = None,
                 spiking_timestep: float | None = None, min_delay: float | None = None,
                 max_rate: float = 500.0, coupling_mode: str = "tvb",
                 progress: bool | None = None, pipeline: bool | None = None, links=None,
                 replace: bool = False, max_delay: float | None = None,
                 max_rate_span: float = 50.0, threads: int = 1, setup_options=None):
        backend = get_backend(sim)
        if not isinstance(replace, (bool, np.bool_)):
            raise ConfigurationTypeError(bad_value("replace", replace, "True or False",
                                                   "pass replace=True or replace=False"))
        regions, to_spiking, to_tvb = _check_inputs(tvb, backend, spiking_regions, build_region,
                                                     to_spiking, to_tvb)
        if links and backend.sim is None:
            raise ConfigurationError(bad_value(
                "links", links, f"no links: the {backend.name} backend runs no spiking network",
                "pass links=None"))
        #: One :class:`~pynn_multiscale.links.Wire` per linked pair of spiking regions.
        self.wires = resolve_links(links, tvb.connectivity, regions,
                                   check_spiking_timestep(tvb.integrator.dt, spiking_timestep))
        self.links = list(links or [])
        unlink_in_tvb(tvb.connectivity, self.wires)  # before TVB configures its history
        seeds = derive_seeds(seed, len(regions))
        _seed_tvb_noise(tvb, seeds)
        engine = TVBEngine(tvb, regions)
        #: The checked, derived configuration (:class:`~pynn_multiscale.plan.Plan`).
        self.plan = plan = make_plan(
            engine, to_spiking, to_tvb, seeds, sync_interval=sync_interval,
            spiking_timestep=spiking_timestep, min_delay=min_delay, max_delay=max_delay,
            max_rate=max_rate, max_rate_span=max_rate_span,
            coupling_mode=coupling_mode, pipeline=pipeline,
            link_delays=[w.delay for w in self.wires], backend=backend, threads=threads,
            setup_options=setup_options)
        if plan.loop_note is not None:
            warnings.warn(SequentialLoopNote(
                f"the sequential loop runs: {plan.loop_note} (pass pipeline=False to choose "
                f"it and hide this note)"), stacklevel=2)
        self.tvb, self.backend, self.engine = tvb, backend, engine
        self.spiking_regions = list(plan.spiking_regions)
        self.dt, self.spiking_dt, self.n_sync = plan.dt, plan.spiking_dt, plan.n_sync
        self.min_delay = plan.min_delay
        self.progress = progress
        self.recording = Recording(tvb, engine, backend)
        self.regions = {}  # region index -> SpikingRegion
        self.link_projections = []  # the links' projections (pynn_multiscale.links)
        self.bindings = ([], [])  # (to_spiking, to_tvb) bindings, in the proxies' order
        self._counters = {}  # id of a whole population -> the backend's spike counter
        self._names = {}  # (slot, population name) -> its pieces (region.piece_lookup)
        self._readers = {}  # id of a whole population -> the backend's analog signal reader
        self._tvb = LocalTVB(engine)  # ForkedTVB from the first run() with pipeline=True
        self._started = self._closed = False
        self._broken = None  # why a run stopped early
        self._rate_span = None  # the runaway check's last max_rate_span ms (_RateSpan)
        self._build_region_name = None if build_region is None else \
            f"{getattr(build_region, '__module__', '?')}.{getattr(build_region, '__qualname__', '?')}"
        guard = getattr(backend, "guard", None)  # one open co-simulation per global state
        if guard is not None:
            guard.make_room(replace=bool(replace))
        #: The spiking simulator's ``max_delay`` (ms): the one given, or the one derived.
        self.max_delay = plan.max_delay
        for builds in range(1, _MAX_BUILDS + 1):
            backend.setup(timestep=self.spiking_dt, min_delay=self.min_delay,
                          seed=seeds["spiking_kernel"], max_delay=self.max_delay,
                          **_setup_extras(plan))
            if guard is not None:
                guard.attach(backend, self)
            try:
                self._build(build_region)
                break
            except DelayAboveMaxDelay as exc:  # derived max_delay: set up again, larger
                backend.finish()
                if builds == _MAX_BUILDS or (exc.delay is not None
                                             and not math.isfinite(exc.delay)):
                    self._closed = True
                    raise max_delay_error(exc.projection, exc.delay, exc.region_index,
                                          exc.label, self.max_delay,
                                          f"derived, after {builds} builds") from exc
                self.max_delay = grown_max_delay(self.max_delay, exc.delay, self.spiking_dt)
            except BaseException:
                backend.finish()
                self._closed = True
                raise

    def _build(self, build_region):
        """Build the regions, bind every proxy, and count every population's spikes."""
        if self.backend.sim is not None and self.spiking_regions:
            self.regions = build_regions(self.backend, build_region, self.plan,
                                         self.engine.region_labels, self.max_delay)
            if self.wires:
                check_link_populations(self.links, self.regions, self.engine.region_labels)
                #: The links' projections, one per wire.
                self.link_projections = connect(self.backend.sim, self.links, self.wires,
                                                self.regions)
        seed = self.plan.seeds["proxies"]
        ctx = BindContext(self.backend, self.regions, self.spiking_regions, self.dt,
                          self.spiking_dt, self.n_sync, self.engine, self.tvb,
                          self.plan.coupling_mode,
                          numpy_stream=UNSEEDED if seed is None else NumpyGlobalStream(seed))
        to_spiking, to_tvb = self.bindings
        to_spiking.extend(p.bind(ctx) for p in self.plan.to_spiking)
        for binding in to_spiking:
            binding.first_interval()
        to_tvb.extend(p.bind(ctx) for p in self.plan.to_tvb)
        if hasattr(self.backend, "add_spike_counter"):
            # one counter per whole population; each name (a view, an assembly) takes its
            # cells' spikes from there (and its analog signals, where the backend reads them)
            wholes, signal_pieces = {}, {}
            for slot, idx in enumerate(self.spiking_regions):
                for name, pop in self.regions[idx].populations.items():
                    pieces = []
                    for whole, cells in cell_pieces(pop):
                        if id(whole) not in wholes:
                            wholes[id(whole)] = whole
                            self._counters[id(whole)] = self.backend.add_spike_counter(whole)
                            reader = self._add_signal_reader(whole)
                            if reader is not None:
                                self._readers[id(whole)] = reader
                        pieces.append((id(whole), cells))
                    sizes = {key: wholes[key].size for key, _ in pieces}
                    self._names[(slot, name)] = piece_lookup(pieces, sizes)
                    self.recording.count(slot, name)
                    readers = [(key, cells) for key, cells in pieces if key in self._readers]
                    if readers:
                        signal_pieces[(slot, name)] = readers
            if self._readers:
                order = {key: k for k, key in enumerate(self._readers)}
                self.recording.read_signals(
                    list(self._readers.values()),
                    {name: [(order[key], cells) for key, cells in pieces]
                     for name, pieces in signal_pieces.items()})

    def _add_signal_reader(self, whole):
        """The backend's reader of a population's recorded analog signals, if it has one."""
        add = getattr(self.backend, "add_signal_reader", None)
        return None if add is None else add(whole)

    # ------------------------------------------------------------------ run
    def run(self, duration: float, out=None):
        """Advance the co-simulation by ``duration`` ms.

        Parameters
        ----------
        duration : float
            A whole number of TVB steps (ms).  The last window may be shorter
            than the synchronisation interval.  Calling ``run`` again
            continues from where the previous call stopped.
        out : str or Path, optional
            Stream the results to this directory while running: every
            completed window is appended to a journal, every
            :attr:`flush_windows` windows become a part file, and spikes are
            rewritten as NIX at most every :attr:`flush_spikes_s` seconds, so
            memory stays bounded.  If the run stops early (an exception,
            Ctrl-C, SIGTERM), everything up to the last completed window is
            written, marked incomplete with the reason, and the exception
            propagates.  If the process is killed, :meth:`Result.load` still
            reads every window up to the last completed one
            (:mod:`pynn_multiscale.store`).

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
        n_total = _check_duration(duration, self.dt)
        writer = self.recording.open_writer(out, self.metadata, self.regions,
                                            self.spiking_regions)
        if not self._started:
            self.backend.start()
            self._started = True
        if self.plan.pipeline and isinstance(self._tvb, LocalTVB):
            self._tvb = ForkedTVB(self.engine)
        self._tvb.horizon(self.engine.current_step - self.engine.step0 + n_total)
        loop = _Run(self, n_total, writer)
        finish = functools.partial(self.recording.finish, regions=self.regions,
                                   spiking_regions=self.spiking_regions)
        if writer is not None:
            writer.begin()
        try:
            with _sigterm_raises():
                loop.go()
                self._tvb.drain()
        except BaseException as exc:
            self._broken = f"{type(exc).__name__}: {exc}".rstrip(": ")
            with contextlib.suppress(BaseException):
                self._tvb.drain()  # keep every window committed before the stop
            if writer is not None:
                finish(self.metadata(), complete=False,
                       reason=f"{self._broken} (stopped at t = "
                              f"{self.recording.committed_time:g} ms)")
            raise
        finally:
            if loop.bar is not None:
                loop.bar.close()
        if writer is None:
            return self.result()
        finish(self.metadata(), complete=True, reason=None)
        return writer.path

    def _begin_window(self, n_steps, ahead=None):
        """Steps 1-2: TVB integrates the window and the bindings send its input.

        ``ahead``: the next window's steps, which the pipelined loop starts
        integrating now (the first window's; the later ones are asked for
        with the commits, see :meth:`_end_window`).
        """
        window = self._tvb.window(n_steps, ahead)
        t0 = (window.first_step - 1 - self.engine.step0) * self.dt
        _check_tvb_states(self.engine, window, t0, self.dt)
        for binding in self.bindings[0]:
            binding.send(window, t0)
        return t0, window, n_steps

    def _end_window(self, pending, then=None):
        """Steps 4-6, once the spiking side has run the window (step 3).

        ``then``: the steps of the window after the next one, which the
        pipelined loop's TVB process integrates once it has committed this one.
        """
        t0, window, n_steps = pending
        counted = {key: self.backend.window_spikes(handle)
                   for key, handle in self._counters.items()}
        new_spikes = {key: spikes_of(lookup, counted) for key, lookup in self._names.items()}
        # analog samples: only while streaming (in memory, the backend keeps them all)
        signals = [self.backend.window_signals(handle) for handle in self._readers.values()] \
            if self.recording.writer is not None else ()
        window_spikes = {key: times for key, (times, _) in new_spikes.items()}
        _check_runaway(self, window_spikes, t0, n_steps)
        inputs = {b.proxy.tvb_variable: b.receive(window, window_spikes, t0, n_steps)
                  for b in self.bindings[1]}
        # 5.-6. The spiking regions' states, history, coupling, non-state variables,
        # monitors (now, or in the TVB process while the spiking side runs the next window).
        self._tvb.commit(window, inputs,
                         functools.partial(self._commit, window, t0, n_steps, new_spikes,
                                           signals), then)

    def _commit(self, window, t0, n_steps, new_spikes, signals, samples):
        """TVB has committed the window: send what needs its values, keep its outputs."""
        for binding in self.bindings[0]:
            binding.committed(window, t0)
        # results written after an interruption stop at the time set here
        self.recording.commit(new_spikes, samples,
                              (window.first_step - 1 + n_steps - self.engine.step0) * self.dt,
                              signals)

    # -------------------------------------------------------------- results
    def result(self, complete: bool = True, reason: str | None = None):
        """The results recorded so far, as a :class:`~pynn_multiscale.results.Result`."""
        if self._closed:
            raise ConfigurationError(
                "result() on a closed CoSimulation: its spiking regions are released. Fix: "
                "keep the Result that run() returns, or pass out= to run() and use "
                "Result.load.")
        return self.recording.result(self.metadata(), self.regions, self.spiking_regions,
                                     complete=complete, reason=reason)

    def metadata(self) -> dict:
        """Everything needed to know how the run was made (JSON-compatible)."""
        model, plan = self.tvb.model, self.plan
        params = _traits(model)
        params.pop("type")
        return {
            "simulator": self.backend.name,
            "simulator_version": self.backend.version(),
            "seeds": plan.seeds,
            "tvb_dt_ms": self.dt,
            "spiking_dt_ms": self.spiking_dt,
            "sync_interval_ms": plan.sync_interval,
            "duration_ms": self.recording.committed_time,
            "spiking_regions": list(self.spiking_regions),
            "region_labels": [self.engine.region_labels[i] for i in self.spiking_regions],
            "tvb_model": type(model).__name__,
            "tvb_model_parameters": params,
            "min_delay_ms": self.min_delay,
            "threads": plan.threads,
            "pipeline": plan.pipeline,
            "loop_note": plan.loop_note,
            "setup_options": dict(plan.setup_options),
            "max_delay_ms": self.max_delay,
            "coupling_mode": plan.coupling_mode,
            "max_rate_hz": plan.max_rate if math.isfinite(plan.max_rate) else None,
            "max_rate_span_ms": plan.max_rate_span,
            "build_region": self._build_region_name,
            "tvb": _tvb_description(self.tvb, self.engine.n_regions),
            "to_spiking": [_describe(p) for p in plan.to_spiking],
            "to_tvb": [_describe(p) for p in plan.to_tvb],
            "links": [link.describe() for link in self.links],
            "wires": [{"link": w.link, "source_region": w.source_region,
                       "target_region": w.target_region,
                       "connectome_weight": w.connectome_weight, "delay_ms": w.delay}
                      for w in self.wires],
        }

    # ------------------------------------------------------------ lifecycle
    def close(self):
        """End the spiking simulator.  The object cannot run afterwards.

        It also lets go of the spiking regions (populations, projections,
        proxy bindings).  On NEURON every cell that still exists is
        integrated by the next run in the process, so a closed co-simulation
        must not keep its cells alive.
        """
        if not self._closed:
            self._closed = True
            self._tvb.close()
            self.backend.finish()
            self.regions = {}
            self._counters, self._names, self._readers = {}, {}, {}
            self.bindings = ([], [])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
