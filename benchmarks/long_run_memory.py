"""Peak memory of a long W1 run streamed to disk, against a short one; and what streaming costs.

Each run is a fresh process (peak RSS is per process): W1 on NEST with
``run(duration, out=DIR)``.  The goal: the 20 s run's peak RSS at most 1.05x
the 2 s run's.

``--cost``: W1 for ``--cost-duration`` ms (default 1000) streamed to disk
against in memory, alternating, ``--repeats`` times each, in one sitting:
the ratio of the median times of ``run()`` (build excluded), and the bytes
the streamed run writes per simulated second (the process's ``wchar`` from
``/proc/self/io``, the in-memory run's subtracted).

Usage::

    python benchmarks/long_run_memory.py --json [--short 2000] [--long 20000]
    python benchmarks/long_run_memory.py --json --cost [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _written() -> int:
    """Bytes this process has passed to write() so far (Linux)."""
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("wchar")).split()[1])


def child(duration, out, seed):
    sys.path.insert(0, os.path.join(HERE, ".."))
    import pyNN.nest as sim

    import pynn_multiscale as pm
    from pynn_multiscale.models import red_wong_wang as rww

    t0 = time.perf_counter()
    with pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=[31, 65],
                         build_region=rww.build_spiking_region,
                         to_spiking=rww.default_to_spiking(), to_tvb=rww.default_to_tvb(),
                         seed=seed, progress=False) as cosim:
        rss_built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        written, t_run = _written(), time.perf_counter()
        cosim.run(duration, out=out)
        run_s, written = time.perf_counter() - t_run, _written() - written
    wall = time.perf_counter() - t0
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)) if out else 0
    print(json.dumps({"duration_ms": duration, "wall_s": round(wall, 1),
                      "run_s": round(run_s, 3), "written_bytes": written,
                      "peak_rss_after_build_mb": round(rss_built, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                           / 1024.0, 1),
                      "output_mb": round(size / 2**20, 1)}))


def run_child(duration, seed, stream=True):
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, __file__, "--child", str(duration), "--out",
                               os.path.join(out, "run") if stream else "", "--seed", str(seed)],
                              capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cost(duration, repeats, seed):
    """Streamed against in-memory runs, alternating in one sitting."""
    import statistics

    runs = {"memory": [], "stream": []}
    for _ in range(repeats):
        for kind in runs:
            runs[kind].append(run_child(duration, seed, stream=kind == "stream"))
    median = {kind: statistics.median(r["run_s"] for r in rs) for kind, rs in runs.items()}
    extra = statistics.median(r["written_bytes"] for r in runs["stream"]) - \
        statistics.median(r["written_bytes"] for r in runs["memory"])
    return {"duration_ms": duration, "repeats": repeats,
            "run_s_in_memory": [r["run_s"] for r in runs["memory"]],
            "run_s_streamed": [r["run_s"] for r in runs["stream"]],
            "ratio_streamed_to_memory": round(median["stream"] / median["memory"], 3),
            "written_mb_per_simulated_s": round(extra / 2**20 / (duration / 1000.0), 1),
            "output_mb": runs["stream"][0]["output_mb"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=float, default=2000.0, help="ms (default 2000)")
    parser.add_argument("--long", type=float, default=20000.0, help="ms (default 20000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cost", action="store_true",
                        help="streamed against in-memory W1 instead of the memory comparison")
    parser.add_argument("--cost-duration", type=float, default=1000.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.out or None, args.seed)
        return
    if args.cost:
        out = cost(args.cost_duration, args.repeats, args.seed)
        print(json.dumps(out) if args.json else json.dumps(out, indent=2))
        return
    short, long_ = run_child(args.short, args.seed), run_child(args.long, args.seed)
    out = {"short": short, "long": long_,
           "ratio": round(long_["peak_rss_mb"] / short["peak_rss_mb"], 3)}
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
