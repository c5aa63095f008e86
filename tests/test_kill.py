"""A streamed run killed with SIGKILL keeps every completed window.

A small W1 (2 x 200 neurons on NEST, 77 windows of 2.6 ms) streams to disk
in a child process, with a part every 10 windows and the NIX files rewritten
at each part.  It is killed 22 times: 8 times by the parent at a random
moment, and 14 times by itself in the middle of a write (a window's journal
record, a part file, the switch to a new journal, a NIX file, the renaming of
the NIX files), each at a different window.  After each kill:

* ``Result.load`` opens the folder, says it is incomplete and where it
  stopped;
* plain xarray opens ``tvb.nc`` and every part, plain neo every NIX file;
* every window it holds equals the uninterrupted run (TVB arrays and spikes);
* no completed window is lost: it holds at least every window the child had
  reported committed (the bound: only the window being recorded is lost).
"""

import json
import os
import random
import signal
import time

import neo
import numpy as np
import pytest
import xarray as xr

import pynn_multiscale as pm
from pynn_multiscale.fileformat import ResultIOError
from pynn_multiscale.store import ResultWriter
from isolation import _context
from kill_child import child
from small_w1 import signals_of, spikes_of

DURATION = 200.0
INTERVAL_STEPS = 26  # W1's 2.6 ms interval, in 0.1 ms steps
SEED = 9

rng = random.Random(2026)
KILLS = ([("random", rng.randint(3, 70)) for _ in range(8)]
         + [("journal", at) for at in (1, 17, 45, 71)]  # the record of window at - 1
         + [("part", at) for at in (1, 4, 7)]  # the at-th part
         + [("rotate", at) for at in (2, 6)]  # after the at-th part
         + [("nix", at) for at in (1, 6, 13)]  # the at-th NIX file written
         + [("nix_rename", at) for at in (3, 10)])  # the at-th NIX rename


def run_child(out, mode, at):
    """Run the child; return the windows it reported committed, and how it ended."""
    context = _context()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=child, args=(str(out), SEED, DURATION, mode, at, send))
    process.start()
    send.close()
    committed, done = [], False
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if not receive.poll(0.05):
            if not process.is_alive():
                break
            continue
        try:
            message = receive.recv()
        except EOFError:
            break
        if message == "done":
            done = True
            break
        committed.append(message)
        if mode == "random" and message >= at:
            time.sleep(random.Random(at).uniform(0.0, 0.008))
            os.kill(process.pid, signal.SIGKILL)
            break
    process.join(60)
    return committed, done, process.exitcode


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("kill") / "reference"
    committed, done, code = run_child(out, "none", 0)
    assert done and code == 0
    result = pm.Result.load(out)
    assert result.complete and not (out / "stream").exists()
    assert len(committed) == int(np.ceil(DURATION / 2.6))
    return result


@pytest.mark.parametrize("mode,at", KILLS, ids=[f"{m}-{a}" for m, a in KILLS])
def test_killed_run_keeps_every_completed_window(tmp_path, reference, mode, at):
    out = tmp_path / "run"
    committed, done, code = run_child(out, mode, at)
    assert not done and code == -signal.SIGKILL

    # plain readers open every file that is there
    with xr.open_dataset(out / "tvb.nc", engine="h5netcdf") as plain:
        assert "Raw" in plain.data_vars
    for part in sorted((out / "stream").glob("part_*.nc")):
        with xr.open_dataset(part, engine="h5netcdf") as plain:
            assert plain["Raw"].sizes["Raw_time"] == 10 * INTERVAL_STEPS
    for nix in sorted(out.glob("spiking_region_*.nix")):
        with neo.io.NixIO(str(nix), mode="ro") as io:
            assert io.read_block().segments[0].spiketrains
    summary = json.loads((out / "metadata.json").read_text())
    assert summary["complete"] is False

    saved = pm.Result.load(out)
    assert not saved.complete and "did not close its results" in saved.reason
    raw, ref = saved.monitor("Raw"), reference.monitor("Raw")
    n_steps = raw.sizes["time"]
    assert n_steps % INTERVAL_STEPS == 0
    held = n_steps // INTERVAL_STEPS
    stopped = saved.metadata["duration_ms"]
    assert stopped == pytest.approx(held * 2.6)
    assert f"up to t = {stopped:g} ms" in saved.reason
    # no completed window is lost
    assert held >= len(committed) - (1 if mode == "journal" else 0)
    if mode == "journal":
        assert held == at - 1  # the window whose record was cut short is the only one lost
    assert held >= 1 or mode in ("journal", "part", "nix") and at == 1
    # and what it holds is the uninterrupted run's
    assert np.array_equal(raw["time"].values, ref["time"].values[:n_steps])
    assert np.array_equal(raw.values, ref.values[:n_steps])
    got, want = spikes_of(saved), spikes_of(reference)
    assert got.keys() == want.keys()
    for key, (times, index) in want.items():
        keep = times <= stopped + 1e-9
        assert np.array_equal(got[key][0], times[keep]), key
        assert np.array_equal(got[key][1], index[keep]), key
    # the analog signals too: the uninterrupted run's first samples, up to where NEST had
    # delivered them (one min_delay, 1.5 ms, behind the last completed window)
    got, want = signals_of(saved), signals_of(reference)
    assert got.keys() == want.keys() and len(want) == 6
    for key, (rows, channels, period) in want.items():
        n = len(got[key][0])
        assert n >= min(len(rows), int((stopped - 1.5) / period) + 1), (key, n, stopped)
        assert np.array_equal(got[key][0], rows[:n]), key
        assert np.array_equal(got[key][1], channels) and got[key][2] == period, key
    # a new run refuses to write over the recoverable windows, and the fix works
    with pytest.raises(ResultIOError, match="did not finish"):
        ResultWriter(out, None, {})
    copy = saved.save(tmp_path / "recovered")
    assert pm.Result.load(copy).monitor("Raw").sizes["time"] == n_steps


def test_a_new_run_into_a_killed_folder_is_refused_with_the_fix(tmp_path):
    """run(out=...) names the folder, why, and how to keep the recoverable windows."""
    from pynn_multiscale.backends.replay import ReplayBackend
    from test_w3_pure_tvb import make_simulator

    (tmp_path / "run" / "stream").mkdir(parents=True)
    with pm.CoSimulation(make_simulator("ReducedWongWangExcInh", "connectivity_76"),
                         ReplayBackend()) as cosim:
        with pytest.raises(pm.ConfigurationError) as info:
            cosim.run(5.0, out=tmp_path / "run")
    message = str(info.value)
    assert "out=" in message and "did not finish" in message and ".save(" in message
