"""Where a pipelined W1 window's time goes, in both processes.

Runs W1 (``cosim_overhead.make_cosim``: 2 regions of 1000 neurons, Poisson
proxies) with ``pipeline=True`` on NEST and times, per window:

* on the main thread: the spiking simulator's run (``backend.advance``) and
  what happens between two runs (``_Run.between``), split into waiting for
  the window job (``_Run.settle``), reading the window (spikes, the proxies'
  receives: ``_read_window``) and sending the next one (``_send_window``);
* on the window thread, while NEST runs: the window job (``_window_job``:
  the spiking regions' states and the commit request, then the replies and
  TVB's next window, waiting included), and within it the replies
  (``ForkedTVB._receive``);
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


def _timed(spent, key, function):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - t0
    return wrapper


def profile(duration, seed, log_path):
    import pyNN.nest as sim

    from cosim_overhead import make_cosim
    from pynn_multiscale import cosim as cosim_module
    from pynn_multiscale import pipeline

    spent = collections.Counter()
    # main thread
    Run = cosim_module._Run
    Run.between = _timed(spent, "between_runs", Run.between)
    Run.settle = _timed(spent, "wait_for_window_job", Run.settle)
    Cosim = cosim_module.CoSimulation
    Cosim._read_window = _timed(spent, "read_window", Cosim._read_window)
    Cosim._send_window = _timed(spent, "send_window", Cosim._send_window)
    # window thread (one job at a time, so its timers never run together)
    Run._window_job = _timed(spent, "window_job", Run._window_job)
    pipeline.ForkedTVB._receive = _timed(spent, "job_receive_replies", pipeline.ForkedTVB._receive)
    Cosim._hand_to_tvb = _timed(spent, "job_states_and_commit", Cosim._hand_to_tvb)

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
    # between_runs contains wait_for_window_job, read_window and send_window
    main_spent = {k: round(v, 3) for k, v in main_spent.items()}
    report = {"duration_ms": args.duration, "run_s": round(total, 3), "windows": windows,
              "main_s": main_spent, "tvb_process_s": {k: round(v, 3) for k, v in child.items()},
              "main_rest_s": round(total - main_spent.get("between_runs", 0)
                                   - main_spent.get("spiking_advance", 0), 3)}
    report["per_window_ms"] = {k: round(1000 * v / max(windows, 1), 3)
                               for k, v in {**main_spent,
                                            **{f"tvb_{k}": v for k, v in child.items()}}.items()}
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
