"""What assembling the Result costs against the loop, with every neuron's V_m recorded.

The workload is tvb-multiscale's Wilson-Cowan example rebuilt with this
package (``examples/wilson_cowan.py``: regions 31 and 65 of connectivity_68,
each 100 E + 100 I ``IF_cond_alpha`` cells), with V_m of all 400 neurons
recorded every 0.1 ms, for 1100 ms.

Per repeat, in a fresh interpreter: ``run_s`` is ``CoSimulation.run()``;
``assembly_s`` the part of it after the last window that builds the
``Result`` (``Recording.result``: the TVB dataset, the spike trains and the
analog signals); ``loop_s`` the rest.  ``ratio = assembly_s / loop_s``
(goal: at most 0.10).  With ``--out`` the run streams to a folder instead:
``assembly_s`` is then the closing of the folder (``Recording.finish``).

``--old-read`` assembles the signals through PyNN's own ``get_data`` on a
multimeter that the backend neither reads nor clears (the code before the
backend read analog signals), for comparison in the same sitting.

Usage::

    python benchmarks/result_assembly.py --json
    python benchmarks/result_assembly.py --simulator brian2 --json
    python benchmarks/result_assembly.py --repeats 3 --old-read --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from cosim_overhead import in_child  # noqa: E402


def one_run(simulator, duration, interval, out, old_read):
    import numpy as np

    import pynn_multiscale as pm
    from pynn_multiscale import recording
    from pynn_multiscale.backends import simulator_module
    from pynn_multiscale.models import wilson_cowan as wc

    if old_read and simulator == "nest":
        from pynn_multiscale.backends.nest import NestBackend

        del NestBackend.add_signal_reader  # PyNN's get_data on PyNN's multimeter

    def build(sim, idx, label, rng):
        region = wc.build_spiking_region(sim, idx, label, rng)
        for pop in region.populations.values():
            pop.record("v", sampling_interval=interval)
        return region

    spent = {"assembly": 0.0}
    for name in ("result", "finish"):
        original = getattr(recording.Recording, name)

        def timed(self, *args, _original=original, **kwargs):
            t0 = time.perf_counter()
            try:
                return _original(self, *args, **kwargs)
            finally:
                spent["assembly"] += time.perf_counter() - t0

        setattr(recording.Recording, name, timed)
    with pm.CoSimulation(wc.tvb_simulator(), simulator_module(simulator),
                         spiking_regions=[31, 65], build_region=build,
                         to_spiking=wc.default_to_spiking(), to_tvb=wc.default_to_tvb(),
                         seed=1, max_rate=wc.MAX_RATE) as cosim:
        t0 = time.perf_counter()
        result = cosim.run(duration, out=out)
        run_s = time.perf_counter() - t0
    if out is not None:
        result = pm.Result.load(out)
    signals = [s for block in result.spiking.values() for s in block.segments[0].analogsignals]
    return {"run_s": run_s, "assembly_s": spent["assembly"],
            "samples": int(sum(s.size for s in signals)),
            "v_sum": float(sum(np.asarray(s.magnitude).sum() for s in signals)),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", default="nest")
    parser.add_argument("--duration", type=float, default=1100.0, help="ms (default 1100)")
    parser.add_argument("--interval", type=float, default=0.1,
                        help="V_m sampling interval in ms (default 0.1)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--stream", action="store_true",
                        help="run(out=...) into a temporary folder")
    parser.add_argument("--old-read", action="store_true",
                        help="also time PyNN's own get_data (NEST), alternating with the new read")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    modes = ["backend"] + (["pynn_get_data"] if args.old_read else [])
    runs = {mode: [] for mode in modes}
    for _ in range(max(1, args.repeats)):
        for mode in modes:
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "out") if args.stream else None
                runs[mode].append(in_child(one_run, args.simulator, args.duration,
                                           args.interval, out, mode == "pynn_get_data"))
    report = {"simulator": args.simulator, "duration_ms": args.duration,
              "interval_ms": args.interval, "neurons_recorded": 400, "stream": args.stream,
              "repeats": len(runs["backend"])}
    for mode, done in runs.items():
        best = min(done, key=lambda r: r["run_s"])
        loop = best["run_s"] - best["assembly_s"]
        report[mode] = {
            "run_s": round(best["run_s"], 3), "assembly_s": round(best["assembly_s"], 3),
            "loop_s": round(loop, 3), "ratio": round(best["assembly_s"] / loop, 4),
            "assembly_s_all": [round(r["assembly_s"], 3) for r in done],
            "loop_s_all": [round(r["run_s"] - r["assembly_s"], 3) for r in done],
            "samples": best["samples"], "v_sum": best["v_sum"],
            "peak_rss_mb": round(best["peak_rss_mb"], 1)}
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>16}: {value}")


if __name__ == "__main__":
    main()
