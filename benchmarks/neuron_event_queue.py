"""Where NEURON's cost per cell grows with the network: integration or events.

W2's NEURON network alone grows super-linearly with its cells (k 1.30-1.33).
This separates the two things every cell of it costs, each at 1000, 4000 and
16 000 cells, 200 ms, each size in a fresh interpreter (PyNN never frees a
NEURON network):

* ``current``: ``IF_cond_exp`` cells driven by a constant current, firing
  regularly, with no input events;
* ``poisson``: silent ``IF_cond_exp`` cells, each with its own PyNN
  ``SpikeSourcePoisson`` at 2400 Hz (W2's background is one such source per
  neuron): one NetCon event and one self event per spike.

``--bin-queue`` runs the ``poisson`` case with NEURON's fixed-step bin queue
for NetCon events (``CVode.queue_mode(1, 0)``; self events stay in the splay
tree).  Per case: seconds per simulated second and 1000 cells, and the growth
exponent ``k`` (time ~ cells**k) between neighbouring sizes and over all.

Usage::

    python benchmarks/neuron_event_queue.py --json
    python benchmarks/neuron_event_queue.py --sizes 1000,4000 --bin-queue --json

The last line printed is one JSON object (with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


DURATION = 200.0  # ms, timed, after an untimed 10 ms


def one_run(n: int, mode: str, bin_queue: bool) -> float:
    """Seconds of ``sim.run(DURATION)`` for ``n`` cells of ``mode`` (in this process)."""
    import pyNN.neuron as sim

    sim.setup(timestep=0.1, min_delay=0.1)
    if bin_queue:
        from neuron import h

        h.CVode().queue_mode(1, 0)
    if mode == "current":
        sim.Population(n, sim.IF_cond_exp(i_offset=0.8, v_thresh=-50.0, v_reset=-60.0,
                                          tau_refrac=2.0))
    else:
        cells = sim.Population(n, sim.IF_cond_exp(v_thresh=1e6))
        sources = sim.Population(n, sim.SpikeSourcePoisson(rate=2400.0))
        sim.Projection(sources, cells, sim.OneToOneConnector(),
                       sim.StaticSynapse(weight=0.0015, delay=0.1))
    sim.run(10.0)
    start = time.perf_counter()
    sim.run(DURATION)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,4000,16000",
                        help="cells, comma-separated (default 1000,4000,16000)")
    parser.add_argument("--bin-queue", action="store_true",
                        help="also run the poisson case with NEURON's fixed-step bin queue")
    parser.add_argument("--json", action="store_true", help="print one JSON object, last")
    parser.add_argument("--child", nargs=3, metavar=("N", "MODE", "BIN"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        n, mode, bin_queue = args.child
        print(json.dumps(one_run(int(n), mode, bin_queue == "1")))
        return 0
    try:
        sizes = sorted(int(s) for s in args.sizes.split(","))
    except ValueError:
        raise SystemExit(f"--sizes {args.sizes!r}: expected cell counts such as 1000,4000")
    if len(set(sizes)) < 2 or len(set(sizes)) != len(sizes) or sizes[0] < 1:
        raise SystemExit(f"--sizes {args.sizes!r}: give at least two different positive cell "
                         "counts, e.g. 1000,4000")
    from scaling import growth  # W2's fit (k and the neighbours' exponents); not in children

    cases = [("current", False), ("poisson", False)] + ([("poisson", True)] if args.bin_queue
                                                         else [])
    out = {"duration_ms": DURATION, "sizes": sizes, "cases": {}}
    for mode, bin_queue in cases:
        per = []
        for n in sizes:
            child = subprocess.run([sys.executable, __file__, "--child", str(n), mode,
                                    "1" if bin_queue else "0"], capture_output=True, text=True)
            if child.returncode != 0:
                raise SystemExit(f"the {mode} run of {n} cells failed "
                                 f"(exit {child.returncode}):\n{child.stderr[-3000:]}")
            run_s = json.loads(child.stdout.strip().splitlines()[-1])
            per.append(run_s / (DURATION / 1000.0) / (n / 1000.0))
            print(f"[neuron_event_queue] {mode}{' bin queue' if bin_queue else ''} {n}: "
                  f"{run_s:.3f} s", file=sys.stderr)
        name = mode + ("_bin_queue" if bin_queue else "")
        out["cases"][name] = {"s_per_simulated_s_per_1000_cells": [round(p, 3) for p in per],
                              **growth(sizes, [p * n for p, n in zip(per, sizes)])}
    if args.json:
        print(json.dumps(out))
    else:
        for name, case in out["cases"].items():
            print(name, case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
