"""Sweep throughput: 8 points of a small W1 on a 2-worker local Dask cluster against the same 8 in turn.

Both run each point exactly as a sweep does: a fresh interpreter
(``python -m pynn_multiscale.sweep.point``) that builds the co-simulation,
runs it with ``run(out=...)`` and reduces it with ``point_summary``.  In
turn: one process after another, no Dask.  On the cluster:
``pynn_multiscale.sweep.run`` with 2 single-threaded worker processes.  Both
in one sitting: half of the in-turn points before the sweep, half after.

The small W1 is the use case at a fifth of its size (2 regions of 160 E + 40
I neurons), with G in {1, 2}, lambda in {0, 1} and seeds {0, 1}.

Usage::

    python benchmarks/sweep_throughput.py [--duration 1000] [--json]

Reported (JSON): points per minute in turn and on the cluster, their ratio
(the goal on 2 cores is >= 1.8), the cluster's start time, the scheduling
overhead per point (each worker's time not spent inside a point's process,
per point: (T_sweep x workers - sum of the points' process times) / points),
and peak memory: a worker process, a point process, and their sum (what one
worker holds while it runs a point).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))  # the small W1 of the suite

import pynn_multiscale as pm  # noqa: E402
from pynn_multiscale.analysis import point_summary  # noqa: E402
from pynn_multiscale.sweep.points import grid_points  # noqa: E402

GRID = {"G": [1.0, 2.0], "lamda": [0.0, 1.0]}
SEEDS = [0, 1]
WORKERS = 2


def in_turn(points, duration, out):
    """Each point in a fresh interpreter, one after another; returns wall time and records."""
    import cloudpickle
    from sweep_points import small_point

    records = []
    t0 = time.perf_counter()
    for p in points:
        directory = out / p.key
        directory.mkdir(parents=True, exist_ok=True)
        payload = cloudpickle.dumps({"make": small_point, "reducer": point_summary,
                                     "point": dict(p), "duration": duration,
                                     "directory": str(directory)})
        env = dict(os.environ, PYNN_MULTISCALE_SWEEP_PARENT=str(os.getpid()),
                   PYNN_MULTISCALE_SWEEP_PATH=json.dumps(sys.path))
        subprocess.run([sys.executable, "-m", "pynn_multiscale.sweep.point"], input=payload,
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        records.append(json.loads((directory / "point.json").read_text()))
    return time.perf_counter() - t0, records


def _worker_peak_mb():
    import resource as r

    return r.getrusage(r.RUSAGE_SELF).ru_maxrss / 1024.0


def on_cluster(duration, out):
    from sweep_points import small_point

    t0 = time.perf_counter()
    with pm.sweep.local_cluster(workers=WORKERS, dashboard=False, quiet=True) as client:
        started = time.perf_counter() - t0
        t1 = time.perf_counter()
        summary = pm.sweep.run(small_point, grid=GRID, seeds=SEEDS, duration=duration,
                               out=out, client=client, progress=False)
        sweep_s = time.perf_counter() - t1
        worker_peaks = client.run(_worker_peak_mb)
    total = time.perf_counter() - t0
    records = json.loads((out / "sweep.json").read_text())["points"]  # with the workers' times
    return started, sweep_s, total, records, worker_peaks, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1000.0, help="ms per point")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    points = grid_points(GRID, SEEDS)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # in turn: half before the sweep and half after, so that a drift of the machine's
        # speed during the sitting (seen here: the same point 9.2 s, then 11.2 s) cancels
        first_s, first = in_turn(points[::2], args.duration, tmp / "in_turn")
        started, sweep_s, total_s, records, worker_peaks, summary = on_cluster(
            args.duration, tmp / "sweep")
        second_s, second = in_turn(points[1::2], args.duration, tmp / "in_turn")
        turn_s, turn_records = first_s + second_s, first + second
        assert all(r["state"] == "done" for r in records + turn_records)
        same = all(_rates(tmp / "in_turn" / p.key) == _rates(tmp / "sweep" / "points" / p.key)
                   for p in points)
    n = len(points)
    busy = sum(r["wall_s_with_startup"] for r in records)
    point_peak = max(r["peak_rss_mb"] for r in records)
    out = {
        "benchmark": "sweep_throughput", "points": n, "workers": WORKERS,
        "duration_ms": args.duration, "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load],
        "in_turn_s": round(turn_s, 2),
        "sweep_s": round(sweep_s, 2), "cluster_start_s": round(started, 2),
        "sweep_with_cluster_start_s": round(total_s, 2),
        "points_per_minute_in_turn": round(60 * n / turn_s, 3),
        "points_per_minute_sweep": round(60 * n / sweep_s, 3),
        "points_per_minute_sweep_with_cluster_start": round(60 * n / total_s, 3),
        "ratio": round(turn_s / sweep_s, 3),
        "ratio_with_cluster_start": round(turn_s / total_s, 3),
        "point_process_s_mean_in_turn": round(sum(r["wall_s"] for r in turn_records) / n, 2),
        "point_process_s_mean_sweep": round(sum(r["wall_s"] for r in records) / n, 2),
        "scheduling_overhead_per_point_s": round((sweep_s * WORKERS - busy) / n, 3),
        "peak_rss_mb_worker_process": round(max(worker_peaks.values()), 1),
        "peak_rss_mb_point_process": round(point_peak, 1),
        "peak_rss_mb_per_worker": round(max(worker_peaks.values()) + point_peak, 1),
        "rates_equal_in_turn_and_sweep": same,
        "mean_rate_hz": round(float(summary["rate_hz"].mean()), 3),
    }
    print(json.dumps(out, indent=None if args.json else 1))


def _rates(directory):
    """A point's rates (its summary.nc), to check that both ways ran the same co-simulation."""
    import xarray as xr

    with xr.open_dataset(directory / "summary.nc") as summary:
        return summary["rate_hz"].values.tolist()


if __name__ == "__main__":
    main()
