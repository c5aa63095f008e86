"""Where a pipelined W1 window's time goes, in both processes.

Runs W1 (``cosim_overhead.make_cosim``: 2 regions of 1000 neurons, Poisson
proxies) with ``pipeline=True`` on NEST and times, per window:

* in the main process: waiting for TVB's window (``ForkedTVB.window``),
  the proxies' sends, the spiking simulator's run (``backend.advance``),
  reading the spikes and the proxies' receives (``_end_window`` without the
  commit request), the commit requests and waiting for their replies
  (``ForkedTVB._receive``), and the rest of the loop;
* in the TVB process (its timers travel back in a file when it stops):
  integrating, committing, and waiting for the next message.

The TVB process's timers include the first, untimed windows. The limit
``max(S, B) / (S + B)`` needs S and B from ``cosim_overhead.py --pipeline``
run in the same sitting.

Usage::

    python benchmarks/pipeline_profile.py --duration 1000 --json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))


def profile(duration, seed, log_path):
    import pyNN.nest as sim

    from cosim_overhead import _timed, make_cosim
    from pynn_multiscale import cosim as cosim_module
    from pynn_multiscale import pipeline

    spent = collections.Counter()
    # main process
    pipeline.ForkedTVB.window = _timed(spent, "wait_tvb_window", pipeline.ForkedTVB.window)
    pipeline.ForkedTVB._receive = _timed(spent, "receive_replies", pipeline.ForkedTVB._receive)
    pipeline.ForkedTVB.commit = _timed(spent, "send_commit", pipeline.ForkedTVB.commit)
    cosim_module.CoSimulation._begin_window = _timed(spent, "begin_window",
                                                     cosim_module.CoSimulation._begin_window)
    cosim_module.CoSimulation._end_window = _timed(spent, "end_window",
                                                   cosim_module.CoSimulation._end_window)

    # the TVB process: the fork inherits this wrapper of _serve
    serve = pipeline._serve

    def timed_serve(engine, conn):
        child = collections.Counter()
        engine.integrate = _timed(child, "integrate", engine.integrate)
        engine.commit = _timed(child, "commit", engine.commit)
        recv, send = conn.recv, conn.send
        conn.recv = _timed(child, "wait_for_message", recv)
        conn.send = _timed(child, "send_reply", send)
        try:
            serve(engine, conn)
        finally:
            with open(log_path, "w") as f:
                json.dump(dict(child), f)

    pipeline._serve = timed_serve
    cosim, _ = make_cosim(sim, [31, 65], 1000, seed, "poisson", "tvb", pipeline=True)
    with cosim:
        backend = cosim.backend
        type(backend).advance = _timed(spent, "spiking_advance", type(backend).advance)
        cosim.run(13.0)  # untimed: the first windows
        spent.clear()
        before = cosim.recording.n_windows
        t0 = time.perf_counter()
        cosim.run(duration)
        total = time.perf_counter() - t0
        windows = cosim.recording.n_windows - before
    time.sleep(0.5)
    with open(log_path) as f:
        child = json.load(f)
    return total, dict(spent), child, windows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1000.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        total, main_spent, child, windows = profile(args.duration, args.seed,
                                                    os.path.join(tmp, "tvb.json"))
    # begin_window contains the wait for TVB's window; end_window contains the commit request
    main_spent = {k: round(v, 3) for k, v in main_spent.items()}
    report = {"duration_ms": args.duration, "run_s": round(total, 3), "windows": windows,
              "main_s": main_spent, "tvb_process_s": {k: round(v, 3) for k, v in child.items()},
              "main_rest_s": round(total - main_spent.get("begin_window", 0)
                                   - main_spent.get("end_window", 0)
                                   - main_spent.get("spiking_advance", 0)
                                   - main_spent.get("receive_replies", 0), 3)}
    report["per_window_ms"] = {k: round(1000 * v / max(windows, 1), 3)
                               for k, v in {**main_spent,
                                            **{f"tvb_{k}": v for k, v in child.items()}}.items()}
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
