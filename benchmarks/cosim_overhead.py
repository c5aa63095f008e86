"""What the co-simulation loop costs over its two simulators alone (workload W1).

Three timings in one process, so that they share the machine's state:

* ``cosim_s``: ``CoSimulation.run(duration)``, the windowed loop;
* ``spiking_alone_s``: the same PyNN regions with the same Poisson sources,
  fed the whole rate schedule that TVB sent during the co-simulation, run
  once for the whole duration;
* ``tvb_alone_s``: the same TVB simulator, ``Simulator.run()`` for the whole
  duration.

``ratio = cosim_s / (spiking_alone_s + tvb_alone_s)``.  Both runs' rates are
reported: if they are zero, or disagree, the ratio means nothing.

Usage::

    python benchmarks/cosim_overhead.py --simulator nest --duration 1000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import pynn_multiscale as pm  # noqa: E402
from pynn_multiscale.models import red_wong_wang as rww  # noqa: E402

#: Homologous pairs of connectivity_68 (right hemisphere 0-33, left 34-67), the
#: use case's pair first.
def homologous_regions(k: int) -> list[int]:
    pairs = [(31, 65)] + [(i, i + 34) for i in range(34) if i != 31]
    regions = [r for pair in pairs for r in pair]
    return regions[:k]


def make_cosim(sim, regions, neurons, seed, rates_log=None):
    n_e, n_i = int(round(0.8 * neurons)), neurons - int(round(0.8 * neurons))
    tvb = rww.tvb_simulator()

    def build(sim_, idx, label, rng):
        return rww.build_spiking_region(sim_, idx, label, rng, n_e=n_e, n_i=n_i)

    cosim = pm.CoSimulation(tvb, sim, spiking_regions=regions, build_region=build,
                            to_spiking=rww.default_to_spiking(n_e=n_e),
                            to_tvb=rww.default_to_tvb(), seed=seed, progress=False)
    if rates_log is not None:
        original = cosim.backend.set_rates

        def logging_set_rates(handle, t0, dt, rates):
            rates_log.setdefault(id(handle), (handle, []))[1].append((t0, np.array(rates)))
            original(handle, t0, dt, rates)

        cosim.backend.set_rates = logging_set_rates
    return cosim, build


def mean_rates(spikes_by_key, sizes, duration):
    return {key: 1000.0 * n / (sizes[key] * duration) for key, n in spikes_by_key.items()}


def spiking_alone(sim, regions, build, seed, dt, min_delay, duration, rates_log, proxies):
    """The same regions and sources, one run with the whole rate schedule."""
    from pyNN.random import NumpyRNG

    from pynn_multiscale.backends import get_backend

    seeds = pm.derive_seeds(seed, len(regions))
    backend = get_backend(sim)
    backend.setup(timestep=dt, min_delay=min_delay, seed=seeds["spiking_kernel"])
    built = {}
    t_build = time.perf_counter()
    for slot, idx in enumerate(regions):
        built[idx] = build(sim, idx, f"region{idx}", NumpyRNG(seed=seeds["regions"][slot]))
    logged = list(rates_log.values())
    handles = []
    for p in proxies:
        for idx in regions:
            handles.append(backend.add_rate_source(built[idx].populations[p.population],
                                                   p.synapse_weight, p.delay or dt, p.receptor_type))
    counters = {(idx, name): backend.add_spike_counter(pop)
                for idx in regions for name, pop in built[idx].populations.items()}
    for handle, (_, chunks) in zip(handles, logged):
        # The co-simulation's two generators take turns, one window each; give
        # each generator here its windows of the same schedule, all at once,
        # so that both runs draw the same input spikes.
        for turn, generator in enumerate(handle["generators"]):
            times, values = [], []
            for t0, rates in chunks[turn::2]:
                n = rates.size
                times.append(t0 + dt * np.arange(1, n + 2))
                values.append(np.append(rates, 0.0))
            if times:
                backend._set_status(generator, {"rate_times": np.round(np.concatenate(times), 10),
                                                "rate_values": np.concatenate(values)})
    backend.start()
    t0 = time.perf_counter()
    backend.advance(duration)
    elapsed = time.perf_counter() - t0
    counts = {key: backend.window_spikes(h)[0].size for key, h in counters.items()}
    sizes = {(idx, name): pop.size for idx in regions for name, pop in built[idx].populations.items()}
    backend.finish()
    return elapsed, mean_rates(counts, sizes, duration), t0 - t_build


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", default="nest", choices=["nest"])
    parser.add_argument("--duration", type=float, default=1000.0, help="ms (default 1000)")
    parser.add_argument("--regions", type=int, default=2, help="spiking regions (default 2)")
    parser.add_argument("--neurons", type=int, default=1000, help="neurons per region (80%% E)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1,
                        help="repeat the three timed runs, alternating, and keep each one's "
                             "fastest time (the machines are shared and noisy)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    import importlib

    sim = importlib.import_module(f"pyNN.{args.simulator}")
    regions = homologous_regions(args.regions)

    # first build (NEST compiles nothing, so first and warm builds differ only by caches)
    t0 = time.perf_counter()
    cosim, _ = make_cosim(sim, regions, args.neurons, args.seed)
    first_build = time.perf_counter() - t0
    cosim.close()

    cosim_times, alone_times, tvb_times = [], [], []
    for _ in range(max(1, args.repeats)):
        rates_log = {}
        t0 = time.perf_counter()
        cosim, build = make_cosim(sim, regions, args.neurons, args.seed, rates_log)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = cosim.run(args.duration)
        cosim_times.append(time.perf_counter() - t0)
        sync_ms = cosim.n_sync * cosim.dt
        dt, min_delay = cosim.spiking_dt, cosim.min_delay
        proxies = cosim.to_spiking
        cosim.close()
        rates = {}
        for idx in regions:
            for st in result.spiking[idx].segments[0].spiketrains:
                rates[(idx, st.annotations["population"])] = \
                    1000.0 * len(st) / (st.annotations["size"] * args.duration)

        alone_s, rates_alone, _ = spiking_alone(sim, regions, build, args.seed, dt, min_delay,
                                                args.duration, rates_log, proxies)
        alone_times.append(alone_s)

        tvb = rww.tvb_simulator(noise_seed=pm.derive_seeds(args.seed, len(regions))["tvb_noise"])
        tvb.configure()
        t0 = time.perf_counter()
        tvb.run(simulation_length=args.duration)
        tvb_times.append(time.perf_counter() - t0)
    cosim_s, alone_s, tvb_s = min(cosim_times), min(alone_times), min(tvb_times)

    out = {
        "simulator": args.simulator,
        "duration_ms": args.duration,
        "sync_ms": round(sync_ms, 6),
        "n_spiking_regions": len(regions),
        "neurons_per_region": args.neurons,
        "first_build_s": round(first_build, 3),
        "build_s": round(build_s, 3),
        "cosim_s": round(cosim_s, 3),
        "spiking_alone_s": round(alone_s, 3),
        "tvb_alone_s": round(tvb_s, 3),
        "ratio": round(cosim_s / (alone_s + tvb_s), 4),
        "repeats": len(cosim_times),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
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
