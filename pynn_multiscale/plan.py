"""The plan of a co-simulation: everything derivable before any simulator is touched.

:func:`make_plan` checks the user's proxies and options against the TVB side
(a configured :class:`~pynn_multiscale.tvb.TVBEngine`) and the backend's
capabilities, and derives the synchronisation interval, the spiking side's
``min_delay`` and ``max_delay``, and the seeds.  It starts no simulator and
writes nothing, so it can be tested and printed on its own; the
:class:`~pynn_multiscale.CoSimulation` then acts on it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from . import proxies as _proxies
from .errors import CapabilityError, ConfigurationError, ConfigurationTypeError, bad_value
from .pipeline import PIPELINE_COUPLINGS
from .proxies.binding import kinds
from .proxies.source_regions import source_delays

#: Tolerance (ms) when checking that times are whole numbers of steps.
EPS = 1e-9

#: The default synchronisation interval without spiking regions (ms).
DEFAULT_INTERVAL_NO_SPIKING = 1.0



@dataclass(frozen=True)
class Plan:
    """What a co-simulation will do, derived and checked (see :func:`make_plan`)."""

    spiking_regions: tuple
    to_spiking: tuple
    to_tvb: tuple
    dt: float
    spiking_dt: float
    n_sync: int
    min_delay: float
    max_delay: float
    seeds: dict
    coupling_mode: str
    #: The loop: TVB one window ahead in a second process (:mod:`pynn_multiscale.pipeline`).
    pipeline: bool
    max_rate: float
    #: True when the user gave ``max_delay``; else it may grow while building (:func:`grown_max_delay`).
    max_delay_given: bool = False
    threads: int = 1
    setup_options: tuple = ()  # (name, value) pairs passed through to sim.setup
    #: The span (ms) over which a population's mean rate is compared with ``max_rate``.
    max_rate_span: float = 50.0
    #: Why ``pipeline=None`` chose the sequential loop (None when it did not).
    loop_note: str | None = None

    @property
    def sync_interval(self) -> float:
        """The synchronisation interval (ms)."""
        return self.n_sync * self.dt


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


def longest_interval(engine, coupling_mode: str = "tvb", pipeline: bool = False) -> float | None:
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


def _positive_ms(name, value, fix, what="a positive number of ms"):
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(bad_value(name, value, what, fix))
    return float(value)


def check_proxy_list(name: str, plist, base) -> tuple:
    """A list of proxies derived from ``base`` (``ToSpikingProxy`` or ``ToTVBProxy``), as a tuple."""
    if isinstance(plist, (str, bytes)) or not hasattr(plist, "__iter__"):
        raise ConfigurationTypeError(bad_value(name, plist, "a list of proxies",
                                               f"pass {name}=[...]"))
    plist = tuple(plist)
    for i, p in enumerate(plist):
        if not isinstance(p, base):
            raise ConfigurationTypeError(bad_value(
                f"{name}[{i}]", p, "one of " + ", ".join(kinds(base)),
                f"use the proxies of pynn_multiscale.proxies for {name}"))
    return plist


def check_capabilities(backend_name: str, capabilities, to_spiking, to_tvb) -> None:
    """Every proxy's capability is one the backend implements."""
    from .backends import backends_with

    for name, plist in (("to_spiking", to_spiking), ("to_tvb", to_tvb)):
        for p in plist:
            if p.capability not in capabilities:
                raise CapabilityError(
                    f"{name}: {type(p).__name__} is not supported by the {backend_name} "
                    f"backend (it lacks '{p.capability}'). Fix: use a backend with it "
                    f"({', '.join(backends_with(p.capability)) or 'none yet'}) or another "
                    "proxy kind.")


def check_variables(model, to_spiking, to_tvb) -> None:
    """to_spiking proxies read coupling variables, to_tvb proxies write state variables."""
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
                f"a state variable of {type(model).__name__}: {state_vars}", "use one of those"))


def check_spiking_timestep(dt: float, spiking_timestep) -> float:
    """The spiking simulator's step: TVB's dt by default, else a divisor of it."""
    spiking_dt = dt if spiking_timestep is None else _positive_ms(
        "spiking_timestep", spiking_timestep, "pass e.g. 0.1, or None for TVB's dt",
        "a positive time step in ms")
    ratio = dt / spiking_dt
    if abs(ratio - round(ratio)) > 1e-6:
        raise ConfigurationError(bad_value(
            "spiking_timestep", spiking_timestep, f"a divisor of TVB's dt ({dt} ms)",
            f"use {dt} or {dt}/k for an integer k"))
    return float(spiking_dt)


def check_max_rate(max_rate) -> float:
    if isinstance(max_rate, bool) or not isinstance(max_rate, (int, float)) \
            or math.isnan(max_rate) or max_rate <= 0:
        raise ConfigurationError(bad_value(
            "max_rate", max_rate, "a positive rate in Hz (inf disables the check)",
            "pass e.g. 500.0"))
    return float(max_rate)


def check_max_rate_span(max_rate_span) -> float:
    """A positive, finite span in ms (the runaway check's averaging span)."""
    if isinstance(max_rate_span, bool) or not isinstance(max_rate_span, (int, float)):
        raise ConfigurationTypeError(bad_value(
            "max_rate_span", max_rate_span, "a positive number of ms",
            "pass e.g. 50.0 (the default)"))
    return _positive_ms("max_rate_span", max_rate_span, "pass e.g. 50.0 (the default)")


#: ``sim.setup`` arguments the co-simulation sets itself, and the parameter that sets each.
CONTROLLED_SETUP = {"timestep": "spiking_timestep", "min_delay": "min_delay",
                    "max_delay": "max_delay", "rng_seed": "seed", "rng_seeds": "seed",
                    "rng_seeds_seed": "seed", "grng_seed": "seed",
                    "native_rng_baseseed": "seed", "threads": "threads",
                    "num_threads": "threads"}


def check_threads(threads, backend) -> int:
    """A thread count for the spiking simulator: 1, or more where the backend runs threads."""
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ConfigurationError(bad_value(
            "threads", threads, "a whole number of threads, at least 1",
            "pass e.g. threads=2 (NEST), or leave the default 1"))
    most = getattr(backend, "max_threads", 1)
    if threads > most:
        raise CapabilityError(
            f"threads={threads}: the {backend.name} backend runs the spiking network on "
            f"{most} thread{'s' if most != 1 else ''} ({getattr(backend, 'threads_note', '')}). "
            "Fix: pass threads=1, or run on NEST (pyNN.nest), which runs threads.")
    return int(threads)


def check_setup_options(options, backend) -> tuple:
    """The simulator's own ``setup`` options, checked against what the backend passes on."""
    if options is None:
        return ()
    if not isinstance(options, dict):
        raise ConfigurationTypeError(bad_value(
            "setup_options", options, "a dict of sim.setup keyword arguments",
            "pass e.g. setup_options={'spike_precision': 'on_grid'} on NEST"))
    accepted = getattr(backend, "setup_options", {})
    for key, value in options.items():
        if key in CONTROLLED_SETUP:
            raise ConfigurationError(bad_value(
                f"setup_options[{key!r}]", value,
                "no setting that the co-simulation makes itself",
                f"pass {CONTROLLED_SETUP[key]}= to CoSimulation instead"))
        if key not in accepted:
            known = ", ".join(f"{k} ({v})" for k, v in accepted.items()) or "none"
            raise ConfigurationError(bad_value(
                f"setup_options[{key!r}]", value,
                f"an option the {backend.name} backend passes to sim.setup: {known}",
                "remove it, or use one of those"))
    return tuple(sorted(options.items()))


#: Where a derived ``max_delay`` starts: PyNN's default (connectome delays can be longer).
DEFAULT_MAX_DELAY = 10.0


def check_max_delay(max_delay, min_delay, delays, spiking_dt) -> float:
    """The user's ``max_delay``, checked, or where a derived one starts.

    Derived (None): PyNN's 10 ms, or more to cover the proxies' and links'
    delays (each plus one spiking step) and ``min_delay``; building may raise
    it further (:func:`grown_max_delay`).  Given: a number of ms, at least
    ``min_delay`` and every proxy or link delay.

    Examples
    --------
    >>> check_max_delay(None, 1.5, [1.5, 12.0], 0.1)
    12.1
    >>> check_max_delay(40.0, 1.5, [1.5], 0.1)
    40.0
    """
    if max_delay is None:
        return float(max([DEFAULT_MAX_DELAY, min_delay] + [d + spiking_dt for d in delays]))
    fix = "pass a larger max_delay, or max_delay=None to derive it from the network's delays"
    if isinstance(max_delay, bool) or not isinstance(max_delay, (int, float, np.number)):
        raise ConfigurationTypeError(bad_value(
            "max_delay", max_delay, "a number of ms (or None to derive it)",
            "pass e.g. max_delay=50.0, or max_delay=None"))
    if not math.isfinite(max_delay) or max_delay <= 0:
        raise ConfigurationError(bad_value(
            "max_delay", max_delay, "a positive, finite number of ms (or None to derive it)",
            fix))
    if max_delay < min_delay - EPS:
        raise ConfigurationError(bad_value(
            "max_delay", max_delay, f"at least min_delay ({min_delay} ms)", fix))
    if delays and max(delays) > max_delay + EPS:
        raise ConfigurationError(bad_value(
            "max_delay", max_delay,
            f"at least the longest proxy or link delay ({max(delays)} ms)", fix))
    return float(max_delay)


def grown_max_delay(current: float, refused: float | None, spiking_dt: float) -> float:
    """The next derived ``max_delay`` after the simulator refused a delay above ``current``.

    Twice ``current``, or the refused delay plus one spiking step if that is
    more, on whole spiking steps: a builder whose delays reach D is built at
    most about log2(D / 10 ms) + 1 times, and the simulator's buffers, which
    grow with ``max_delay`` (NEST's ring buffers hold ``max_delay`` of input
    per neuron and receptor), are at most about twice what D needs.

    Examples
    --------
    >>> grown_max_delay(10.0, 40.0, 0.1), grown_max_delay(10.0, 12.0, 0.1)
    (40.1, 20.0)
    >>> grown_max_delay(10.0, None, 0.1)
    20.0
    """
    target = 2.0 * current
    if refused is not None and math.isfinite(refused):
        target = max(target, refused + spiking_dt)
    return round(math.ceil(target / spiking_dt - 1e-9) * spiking_dt, 12)


def check_coupling_mode(coupling_mode: str, tvb, to_spiking) -> None:
    if coupling_mode not in ("tvb", "spiking"):
        raise ConfigurationError(bad_value("coupling_mode", coupling_mode, "'tvb' or 'spiking'",
                                           "pick one of the two"))
    if coupling_mode == "tvb":
        return
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


#: The environment variable that says how many cores a co-simulation may use (a sweep sets
#: it to its ``cores_per_point``); unset, the cores not busy with other work.
CORES_ENV = "PYNN_MULTISCALE_CORES"


def free_cores() -> int:
    """The cores this co-simulation may use: ``$PYNN_MULTISCALE_CORES``, or those not busy.

    Busy: the one-minute load average less one (this process's own), rounded.
    """
    given = os.environ.get(CORES_ENV)
    if given:
        try:
            return max(1, int(given))
        except ValueError:
            raise ConfigurationError(bad_value(
                CORES_ENV, given, "a whole number of cores",
                f"set {CORES_ENV}=2, or unset it")) from None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        busy = int(max(os.getloadavg()[0] - 1.0, 0.0) + 0.5)
    except (AttributeError, OSError):  # no load average (Windows)
        busy = 0
    return max(1, cores - busy)


def pipeline_obstacle(tvb, to_tvb, coupling_mode: str, regions) -> tuple | None:
    """Why the pipelined loop would not be exact here: ``(in short, error)``, or None.

    ``error`` is what ``pipeline=True`` raises: a :class:`CapabilityError`
    where the platform cannot fork, a :class:`ConfigurationError` naming what
    the set-up lacks and the fix otherwise.
    """
    def lacks(needed, fix):
        return ConfigurationError(bad_value("pipeline", True, needed, fix))

    if not hasattr(os, "fork"):
        return ("this platform has no os.fork",
                CapabilityError("pipeline=True forks the process (os.fork), which this "
                                "platform lacks. Fix: pass pipeline=False."))
    if coupling_mode != "tvb":
        return ("coupling_mode='spiking'",
                lacks("coupling_mode='tvb' (in spiking coupling mode the spiking side needs "
                      "TVB's values of the window it runs)",
                      "pass pipeline=False, or coupling_mode='tvb'"))
    model = tvb.model
    needed = {p.tvb_variable for p in to_tvb}
    if regions and not (hasattr(model, "spiking_update")
                        and needed <= set(getattr(model, "spiking_inputs", ()))):
        return (f"{type(model).__name__} has no spiking_update for {sorted(needed)}",
                lacks(f"a TVB model whose spiking_update method computes a spiking region's "
                      f"whole state from {sorted(needed)} ({type(model).__name__} has none): "
                      "TVB integrates a window before the previous one is committed",
                      "pass pipeline=False, or use a model like red_wong_wang's "
                      "ReducedWongWangExcInhRates"))
    coupling = type(tvb.coupling).__name__
    if coupling not in PIPELINE_COUPLINGS:
        return (f"the {coupling} coupling reads the target's own state",
                lacks(f"a coupling that reads only the source regions "
                      f"({', '.join(PIPELINE_COUPLINGS)}); {coupling} reads the target's own "
                      "state", "pass pipeline=False, or use one of those couplings"))
    return None


def check_pipeline(pipeline, tvb, to_tvb, coupling_mode: str, regions) -> tuple:
    """``(exact, note)``: may the loop be pipelined (the interval is then halved), and if
    ``pipeline=None`` finds it may not, why.

    ``pipeline=True`` needs a fork, the tvb coupling mode, a spiking_update
    and a plain coupling, and is refused without them; ``None`` (the default)
    uses it where they hold; ``False`` never does.
    """
    if pipeline is not None and not isinstance(pipeline, (bool, np.bool_)):
        raise ConfigurationTypeError(bad_value("pipeline", pipeline, "None, True or False",
                                               "pass pipeline=None (the default: pipelined "
                                               "where exact and where cores are free)"))
    if pipeline is not None and not pipeline:
        return False, None
    if pipeline is None and not regions:
        return False, None  # nothing runs beside TVB
    obstacle = pipeline_obstacle(tvb, to_tvb, coupling_mode, regions)
    if obstacle is None:
        return True, None
    short, error = obstacle
    if pipeline is None:
        return False, short
    raise error


def sync_steps(engine, sync_interval, coupling_mode: str, pipeline: bool) -> int:
    """The synchronisation interval in TVB steps: the default, or the user's, checked."""
    dt = engine.dt
    coupled = longest_interval(engine, coupling_mode, pipeline)
    if sync_interval is None:
        if coupled is None:
            return max(1, int(round(DEFAULT_INTERVAL_NO_SPIKING / dt)))
        n_sync = int(math.floor(coupled / dt + 1e-9))
        if n_sync < 1:
            raise ConfigurationError(bad_value(
                "tvb.connectivity", f"shortest coupled delay {coupled:g} ms",
                f"a delay of at least one TVB step ({dt} ms) on every connection that "
                "touches a spiking region", "raise the conduction speed or drop the link"))
        return n_sync
    _positive_ms("sync_interval", sync_interval, "pass None for the default")
    n_sync = int(round(sync_interval / dt))
    if n_sync < 1 or abs(n_sync * dt - sync_interval) > 1e-6 * dt:
        raise ConfigurationError(bad_value(
            "sync_interval", sync_interval, f"a whole number of TVB steps (dt = {dt} ms)",
            f"use e.g. {max(1, n_sync) * dt:g}"))
    if coupled is not None and sync_interval > coupled + EPS:
        raise ConfigurationError(bad_value(
            "sync_interval", sync_interval,
            f"at most the shortest delay coupling a spiking region"
            f"{' (halved in spiking coupling mode)' if coupling_mode == 'spiking' else ''}"
            f"{' (halved for the pipelined loop)' if pipeline else ''}"
            f", {coupled:g} ms "
            "(a longer interval would need TVB values that do not exist yet)",
            f"pass sync_interval=None (gives {math.floor(coupled / dt + 1e-9) * dt:g} ms)"))
    return n_sync


def proxy_delays(tvb, to_spiking, regions, coupling_mode, n_sync, dt, spiking_dt) -> list:
    """Connection delays (ms) that the to_spiking proxies will create."""
    if coupling_mode == "spiking":
        return list(source_delays(tvb.connectivity, regions, n_sync, dt)) if to_spiking else []
    return [spiking_dt if p.delay is None else p.delay for p in to_spiking
            if p.makes_connections]


def check_min_delay(min_delay, delays, n_sync, dt, spiking_dt) -> float:
    """The user's ``min_delay``, or the default (see :func:`divided_min_delay`)."""
    if min_delay is None:
        return divided_min_delay(n_sync * dt, min(delays), spiking_dt) if delays else spiking_dt
    if isinstance(min_delay, bool) or not isinstance(min_delay, (int, float)) \
            or not math.isfinite(min_delay) or min_delay < spiking_dt:
        raise ConfigurationError(bad_value(
            "min_delay", min_delay, f"a delay in ms of at least the spiking time step "
            f"({spiking_dt} ms)", "pass None for the shortest proxy delay"))
    if delays and min(delays) < min_delay - EPS:
        raise ConfigurationError(bad_value(
            "min_delay", min_delay,
            f"at most the shortest proxy or link delay ({min(delays)} ms)",
            "raise the proxies' delay or lower min_delay"))
    return float(min_delay)


def make_plan(engine, to_spiking, to_tvb, seeds, *, sync_interval=None,
              spiking_timestep=None, min_delay=None, max_delay=None, max_rate=500.0,
              max_rate_span=50.0, coupling_mode="tvb", pipeline=None, link_delays=(),
              backend=None, threads=1, setup_options=None) -> Plan:
    """Check the options against the configured TVB side and derive the rest (no simulator).

    ``to_spiking`` and ``to_tvb`` are lists already checked with
    :func:`check_proxy_list`; ``seeds`` comes from :func:`derive_seeds` (TVB's
    noise seed must be set before the engine configures TVB, which draws the
    initial history); the other arguments are those of
    :class:`~pynn_multiscale.CoSimulation`; ``link_delays`` are the delays (ms)
    of the links between spiking regions (:mod:`pynn_multiscale.links`), which
    bound ``min_delay`` and ``max_delay`` as the proxies' delays do.
    """
    tvb, regions = engine.sim, [int(i) for i in engine.proxy_inds]
    dt = engine.dt
    spiking_dt = check_spiking_timestep(dt, spiking_timestep)
    max_rate = check_max_rate(max_rate)
    max_rate_span = check_max_rate_span(max_rate_span)
    check_coupling_mode(coupling_mode, tvb, to_spiking)
    exact, note = check_pipeline(pipeline, tvb, to_tvb, coupling_mode, regions)
    if pipeline is None and exact and sync_interval is not None:
        halved = longest_interval(engine, coupling_mode, True)
        if halved is not None and isinstance(sync_interval, (int, float)) \
                and sync_interval > halved + EPS:
            exact, note = False, (f"sync_interval={sync_interval:g} ms is longer than half the "
                                  f"shortest coupled delay ({halved:g} ms)")
    n_sync = sync_steps(engine, sync_interval, coupling_mode, exact)
    run_pipelined = exact
    threads = 1 if backend is None else check_threads(threads, backend)
    if pipeline is None and exact:
        cores = free_cores()
        if cores < threads + 1:
            run_pipelined = False
            note = (f"{cores} core{'s are' if cores != 1 else ' is'} free and it needs "
                    f"{threads + 1} (TVB's process and {threads} spiking thread"
                    f"{'s' if threads != 1 else ''})")
    delays = proxy_delays(tvb, to_spiking, regions, coupling_mode, n_sync, dt, spiking_dt)
    delays += [float(d) for d in link_delays]
    min_delay = check_min_delay(min_delay, delays, n_sync, dt, spiking_dt)
    return Plan(spiking_regions=tuple(regions), to_spiking=tuple(to_spiking),
                to_tvb=tuple(to_tvb), dt=dt, spiking_dt=spiking_dt, n_sync=n_sync,
                min_delay=min_delay,
                max_delay=check_max_delay(max_delay, min_delay, delays, spiking_dt),
                seeds=seeds, coupling_mode=coupling_mode,
                pipeline=bool(run_pipelined), max_rate=max_rate,
                max_delay_given=max_delay is not None, max_rate_span=max_rate_span,
                threads=threads, loop_note=note,
                setup_options=() if backend is None else check_setup_options(setup_options,
                                                                             backend))
