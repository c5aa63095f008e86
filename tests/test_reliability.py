"""Reproducible runs, runtime faults that stop a run, and results that survive an interruption."""

import _thread
import os
import random
import signal
import threading
import time

import numpy as np
import pytest
import pyNN.nest as sim

import pynn_multiscale as pm
from pynn_multiscale.backends.replay import ReplayBackend
from pynn_multiscale.models import red_wong_wang as rww
from small_w1 import REGIONS, small_w1, spikes_of
from tvb_helpers import held_rate_simulator


# ------------------------------------------------------------- reproducibility
@pytest.fixture(scope="module")
def three_runs():
    out = []
    for seed in (11, 11, 12):
        with small_w1(seed) as cosim:
            out.append(cosim.run(100.0))
    return out


def test_same_seed_gives_identical_runs(three_runs):
    a, b, _ = three_runs
    assert np.array_equal(a.tvb["Raw"].values, b.tvb["Raw"].values)
    sa, sb = spikes_of(a), spikes_of(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        assert np.array_equal(sa[key][0], sb[key][0]) and np.array_equal(sa[key][1], sb[key][1])
    assert sum(len(v[0]) for v in sa.values()) > 100  # not vacuous: the network fires


def test_different_seeds_differ(three_runs):
    a, _, c = three_runs
    others = [r for r in range(68) if r not in REGIONS]
    assert not np.array_equal(a.tvb["Raw"].values[:, :, others], c.tvb["Raw"].values[:, :, others])
    sa, sc = spikes_of(a), spikes_of(c)
    assert any(not np.array_equal(sa[k][0], sc[k][0]) for k in sa)


def test_seeds_and_parameters_are_in_the_metadata(three_runs):
    meta = three_runs[0].metadata
    assert meta["seeds"] == pm.derive_seeds(11, 2)
    assert meta["seeds"]["tvb_noise"] == meta["tvb"]["noise"]["noise_seed"]
    assert meta["tvb_model_parameters"]["G"] == [rww.G_DEFAULT]
    assert meta["tvb"]["integrator"]["dt"] == 0.1
    # the default loop's interval: half W1's shortest coupled delay, whichever loop ran
    assert meta["sync_interval_ms"] == pytest.approx(1.3)
    assert isinstance(meta["pipeline"], bool)
    assert (meta["loop_note"] is None) == meta["pipeline"]
    assert meta["build_region"].endswith("small_build")
    assert meta["to_spiking"][0]["weight"] == rww.G_DEFAULT * 160


# -------------------------------------------------------------- runtime faults
def test_nan_in_tvb_state_stops_the_run():
    tvb = rww.tvb_simulator(nsig=0.0)
    tvb.model.J_i = np.array([np.nan])  # poisons every region's input after the first step
    with pm.CoSimulation(tvb, ReplayBackend()) as cosim:
        with pytest.raises(pm.NumericalError) as excinfo:
            cosim.run(10.0)
    text = str(excinfo.value)
    for part in ("TVB state", "region 0", "t = 0.1 ms", "Likely cause"):
        assert part in text, (part, text)


def test_nan_in_a_transformed_rate_stops_the_run():
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 1.0], [1.0, 0]], [1.0, 0.0])
    values = np.zeros((100, 1))
    values[37, 0] = np.inf
    with pm.CoSimulation(tvb, ReplayBackend({"Rin": values}), spiking_regions=[1],
                         to_tvb=[pm.proxies.Replay("Rin")]) as cosim:
        with pytest.raises(pm.NumericalError) as excinfo:
            cosim.run(10.0)
    text = str(excinfo.value)
    for part in ("to_tvb", "Rin of region 1 (r1)", "inf", "t = 3.8 ms"):
        assert part in text, (part, text)


def test_runaway_population_stops_the_run():
    """A population driven far above max_rate stops the run, naming it."""
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 2.0], [2.0, 0]], [2000.0, 0.0])

    def build(sim, idx, label, rng):
        return pm.SpikingRegion({"E": sim.Population(20, sim.IF_cond_alpha(**rww.CELL_PARAMS),
                                                     label=label)})

    with pm.CoSimulation(tvb, sim, spiking_regions=[1], build_region=build, max_rate=100.0,
                         to_spiking=[pm.proxies.RateToPoisson("R", "E", weight=10.0,
                                                              synapse_weight=0.05)],
                         to_tvb=[pm.proxies.SpikeRate("E", "Rin")]) as cosim:
        with pytest.raises(pm.NumericalError) as excinfo:
            cosim.run(50.0)
    text = str(excinfo.value)
    for part in ("population E of region 1 (r1)", "max_rate=100 Hz", "runaway"):
        assert part in text, (part, text)


# ------------------------------------------------------------ no lost results
def interrupt_at_window(cosim, window, how):
    """Interrupt the run while the spiking side advances window number ``window`` (from 1).

    "keyboard": another thread calls ``_thread.interrupt_main()`` and is
    joined, so the interrupt is pending when the main thread resumes;
    "sigterm": the process sends itself SIGTERM.  Either way it arrives in
    the middle of a window, as a real Ctrl-C or kill would.
    """
    backend = cosim.backend
    original = backend.advance
    calls = []

    def advance(t_stop):
        calls.append(t_stop)
        original(t_stop)
        if len(calls) == window:
            if how == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                thread = threading.Thread(target=_thread.interrupt_main)
                thread.start()
                thread.join()
            time.sleep(0.01)  # the exception is raised here, at the next bytecode

    backend.advance = advance


@pytest.mark.parametrize("how", ["keyboard", "sigterm"])
def test_interrupted_run_keeps_every_completed_window(tmp_path, how, monkeypatch):
    monkeypatch.setattr(pm.CoSimulation, "flush_windows", 5)  # many chunks on disk
    duration = 150.0
    with small_w1(seed=5) as cosim:
        reference = cosim.run(duration)
    window = random.Random(how).randint(8, 50)  # a random window of the 58
    expected_error = pm.cosim.RunTerminated if how == "sigterm" else KeyboardInterrupt
    # a shell that starts a job in the background ignores SIGINT for it, and then
    # interrupt_main() does nothing: give SIGINT Python's usual handler for the test
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with small_w1(seed=5) as cosim:
            interrupt_at_window(cosim, window, how)
            with pytest.raises(expected_error):
                cosim.run(duration, out=tmp_path / "run")
            stopped = cosim.recording.committed_time
            interval = cosim.n_sync * cosim.dt
    finally:
        signal.signal(signal.SIGINT, previous)
    saved = pm.Result.load(tmp_path / "run")
    assert not saved.complete
    assert ("SIGTERM" in saved.reason) if how == "sigterm" else ("KeyboardInterrupt" in saved.reason)
    assert stopped == pytest.approx((window - 1) * interval)  # the interrupted window is not kept
    raw, ref = saved.monitor("Raw"), reference.monitor("Raw")
    n = raw.sizes["time"]
    assert n == int(round(stopped / 0.1))  # every step of every completed window
    assert np.array_equal(raw["time"].values, ref["time"].values[:n])
    assert np.array_equal(raw.values, ref.values[:n])
    got, want = spikes_of(saved), spikes_of(reference)
    for key, (times, index) in want.items():
        keep = times <= stopped + 1e-9
        assert np.array_equal(got[key][0], times[keep])
        assert np.array_equal(got[key][1], index[keep])
    # and the interrupted object refuses to go on
    with pytest.raises(pm.ConfigurationError):
        cosim.run(10.0)


def test_streamed_run_equals_in_memory_run(tmp_path, monkeypatch):
    monkeypatch.setattr(pm.CoSimulation, "flush_windows", 7)
    # the same run() calls in both: window boundaries (and with them the input
    # spikes drawn) depend on where a call ends
    with small_w1(seed=6) as cosim:
        cosim.run(30.0)
        in_memory = cosim.run(30.0)
    with small_w1(seed=6) as cosim:
        path = cosim.run(30.0, out=tmp_path / "s")
        assert pm.Result.load(path).complete
        cosim.run(30.0, out=tmp_path / "s")
    streamed = pm.Result.load(tmp_path / "s")
    assert streamed.complete and streamed.reason is None
    assert np.array_equal(streamed.tvb["Raw"].values, in_memory.tvb["Raw"].values)
    assert np.array_equal(streamed.tvb["Raw_time"].values, in_memory.tvb["Raw_time"].values)
    a, b = spikes_of(streamed), spikes_of(in_memory)
    for key in b:
        assert np.array_equal(a[key][0], b[key][0])
    assert streamed.metadata == in_memory.metadata and streamed.metadata["duration_ms"] == 60.0


def test_output_path_that_is_not_writable(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pm.CoSimulation(rww.tvb_simulator(), ReplayBackend()) as cosim:
        with pytest.raises(pm.ConfigurationError) as excinfo:
            cosim.run(1.0, out=blocker / "run")
        assert cosim.engine.time == 0.0  # nothing ran
    text = str(excinfo.value)
    assert "out=" in text and "a_file" in text and "Fix:" in text


# ---------------------------------------------------------- one kernel, one run
def test_second_cosimulation_on_nest_is_refused_while_the_first_is_open():
    with small_w1(seed=1) as first:
        with pytest.raises(pm.KernelInUseError) as excinfo:
            small_w1(seed=2)
        assert "close it first" in str(excinfo.value)
        first.run(5.0)  # the first one is untouched and still runs


def test_after_closing_the_second_network_is_alone_in_the_kernel():
    import nest

    with small_w1(seed=1) as first:
        first.run(5.0)
        size_one = nest.network_size
    with pytest.raises(pm.ConfigurationError):
        first.run(5.0)  # closed: it cannot touch the new kernel
    with small_w1(seed=1) as second:
        assert nest.network_size == size_one  # a fresh kernel holds only the new network
        second.run(5.0)
