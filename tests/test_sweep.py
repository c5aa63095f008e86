"""Sweeps on a real Dask LocalCluster (2 worker processes on the loopback interface).

The cluster is started by the module's fixture and closed after its tests.
Every point runs the small W1 (2 x 200 neurons) on NEST for 40 ms.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import xarray as xr

import pynn_multiscale as pm
import pynn_multiscale.analysis
from pynn_multiscale.results import Result
from pynn_multiscale.sweep import SweepFolder
from isolation import isolated
from sweep_points import (DURATION, GRID, SEEDS, direct, outputs, same, small_point,
                          spike_count)

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def client():
    with pm.sweep.local_cluster(workers=2, dashboard=False, quiet=True) as c:
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in c.nthreads())
        assert sorted(c.nthreads().values()) == [1, 1]  # two single-threaded processes
        yield c


@pytest.fixture(scope="module")
def finished(client, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "grid"
    summary = pm.sweep.run(small_point, grid=GRID, seeds=SEEDS, duration=DURATION, out=out,
                           client=client, progress=False)
    return out, summary


def _records(out):
    folder = SweepFolder.read(out)
    return {p.key: folder.state(p) for p in folder.points()}


def test_every_point_equals_the_same_cosimulation_run_directly_in_a_fresh_process(finished):
    out, summary = finished
    folder = SweepFolder.read(out)
    points = folder.points()
    assert len(points) == 8 and (summary["state"] == "done").all()
    fresh = isolated(direct)
    for p in points:
        swept = outputs(Result.load(folder.directory(p) / "result"))
        assert same(swept, fresh(tuple(sorted(p.params.items())), p.seed, DURATION)), p
    # positive control: the comparison tells two seeds (and two points) apart
    a, b = points[0], points[1]
    assert a.params == b.params and a.seed != b.seed
    assert not same(outputs(Result.load(folder.directory(a) / "result")),
                    outputs(Result.load(folder.directory(b) / "result")))
    assert sum(len(t) for t, _ in outputs(Result.load(folder.directory(a) / "result"))[1]
               .values()) > 50  # the networks fire


def test_the_summary_opens_with_plain_xarray_with_the_grid_as_coordinates(finished):
    out, summary = finished
    with xr.open_dataset(out / "summary.nc") as plain:
        assert {d: plain.sizes[d] for d in ("G", "lamda", "seed")} == {"G": 2, "lamda": 2,
                                                                       "seed": 2}
        assert plain["G"].values.tolist() == GRID["G"]
        assert plain["lamda"].values.tolist() == GRID["lamda"]
        assert plain["seed"].values.tolist() == SEEDS
        assert plain["rate_hz"].dims == ("G", "lamda", "seed", "population")
        assert sorted(plain["population"].values.tolist()) == sorted(
            f"{side}_superiortemporal/{pop}" for side in "lr" for pop in "EI")
        assert plain["Raw_mean"].dims == ("G", "lamda", "seed", "Raw_variable", "region")
        assert plain["state"].values.tolist() == [[["done"] * 2] * 2] * 2
        assert np.array_equal(plain["rate_hz"].values, summary["rate_hz"].values)
    # each entry is that point's own result: recompute one from its files
    folder = SweepFolder.read(out)
    p = folder.points()[5]
    rows = pm.analysis.population_summary(Result.load(folder.directory(p) / "result"))
    for row in rows:
        label = f"{row['region_label']}/{row['population']}"
        assert summary["rate_hz"].sel(population=label, seed=p.seed, **p.params).item() == \
            pytest.approx(row["rate_hz"], rel=1e-12)
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["spec"]["grid"] == GRID and meta["spec"]["seeds"] == SEEDS
    assert meta["versions"]["nest-simulator"] and meta["versions"]["distributed"]
    assert [r["state"] for r in meta["points"]] == ["done"] * 8


def test_running_the_same_sweep_again_runs_nothing(finished, client):
    out, summary = finished
    before = {k: (r["runs"], os.stat(out / "points" / k / "point.json").st_mtime_ns)
              for k, r in _records(out).items()}
    again = pm.sweep.run(small_point, grid=GRID, seeds=SEEDS, duration=DURATION, out=out,
                         client=client, progress=False)
    after = {k: (r["runs"], os.stat(out / "points" / k / "point.json").st_mtime_ns)
             for k, r in _records(out).items()}
    assert before == after and all(runs == 1 for runs, _ in after.values())
    assert again.drop_vars("wall_s").identical(summary.drop_vars("wall_s"))


def test_a_changed_grid_on_the_folder_is_refused(finished):
    out, _ = finished
    with pytest.raises(pm.ConfigurationError, match=f"out='{out}' holds another sweep.*"
                                                    "extend=True"):
        pm.sweep.run(small_point, grid={"G": [1.0, 3.0], "lamda": [0.0, 1.0]}, seeds=SEEDS,
                     duration=DURATION, out=out)
    with pytest.raises(pm.ConfigurationError, match="its duration_ms is 40.0"):
        pm.sweep.run(small_point, grid=GRID, seeds=SEEDS, duration=80.0, out=out)
    assert json.loads((out / "sweep.json").read_text())["spec"]["grid"] == GRID  # untouched


def test_an_invalid_point_is_recorded_with_the_packages_message_and_the_others_complete(
        client, tmp_path):
    """With a user's reducer (a dict of numbers), which becomes the summary's variables."""
    out = tmp_path / "bad"
    summary = pm.sweep.run(small_point, grid={"G": [1.0], "sync_interval": [2.6, 100.0]},
                           seeds=[0], duration=DURATION, out=out, client=client,
                           reducer=spike_count, progress=False)
    good, bad = (summary["state"].sel(sync_interval=v, G=1.0, seed=0).item()
                 for v in (2.6, 100.0))
    assert (good, bad) == ("done", "failed")
    record = [r for r in _records(out).values() if r["params"]["sync_interval"] == 100.0][0]
    assert record["error_type"] == "ConfigurationError"
    assert record["error"].startswith("sync_interval=100.0 is invalid: expected at most")
    assert "Fix:" in record["error"] and "make_plan" in record["traceback"]
    assert np.isnan(summary["n_spikes"].sel(sync_interval=100.0)).all()
    assert summary["n_spikes"].sel(sync_interval=2.6).item() > 50
    good = [r for r in _records(out).values() if r["params"]["sync_interval"] == 2.6][0]
    assert summary["first_rate_hz"].sel(sync_interval=2.6).item() == \
        pm.analysis.population_summary(Result.load(out / "points" / good["key"] /
                                                   "result"))[0]["rate_hz"]
    assert "rate_hz" not in summary


def test_a_killed_worker_and_a_killed_point_process_cost_only_their_points(client, tmp_path):
    out = tmp_path / "kill"
    grid = {"G": [1.0, 2.0]}
    killed = {}

    def killer():
        # the first point seen running: kill its worker; the next: kill its own process
        deadline = time.monotonic() + 300
        while len(killed) < 2 and time.monotonic() < deadline:
            for path in (out / "points").glob("*/point.json"):
                try:
                    record = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                key = record["key"]
                if record["state"] != "running" or key in killed or record["runs"] != 1:
                    continue
                time.sleep(1.0)  # well inside the point (startup, build or run)
                victim = record["parent_pid"] if not killed else record["pid"]
                killed[key] = {"what": "worker" if not killed else "point process",
                               "child": record["pid"], "victim": victim}
                os.kill(victim, signal.SIGKILL)
                break
            time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    summary = pm.sweep.run(small_point, grid=grid, seeds=[0, 1], duration=DURATION, out=out,
                           client=client, progress=False)
    thread.join()
    assert [k["what"] for k in killed.values()] == ["worker", "point process"]
    assert (summary["state"] == "done").all()
    records = _records(out)
    assert len(records) == 4 and len(list((out / "points").iterdir())) == 4
    for key, record in records.items():
        assert record["runs"] == (2 if key in killed else 1), record
        assert Result.load(out / "points" / key / "result").complete
    for info in killed.values():  # the killed worker's point process died with it
        assert not psutil.pid_exists(info["child"]) or \
            psutil.Process(info["child"]).status() == psutil.STATUS_ZOMBIE
    # the retried points give what they would have given unkilled
    fresh = isolated(direct)
    folder = SweepFolder.read(out)
    for p in folder.points():
        if p.key in killed:
            assert same(outputs(Result.load(folder.directory(p) / "result")),
                        fresh(tuple(sorted(p.params.items())), p.seed, DURATION))


def test_an_interrupted_sweep_resumes_with_only_the_missing_points(finished, client, tmp_path):
    out = tmp_path / "interrupted"
    driver = subprocess.Popen([sys.executable, str(HERE / "sweep_driver.py"), str(out)],
                              cwd=HERE, start_new_session=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and driver.poll() is None:
        states = [json.loads(p.read_text())["state"]
                  for p in (out / "points").glob("*/point.json")] if out.exists() else []
        if states.count("done") >= 2:
            break
        time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGINT)  # Ctrl-C at the terminal: the whole process group
    log = driver.communicate(timeout=120)[0].decode()
    assert driver.returncode != 0 and "KeyboardInterrupt" in log, log[-2000:]
    stopped = _records(out)
    done = {k: (r["runs"], os.stat(out / "points" / k / "point.json").st_mtime_ns)
            for k, r in stopped.items() if r["state"] == "done"}
    assert 2 <= len(done) < 8
    written = json.loads((out / "sweep.json").read_text())["points"]
    assert {r["key"] for r in written if r["state"] == "done"} == set(done)

    summary = pm.sweep.run(small_point, grid=GRID, seeds=SEEDS, duration=DURATION, out=out,
                           client=client, progress=False)
    after = _records(out)
    assert all(r["state"] == "done" for r in after.values())
    for key, (runs, mtime) in done.items():  # the completed points were not run again
        assert (after[key]["runs"], os.stat(out / "points" / key / "point.json").st_mtime_ns) \
            == (runs, mtime)
    _, uninterrupted = finished
    assert summary.drop_vars("wall_s").identical(uninterrupted.drop_vars("wall_s"))


def test_a_point_at_the_default_loop_is_pipelined_only_with_two_cores_per_point(client,
                                                                               tmp_path):
    """cores_per_point reaches the point (PYNN_MULTISCALE_CORES): pipeline=None then takes
    turns on one core and pipelines on two, at the same interval."""
    from sweep_points import default_loop_point

    for cores, pipelined in ((1, False), (2, True)):
        out = tmp_path / f"cores{cores}"
        pm.sweep.run(default_loop_point, grid={"G": [1.0]}, seeds=[0], duration=DURATION,
                     out=out, client=client, cores_per_point=cores, progress=False)
        (record,) = _records(out).values()
        meta = Result.load(out / "points" / record["key"] / "result").metadata
        assert meta["pipeline"] is pipelined, meta["loop_note"]
        assert meta["sync_interval_ms"] == pytest.approx(1.3)
        assert (meta["loop_note"] is None) == pipelined


def test_a_pipelined_point_through_a_scheduler_address(client, tmp_path):
    """A point may run TVB in a second process of its own; the sweep connects by address."""
    out = tmp_path / "pipelined"
    summary = pm.sweep.run(small_point, grid={"G": [1.0], "pipeline": [True]}, seeds=[0],
                           duration=DURATION, out=out, scheduler=client.scheduler.address,
                           progress=False)
    assert (summary["state"] == "done").all()
    (record,) = _records(out).values()
    result = Result.load(out / "points" / record["key"] / "result")
    assert result.metadata["sync_interval_ms"] == pytest.approx(1.3)  # the pipelined interval
    assert summary["rate_hz"].notnull().all()
