"""What the co-simulation loop costs over its two simulators alone (workload W1).

Three timings in one benchmark run, each after a first, untimed window (the
build and, on Brian2, the compilation are ``build_s``):

* ``cosim_s``: ``CoSimulation.run(duration)``, the windowed loop;
* ``spiking_alone_s``: the same PyNN regions with the same Poisson sources,
  fed the whole rate schedule that TVB sent during the co-simulation, run
  once for the whole duration;
* ``tvb_alone_s``: the same TVB simulator, ``Simulator.run()`` for the whole
  duration.

The two spiking runs each run in a fresh interpreter (:func:`in_child`):
PyNN never frees a NEURON network, so in one process the second run would
integrate the first one's cells too.  ``first_build_s`` is ``build_s`` with
an empty Brian2 compiler cache.

``ratio = cosim_s / (spiking_alone_s + tvb_alone_s)``.  Both runs' rates are
reported: if they are zero, or disagree, the ratio means nothing.

``--model NAME`` runs another pair's W1-like co-simulation (``montbrio_qif``,
``jansen_rit``, ``wilson_cowan``, ``adex``, ``red_wong_wang_deco2014``; :data:`MODELS`): its own ``tvb_simulator()``,
``build_spiking_region``, ``default_to_spiking()``, ``default_to_tvb()`` and
the CoSimulation keywords of its example, on the same two regions.  Its
network alone gets every value the co-simulation sent, as for W1: the current
proxies' per-step amplitudes as one step current, the rate proxies'
schedules as Poisson generator rates.

Usage::

    python benchmarks/cosim_overhead.py --simulator nest --duration 1000 --json
    python benchmarks/cosim_overhead.py --model jansen_rit --pipeline --json
    python benchmarks/cosim_overhead.py --threads 2 --spike-precision on_grid --json
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import pynn_multiscale as pm  # noqa: E402
from pynn_multiscale.backends import SIMULATORS, simulator_module  # noqa: E402
from pynn_multiscale.models import red_wong_wang as rww  # noqa: E402

#: Homologous pairs of connectivity_68 (right hemisphere 0-33, left 34-67), the
#: use case's pair first.
def homologous_regions(k: int) -> list[int]:
    pairs = [(31, 65)] + [(i, i + 34) for i in range(34) if i != 31]
    regions = [r for pair in pairs for r in pair]
    return regions[:k]


#: --proxy KIND -> the TVB -> spiking proxies of W1 (G = 1, N_E per region)
def proxies_for(kind, n_e):
    p = rww.NETWORK_PARAMS
    rate = dict(weight=rww.G_DEFAULT * n_e, synapse_weight=p["w_ee"], delay=p["delay"])
    if kind == "poisson":
        return rww.default_to_spiking(n_e=n_e)
    if kind == "poisson_shared":
        return [pm.proxies.RateToPoisson("R_e", "E", shared_fraction=0.1, **rate)]
    if kind in ("elephant_poisson", "sip", "mip"):
        process = {"elephant_poisson": "poisson"}.get(kind, kind)
        return [pm.proxies.ElephantTrains("R_e", "E", process=process,
                                          correlation=0.0 if process == "poisson" else 0.1, **rate)]
    if kind == "current":
        return [pm.proxies.CurrentFromCoupling("S_e", "E", weight=rww.current_scale(),
                                               delay=p["delay"])]
    if kind == "offset":
        return [pm.proxies.OffsetFromCoupling("S_e", "E", weight=rww.current_scale())]
    raise SystemExit(f"--proxy {kind!r}: expected one of {PROXY_KINDS}")


PROXY_KINDS = ["poisson", "poisson_shared", "elephant_poisson", "sip", "mip", "current", "offset"]


def build_region(sim, idx, label, rng, n_e, n_i, in_degree=None):
    return rww.build_spiking_region(sim, idx, label, rng, n_e=n_e, n_i=n_i, in_degree=in_degree)


def fixed_inputs(neurons):
    """What a W1 region of ``neurons`` neurons gives each neuron: in-degree and TVB input's N_E.

    ``(in_degree, n_e)``: ``p_connect`` times the region
    (``build_spiking_region(in_degree=...)``) and the number of E neurons by
    which TVB's rate is scaled into each E neuron's Poisson input
    (``default_to_spiking(n_e=...)``).  ``make_cosim(fixed_inputs_of=neurons)``
    keeps both at these values whatever the region's size.
    """
    return (int(round(rww.NETWORK_PARAMS["p_connect"] * neurons)),
            int(round(0.8 * neurons)))


#: --model NAME -> the pair's module and its defaults as its example in
#: examples/NAME.py uses them: neurons per region (``--neurons``' default), how a
#: neuron count becomes ``build_spiking_region``'s and ``default_to_spiking``'s
#: keywords, and the pair's own CoSimulation keywords.  Every pair's TVB model has
#: a ``spiking_update``, so every one can run ``--pipeline``.
MODELS = {
    "red_wong_wang": dict(neurons=1000),  # make_cosim's own W1 set-up (--proxy KIND)
    "montbrio_qif": dict(neurons=1000, build=lambda n: dict(n=n), to_spiking=lambda n: {},
                         cosim=lambda m: dict(spiking_timestep=0.05)),
    "jansen_rit": dict(neurons=600, build=lambda n: dict(n=_split(n, 3)),
                       to_spiking=lambda n: {}, cosim=lambda m: dict(spiking_timestep=0.1)),
    "wilson_cowan": dict(neurons=200, build=lambda n: dict(n_e=_split(n, 2), n_i=_split(n, 2)),
                         to_spiking=lambda n: dict(n_e=_split(n, 2)),
                         cosim=lambda m: dict(max_rate=m.MAX_RATE)),
    # E cells start at the uncoupled mass's adaptation current, as in examples/adex.py
    # Deco et al. 2014's NESTML neuron (NEST only): 80% E, 20% I, as its example's scale 0.2
    "red_wong_wang_deco2014": dict(
        neurons=200, build=lambda n: dict(n_e=int(round(0.8 * n)), n_i=n - int(round(0.8 * n))),
        to_spiking=lambda n: {}, cosim=lambda m: {}),
    "adex": dict(neurons=2000,
                 build=lambda n: dict(n=n, w_init=model_module("adex").steady_state(0.0)[5]),
                 to_spiking=lambda n: {}, cosim=lambda m: dict(spiking_timestep=0.1)),
}


def _split(neurons, parts):
    """``neurons`` per region as ``parts`` equal populations (Jansen-Rit's P, E, I; WC's E, I)."""
    if neurons % parts:
        raise SystemExit(f"--neurons {neurons}: this model's region has {parts} populations of "
                         f"equal size; pass a multiple of {parts}")
    return neurons // parts


def model_module(name):
    import importlib

    return importlib.import_module(f"pynn_multiscale.models.{name}")


def make_model_cosim(sim, regions, neurons, seed, model, mode, log=None, min_delay=None,
                     pipeline=False, sync_interval=None, extras=None):
    """Any pair but W1's: its own TVB simulator, regions, proxies and CoSimulation keywords.

    ``min_delay=None`` is CoSimulation's default (the interval split under the
    shortest proxy delay), as in the pair's example.
    """
    spec, module = MODELS[model], model_module(model)
    build = functools.partial(module.build_spiking_region, **spec["build"](neurons))
    if log is not None:
        _record_sources(sim, log)
    cosim = pm.CoSimulation(module.tvb_simulator(), sim, spiking_regions=regions,
                            build_region=build,
                            to_spiking=module.default_to_spiking(**spec["to_spiking"](neurons)),
                            to_tvb=module.default_to_tvb(), seed=seed, progress=False,
                            coupling_mode=mode, pipeline=pipeline, sync_interval=sync_interval,
                            min_delay=min_delay, **spec["cosim"](module), **(extras or {}))
    return cosim, build


def make_cosim(sim, regions, neurons, seed, kind, mode, log=None, min_delay=None,
               pipeline=False, sync_interval=None, model="red_wong_wang", extras=None,
               fixed_inputs_of=None):
    """``extras``: more CoSimulation keywords (``threads``, ``setup_options``).

    ``fixed_inputs_of``: ``None`` (W1), or a region size whose inputs per
    neuron every region keeps (:func:`fixed_inputs`): a fixed in-degree
    instead of a fixed connection probability, and TVB's rate scaled by that
    size's N_E instead of the region's.  Growing the region then grows the
    work, not each neuron's drive (workload W2, ``benchmarks/scaling.py``).
    """
    if model != "red_wong_wang":
        if fixed_inputs_of is not None:
            raise SystemExit(f"fixed_inputs_of: only with model red_wong_wang, not {model!r}")
        return make_model_cosim(sim, regions, neurons, seed, model, mode, log, min_delay,
                                pipeline, sync_interval, extras)
    n_e, n_i = int(round(0.8 * neurons)), neurons - int(round(0.8 * neurons))
    tvb = rww.tvb_simulator()

    build = functools.partial(build_region, n_e=n_e, n_i=n_i)
    input_n_e = n_e
    if fixed_inputs_of is not None:
        in_degree, input_n_e = fixed_inputs(fixed_inputs_of)
        build = functools.partial(build_region, n_e=n_e, n_i=n_i, in_degree=in_degree)

    if min_delay is None:
        # the network's own 1.5 ms delay, split as CoSimulation splits the shortest proxy
        # delay: in spiking mode every proxy delay is longer, and the offset proxy has none
        from pynn_multiscale.plan import divided_min_delay, longest_interval
        from pynn_multiscale.tvb import TVBEngine

        engine = TVBEngine(rww.tvb_simulator(), regions)
        longest = longest_interval(engine, mode, pipeline)
        interval = sync_interval or int(longest / engine.dt + 1e-9) * engine.dt
        min_delay = divided_min_delay(interval, rww.NETWORK_PARAMS["delay"], engine.dt)
    if log is not None:
        _record_sources(sim, log)
    cosim = pm.CoSimulation(tvb, sim, spiking_regions=regions, build_region=build,
                            to_spiking=proxies_for(kind, input_n_e), to_tvb=rww.default_to_tvb(),
                            seed=seed, progress=False, coupling_mode=mode,
                            pipeline=pipeline, sync_interval=sync_interval,
                            min_delay=min_delay, **(extras or {}))

    return cosim, build


def _backend_class(sim):
    """The backend class that CoSimulation will create for the PyNN module ``sim``."""
    import importlib

    from pynn_multiscale.backends import _BACKENDS

    module = importlib.import_module(f"pynn_multiscale.backends.{_BACKENDS[sim.__name__]}")
    return getattr(module, _CLASSES[sim.__name__])


_CLASSES = {"pyNN.nest": "NestBackend", "pyNN.brian2": "Brian2Backend",
            "pyNN.neuron": "NeuronBackend", "pynn_multiscale.backends.annarchy": "AnnarchyBackend"}



def _record_sources(sim, log):
    """Log every source the next backend creates and every value it is sent."""
    cls = _backend_class(sim)
    originals = {name: getattr(cls, name) for name in
                 ("add_rate_source", "add_current_source", "add_offset", "add_train_sources",
                  "set_rates", "set_currents", "set_offset", "set_trains") if hasattr(cls, name)}

    def adder(name):
        def add(self, population, *args):
            handle = originals[name](self, population, *args)
            log["sources"].append((name, population.label, args, id(handle)))
            log["values"][id(handle)] = []
            return handle
        return add

    def setter(name):
        def set_(self, handle, *args):
            log["values"][id(handle)].append((name, args))
            return originals[name](self, handle, *args)
        return set_

    log.setdefault("sources", [])
    log.setdefault("values", {})
    for name in originals:
        setattr(cls, name, adder(name) if name.startswith("add") else setter(name))
    log["restore"] = lambda: [setattr(cls, n, f) for n, f in originals.items()]


def in_child(function, *args):
    """``function(*args)`` in a fresh interpreter: every timed run starts from a clean process.

    PyNN never frees a NEURON network, and NEST's and Brian2's state is
    global too: in one process, a later run would integrate an earlier
    run's cells as well.
    """
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def timed_cosimulation(simulator, regions, neurons, seed, kind, mode, duration, cold_cache,
                       min_delay=None, pipeline=False, sync_interval=None,
                       model="red_wong_wang", extras=None, fixed_inputs_of=None):
    """Build W1 and run it for ``duration`` ms (at least one window), timing both.

    ``build_s`` covers building and the first window (Brian2 compiles
    then); ``cold_cache`` gives Brian2 or ANNarchy an empty compiler cache.  Returns the
    timings, the rates, and the log of every value sent to the sources.
    ``fixed_inputs_of``: see :func:`make_cosim`.
    """
    import tempfile

    if cold_cache and model == "red_wong_wang_deco2014":  # an empty cache: NESTML compiles
        os.environ["PYNN_MULTISCALE_CACHE"] = tempfile.mkdtemp(prefix="nestml-cache-")
    if cold_cache and simulator == "annarchy":  # an empty compile cache: ANNarchy compiles
        os.environ["PYNN_MULTISCALE_CACHE"] = tempfile.mkdtemp(prefix="annarchy-cache-")
    sim = simulator_module(simulator)
    if cold_cache and simulator == "brian2":
        import brian2

        brian2.prefs.codegen.runtime.cython.cache_dir = tempfile.mkdtemp(prefix="brian2-cache-")
    log = {}
    t0 = time.perf_counter()
    cosim, build = make_cosim(sim, regions, neurons, seed, kind, mode, log, min_delay,
                              pipeline, sync_interval, model, extras, fixed_inputs_of)
    log["labels"] = {idx: cosim.engine.region_labels[idx] for idx in regions}
    windows = log["windows"] = []
    original = cosim._begin_window

    def window(n_steps, ahead=None):
        # the start of the window (with pipeline=True, engine.time lags by a window)
        t0 = windows[-1][0] + windows[-1][1] * cosim.dt if windows else cosim.engine.time
        windows.append((t0, n_steps, cosim.dt))
        return original(n_steps, ahead)

    cosim._begin_window = window
    first_window = cosim.n_sync * cosim.dt
    cosim.run(first_window)
    build_s = time.perf_counter() - t0
    spent = {"begin": 0.0, "end": 0.0, "tvb": 0.0}
    # "tvb": the loop integrating TVB (sequential), or waiting for it (pipelined)
    for key, owner, name in (("begin", cosim, "_begin_window"), ("end", cosim, "_end_window"),
                             ("tvb", cosim._tvb, "window")):
        setattr(owner, name, _timed(spent, key, getattr(owner, name)))
    t0 = time.perf_counter()
    result = cosim.run(max(duration - first_window, cosim.dt))
    cosim_s = time.perf_counter() - t0
    out = {"build_s": build_s, "cosim_s": cosim_s, "sync_ms": first_window,
           "tvb_in_loop_s": spent["tvb"], "exchange_s": spent["begin"] + spent["end"] - spent["tvb"],
           "dt": cosim.spiking_dt, "min_delay": cosim.min_delay, "max_delay": cosim.plan.max_delay,
           "build": build, "nest_min_delay": None}
    if simulator == "nest":
        import nest

        out["nest_min_delay"] = nest.min_delay
    cosim.close()
    log.pop("restore")()
    out["log"] = log
    out["rates"] = {(idx, st.annotations["population"]):
                    1000.0 * len(st) / (st.annotations["size"] * float(st.t_stop.rescale("ms")))
                    for idx in regions for st in result.spiking[idx].segments[0].spiketrains}
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    return out


def _timed(spent, key, function):
    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - t0
    return timed


def spiking_alone_by_name(simulator, *args):
    return spiking_alone(simulator_module(simulator), *args)


def spiking_alone(sim, regions, build, seed, dt, min_delay, max_delay, first_window, duration,
                  log, extras=None):
    """The same regions and the same sources, fed every value the co-simulation sent, one run.

    Each source gets its whole schedule (every window's values, in order)
    in one call; a per-window offset current becomes a step current with
    the same per-window amplitudes (the same input, but a parameter cannot
    change inside one run).
    """
    from pyNN.random import NumpyRNG

    from pynn_multiscale.backends import get_backend

    seeds = pm.derive_seeds(seed, len(regions))
    backend = get_backend(sim)
    extras = extras or {}
    more = {"threads": extras["threads"]} if extras.get("threads", 1) != 1 else {}
    if extras.get("setup_options"):
        more["options"] = extras["setup_options"]
    backend.setup(timestep=dt, min_delay=min_delay, seed=seeds["spiking_kernel"],
                  max_delay=max_delay, **more)
    built = {}
    for slot, idx in enumerate(regions):
        built[idx] = build(sim, idx, f"region{idx}", NumpyRNG(seed=seeds["regions"][slot]))
    # the co-simulation labels populations "<region label>_<name>": find them here
    cosim_labels = list(dict.fromkeys(label for _, label, _, _ in log["sources"]))
    by_label = {}
    for label in cosim_labels:
        region_label, pop_name = label.rsplit("_", 1)
        slot = [i for i, idx in enumerate(regions) if region_label in log["labels"][idx]][0]
        by_label[label] = built[regions[slot]].populations[pop_name]
    for name, label, args, key in log["sources"]:
        pop = by_label[label]
        values = log["values"][key]
        if name == "add_rate_source":
            handle = backend.add_rate_source(pop, *args)
            _replay_schedule(backend.set_rates, handle, values)
        elif name in ("add_current_source", "add_offset"):
            handle = backend.add_current_source(pop, *args)
            if name == "add_offset":  # per-window value -> a step current over the window
                values = [("set_currents", (t0, dt_, np.full(n, v)))
                          for (_, (v,)), (t0, n, dt_) in zip(values, log["windows"])]
            _replay_schedule(backend.set_currents, handle, values)
        else:
            handle = backend.add_train_sources(pop, *args)
            per_neuron = [[] for _ in range(pop.size)]
            for _, (trains, t0, dt_) in values:
                for k, times in enumerate(trains):
                    per_neuron[k].append(np.asarray(times))
            backend.set_trains(handle, [np.concatenate(t) if t else np.empty(0)
                                        for t in per_neuron], 0.0, dt)
    counters = {(idx, name): backend.add_spike_counter(pop)
                for idx in regions for name, pop in built[idx].populations.items()}
    backend.start()
    backend.advance(first_window)  # untimed, as in the co-simulation's timing
    t0 = time.perf_counter()
    backend.advance(duration)
    elapsed = time.perf_counter() - t0
    counts = {key: backend.window_spikes(h)[0].size for key, h in counters.items()}
    sizes = {(idx, name): pop.size for idx in regions for name, pop in built[idx].populations.items()}
    backend.finish()
    return elapsed, {key: 1000.0 * n / (sizes[key] * duration) for key, n in counts.items()}


def tvb_alone(module, seed, n_regions, first_window, duration):
    """Seconds of the pair's TVB simulator alone, ``Simulator.run()`` after an untimed first window.

    The same noise seed as a co-simulation of ``n_regions`` spiking regions
    with ``seed``; timed over ``duration - first_window`` ms, as the
    co-simulation is.
    """
    tvb = module.tvb_simulator(noise_seed=pm.derive_seeds(seed, n_regions)["tvb_noise"])
    tvb.configure()
    tvb.run(simulation_length=first_window)  # the untimed first window
    t0 = time.perf_counter()
    tvb.run(simulation_length=duration - first_window)
    return time.perf_counter() - t0


def _replay_schedule(setter, handle, values):
    """Every window's values of one source, in one call from the first window's start."""
    if values:
        (_, (t_first, dt, _)) = values[0]
        setter(handle, t_first, dt, np.concatenate([np.asarray(v) for _, (_, _, v) in values]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", default="nest", choices=sorted(SIMULATORS))
    parser.add_argument("--duration", type=float, default=1000.0, help="ms (default 1000)")
    parser.add_argument("--regions", type=int, default=2, help="spiking regions (default 2)")
    parser.add_argument("--model", default="red_wong_wang", choices=list(MODELS),
                        help="the model pair (pynn_multiscale.models), with its example's "
                             "proxies and keywords (default red_wong_wang: W1)")
    parser.add_argument("--neurons", type=int, default=None,
                        help="neurons per region (default the model's: red_wong_wang 1000, "
                             "80%% E; montbrio_qif 1000; jansen_rit 600, wilson_cowan 200, "
                             "in equal populations)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--proxy", default="poisson", choices=PROXY_KINDS,
                        help="the TVB -> spiking interface (default poisson)")
    parser.add_argument("--coupling-mode", default="tvb", choices=["tvb", "spiking"],
                        help="who applies the connectome: TVB or the spiking side's connections")
    parser.add_argument("--repeats", type=int, default=1,
                        help="repeat the three timed runs, alternating, and keep each one's "
                             "fastest time (the machines are shared and noisy)")
    parser.add_argument("--min-delay", type=float, default=None,
                        help="the spiking simulator's min_delay in ms (default the network's "
                             "synaptic delay, 1.5)")
    parser.add_argument("--pipeline", action="store_true",
                        help="TVB one window ahead in a second process (halves the interval)")
    parser.add_argument("--sync-interval", type=float, default=None,
                        help="the synchronisation interval in ms (default CoSimulation's)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of the spiking simulator (NEST; default 1)")
    parser.add_argument("--spike-precision", choices=["off_grid", "on_grid"], default=None,
                        help="NEST's spike precision through PyNN's setup (default PyNN's, "
                             "off_grid)")
    parser.add_argument("--fixed-inputs-of", type=int, default=None, metavar="NEURONS",
                        help="keep each neuron's in-degree and TVB input at those of a region "
                             "of NEURONS neurons, whatever --neurons is (W2's series B: 1000; "
                             "default: both grow with --neurons, as in W1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    extras = {}
    if args.threads != 1:
        extras["threads"] = args.threads
    if args.spike_precision:
        extras["setup_options"] = {"spike_precision": args.spike_precision}
    if args.neurons is None:
        args.neurons = MODELS[args.model]["neurons"]
    if args.model != "red_wong_wang" and args.proxy != "poisson":
        parser.error(f"--proxy {args.proxy}: only with --model red_wong_wang; the other "
                     f"models use their own default_to_spiking() (drop --proxy)")
    if args.model != "red_wong_wang" and args.fixed_inputs_of is not None:
        parser.error(f"--fixed-inputs-of: only with --model red_wong_wang, not {args.model}")

    if args.model != "red_wong_wang":
        MODELS[args.model]["build"](args.neurons)  # a bad --neurons stops here, not in a child
    regions = homologous_regions(args.regions)
    common = (args.simulator, regions, args.neurons, args.seed, args.proxy, args.coupling_mode)
    module = rww if args.model == "red_wong_wang" else model_module(args.model)

    # the first build and first window, with an empty compiler cache (Brian2 compiles then)
    options = (args.min_delay, args.pipeline, args.sync_interval, args.model, extras,
               args.fixed_inputs_of)
    first = in_child(timed_cosimulation, *common, 0.0, True, *options)
    cosim_times, alone_times, tvb_times, runs = [], [], [], []
    for _ in range(max(1, args.repeats)):
        run = in_child(timed_cosimulation, *common, args.duration, False, *options)
        cosim_times.append(run["cosim_s"])
        runs.append(run)
        alone_s, rates_alone = in_child(spiking_alone_by_name, args.simulator, regions,
                                        run["build"], args.seed, run["dt"], run["min_delay"],
                                        run["max_delay"], run["sync_ms"], args.duration,
                                        run["log"], extras)
        alone_times.append(alone_s)
        tvb_times.append(tvb_alone(module, args.seed, len(regions), run["sync_ms"], args.duration))
    build_s, sync_ms, rates = run["build_s"], run["sync_ms"], run["rates"]
    best = min(runs, key=lambda r: r["cosim_s"])
    nest_min_delay = run["nest_min_delay"]
    first_build = first["build_s"]
    cosim_s, alone_s, tvb_s = min(cosim_times), min(alone_times), min(tvb_times)

    out = {
        "simulator": args.simulator,
        **({} if args.model == "red_wong_wang" else {"model": args.model}),
        "proxy": args.proxy if args.model == "red_wong_wang" else "default",
        "coupling_mode": args.coupling_mode,
        "pipeline": args.pipeline,
        "threads": args.threads,
        "spike_precision": args.spike_precision or "off_grid (PyNN's default)",
        "nest_min_delay_ms": nest_min_delay,
        "duration_ms": args.duration,
        "sync_ms": round(sync_ms, 6),
        "n_spiking_regions": len(regions),
        "neurons_per_region": args.neurons,
        **({} if args.fixed_inputs_of is None else {"fixed_inputs_of": args.fixed_inputs_of}),
        "first_build_s": round(first_build, 3),
        "build_s": round(build_s, 3),
        "cosim_s": round(cosim_s, 3),
        "spiking_alone_s": round(alone_s, 3),
        "tvb_alone_s": round(tvb_s, 3),
        "ratio": round(cosim_s / (alone_s + tvb_s), 4),
        # inside the fastest co-simulation: TVB's integration, and the loop's own work
        # (scheduling, reading, checks, history rewrite, monitors); the rest is the simulator
        "tvb_in_loop_s": round(best["tvb_in_loop_s"], 3),
        "exchange_s": round(best["exchange_s"], 3),
        "spiking_in_loop_s": round(best["cosim_s"] - best["tvb_in_loop_s"] - best["exchange_s"], 3),
        "repeats": len(cosim_times),
        # each repeat's times, in order (the figures above are the least of each)
        "runs_s": {"cosim": [round(t, 3) for t in cosim_times],
                   "spiking_alone": [round(t, 3) for t in alone_times],
                   "tvb_alone": [round(t, 3) for t in tvb_times]},
        "peak_rss_mb": run["peak_rss_mb"],
        "rates_hz": {f"{idx}/{pop}": round(v, 3) for (idx, pop), v in rates.items()},
        "rates_alone_hz": {f"{idx}/{pop}": round(v, 3) for (idx, pop), v in rates_alone.items()},
    }
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>18}: {v}")


if __name__ == "__main__":
    main()
