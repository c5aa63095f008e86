"""``CoSimulation(pipeline=True)``: TVB one window ahead in a second process.

The pipelined loop must give the sequential loop's results number for number
at the same interval, keep every committed window when it is interrupted,
report errors raised in the TVB process, and refuse the set-ups where it
could not be exact.
"""

import _thread
import os
import signal
import threading
import time

import numpy as np
import pytest
import pyNN.nest as sim

import pynn_multiscale as pm
from pynn_multiscale.tvb import TVBEngine
from isolation import isolated
from small_w1 import small_w1, spikes_of
from tvb_helpers import held_rate_simulator

INTERVAL = 1.3  # half of W1's shortest coupled delay, 2.6 ms


def assert_same_results(a, b):
    for name in a.tvb.data_vars:
        assert np.array_equal(a.tvb[name].values, b.tvb[name].values), name
    sa, sb = spikes_of(a), spikes_of(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        assert np.array_equal(sa[key][0], sb[key][0]), key
        assert np.array_equal(sa[key][1], sb[key][1]), key
    assert sum(len(t) for t, _ in sa.values()) > 100  # the regions did fire


@pytest.fixture(scope="module")
def sequential_reference():
    with small_w1(seed=3, sync_interval=INTERVAL, pipeline=False) as cosim:
        cosim.run(60.0)
        return cosim.run(40.0)


def test_pipelined_run_equals_sequential_run(sequential_reference):
    """Same interval, same seed: identical TVB output and identical spikes, over two run() calls."""
    with small_w1(seed=3, pipeline=True) as cosim:
        assert cosim.n_sync * cosim.dt == pytest.approx(INTERVAL)  # the default is halved
        cosim.run(60.0)
        worker = cosim._tvb._process
        assert worker.is_alive() and worker.pid != os.getpid()
        result = cosim.run(40.0)
        assert result.metadata["duration_ms"] == pytest.approx(100.0)
    assert not worker.is_alive()  # close() ends the TVB process
    assert_same_results(result, sequential_reference)
    assert result.monitor("Raw").sizes["time"] == 1000


def test_interrupted_pipelined_run_keeps_every_committed_window(tmp_path, monkeypatch,
                                                                 sequential_reference):
    """Ctrl-C mid-window: the windows before it are on disk, equal to the uninterrupted run's."""
    monkeypatch.setattr(pm.CoSimulation, "flush_windows", 5)
    window = 23  # of 77
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with small_w1(seed=3, pipeline=True) as cosim:
            backend = cosim.backend
            original, calls = backend.advance, []

            def advance(t_stop):
                calls.append(t_stop)
                original(t_stop)
                if len(calls) == window:
                    thread = threading.Thread(target=_thread.interrupt_main)
                    thread.start()
                    thread.join()
                    time.sleep(0.01)

            backend.advance = advance
            with pytest.raises(KeyboardInterrupt):
                cosim.run(100.0, out=tmp_path / "run")
            stopped = cosim.recording.committed_time
            assert cosim._tvb._process.is_alive()  # the TVB process ignored the Ctrl-C
    finally:
        signal.signal(signal.SIGINT, previous)
    assert stopped == pytest.approx((window - 1) * INTERVAL)
    saved = pm.Result.load(tmp_path / "run")
    assert not saved.complete and "KeyboardInterrupt" in saved.reason
    raw, ref = saved.monitor("Raw"), sequential_reference.monitor("Raw")
    n = raw.sizes["time"]
    assert n == int(round(stopped / 0.1))
    assert np.array_equal(raw.values, ref.values[:n])
    got, want = spikes_of(saved), spikes_of(sequential_reference)
    for key, (times, index) in want.items():
        keep = times <= stopped + 1e-9
        assert np.array_equal(got[key][0], times[keep]), key


def test_an_error_in_the_tvb_process_reaches_the_caller(monkeypatch):
    """The TVB process's exception is raised in the main process, with its traceback."""
    original, calls = TVBEngine.integrate, []

    def failing(self, n_steps):
        calls.append(n_steps)
        if len(calls) == 5:
            raise FloatingPointError("injected in integrate")
        return original(self, n_steps)

    monkeypatch.setattr(TVBEngine, "integrate", failing)  # inherited by the forked process
    with small_w1(seed=3, pipeline=True) as cosim:
        with pytest.raises(FloatingPointError, match="injected in integrate") as excinfo:
            cosim.run(20.0)
        assert any("raised in the TVB process" in note for note in excinfo.value.__notes__)
        assert not calls  # the main process never integrated


def test_a_killed_tvb_process_is_reported(tmp_path):
    with small_w1(seed=3, pipeline=True) as cosim:
        cosim.run(5.2)
        os.kill(cosim._tvb.pid, signal.SIGKILL)
        with pytest.raises(RuntimeError, match="TVB process .* ended unexpectedly"):
            cosim.run(5.2)


def test_set_ups_where_the_pipeline_would_not_be_exact_are_refused():
    with pytest.raises(pm.ConfigurationError, match="sync_interval.*halved for the pipelined loop"):
        small_w1(seed=1, pipeline=True, sync_interval=2.6)
    with pytest.raises(pm.ConfigurationError, match="pipeline.*coupling_mode='tvb'"):
        small_w1(seed=1, pipeline=True, coupling_mode="spiking")
    with pytest.raises(pm.ConfigurationTypeError, match="pipeline"):
        small_w1(seed=1, pipeline="yes")
    # a model without spiking_update: TVB's stand-in values of the spiking region would count
    tvb = held_rate_simulator([[0, 1], [1, 0]], [[0, 4.0], [4.0, 0]], [5.0, 0.0])

    def build(sim, idx, label, rng):
        return pm.SpikingRegion({"E": sim.Population(10, sim.SpikeSourcePoisson(rate=5.0),
                                                     label=label)})

    with pytest.raises(pm.ConfigurationError, match="pipeline.*spiking_update"):
        pm.CoSimulation(tvb, sim, spiking_regions=[1], build_region=build, pipeline=True,
                        to_spiking=[], to_tvb=[pm.proxies.SpikeRate("E", "Rin")])


def test_a_platform_without_fork_refuses_pipeline_true_and_the_default_takes_turns(monkeypatch):
    from pynn_multiscale.models import red_wong_wang as rww
    from pynn_multiscale.plan import check_pipeline

    monkeypatch.delattr(os, "fork")
    args = (rww.tvb_simulator(), rww.default_to_tvb(), "tvb", [31])
    with pytest.raises(pm.CapabilityError, match=r"os\.fork.*Fix: pass pipeline=False"):
        check_pipeline(True, *args)
    assert check_pipeline(None, *args) == (False, "this platform has no os.fork")
    assert check_pipeline(False, *args) == (False, None)


def _small_run(simulator, pipeline):
    """20 ms of the small W1 on ``simulator``, pipelined or not, at the same interval."""
    from pynn_multiscale.backends import simulator_module

    kwargs = {"pipeline": True} if pipeline else {"sync_interval": INTERVAL, "pipeline": False}
    with small_w1(3, simulator_module(simulator), **kwargs) as cosim:
        result = cosim.run(20.0)
    return result.monitor("Raw").values, spikes_of(result)


small_run = isolated(_small_run)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["brian2", "neuron"])
def test_pipeline_is_exact_on_backends_that_run_the_loop_from_callbacks(simulator):
    """Brian2 and NEURON call the loop back from inside one long run: the same exactness."""
    raw_seq, spikes_seq = small_run(simulator, False)
    raw_pip, spikes_pip = small_run(simulator, True)
    assert np.array_equal(raw_seq, raw_pip)
    assert spikes_seq.keys() == spikes_pip.keys()
    for key in spikes_seq:
        assert np.array_equal(spikes_seq[key][0], spikes_pip[key][0]), key
    assert sum(len(t) for t, _ in spikes_seq.values()) > 10


# ------------------------------------------------- the default: pipeline=None
def _loop_of(cosim):
    return cosim.plan.pipeline, cosim.n_sync * cosim.dt, cosim.plan.loop_note


def test_the_default_pipelines_where_exact_and_two_cores_are_free(monkeypatch):
    """Two cores: pipelined, no note.  One: sequential at the same interval, with a note
    that says why.  The results are the same (tests/test_reference_outputs.py)."""
    import warnings

    from pynn_multiscale.plan import CORES_ENV

    monkeypatch.setenv(CORES_ENV, "2")
    with warnings.catch_warnings():
        warnings.simplefilter("error", pm.SequentialLoopNote)
        with small_w1(seed=1) as cosim:
            assert _loop_of(cosim) == (True, pytest.approx(INTERVAL), None)
    monkeypatch.setenv(CORES_ENV, "1")
    with pytest.warns(pm.SequentialLoopNote, match=r"1 core is free and it needs 2") as notes:
        with small_w1(seed=1) as cosim:
            assert _loop_of(cosim)[:2] == (False, pytest.approx(INTERVAL))
            assert cosim.metadata()["loop_note"].startswith("1 core is free")
    (note,) = [w for w in notes if issubclass(w.category, pm.SequentialLoopNote)]
    assert "\n" not in str(note.message) and "pipeline=False" in str(note.message)
    # threads count: 2 cores do not leave one for TVB next to 2 NEST threads
    monkeypatch.setenv(CORES_ENV, "2")
    with pytest.warns(pm.SequentialLoopNote, match=r"2 cores are free and it needs 3"):
        with small_w1(seed=1, threads=2) as cosim:
            assert not cosim.plan.pipeline


def test_the_default_falls_back_to_the_full_interval_where_the_pipeline_is_not_exact(
        monkeypatch):
    from pynn_multiscale.plan import CORES_ENV

    monkeypatch.setenv(CORES_ENV, "4")
    # a user's interval longer than the pipelined loop allows: kept, sequential
    with pytest.warns(pm.SequentialLoopNote, match=r"sync_interval=2\.6 ms is longer than half"):
        with small_w1(seed=1, sync_interval=2.6) as cosim:
            assert _loop_of(cosim)[:2] == (False, pytest.approx(2.6))
    with pytest.warns(pm.SequentialLoopNote, match="coupling_mode='spiking'"):
        with small_w1(seed=1, coupling_mode="spiking", min_delay=1.5) as cosim:
            assert not cosim.plan.pipeline
    # a model without spiking_update: the full interval, and the note names what is missing
    tvb = held_rate_simulator([[0, 1], [1, 0]], [[0, 4.0], [4.0, 0]], [5.0, 0.0])

    def build(sim, idx, label, rng):
        return pm.SpikingRegion({"E": sim.Population(10, sim.SpikeSourcePoisson(rate=5.0),
                                                     label=label)})

    with pytest.warns(pm.SequentialLoopNote, match="has no spiking_update"):
        with pm.CoSimulation(tvb, sim, spiking_regions=[1], build_region=build,
                             to_spiking=[], to_tvb=[pm.proxies.SpikeRate("E", "Rin")]) as cosim:
            assert _loop_of(cosim)[:2] == (False, pytest.approx(4.0))


def test_pipeline_false_is_the_sequential_loop_at_the_full_interval_without_a_note():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", pm.SequentialLoopNote)
        with small_w1(seed=1, pipeline=False) as cosim:
            assert _loop_of(cosim) == (False, pytest.approx(2.6), None)


def test_free_cores_reads_the_environment_and_refuses_nonsense(monkeypatch):
    from pynn_multiscale.plan import CORES_ENV, free_cores

    monkeypatch.setenv(CORES_ENV, "3")
    assert free_cores() == 3
    monkeypatch.setenv(CORES_ENV, "two")
    with pytest.raises(pm.ConfigurationError, match="PYNN_MULTISCALE_CORES.*'two'.*Fix"):
        free_cores()
    monkeypatch.delenv(CORES_ENV)
    assert 1 <= free_cores() <= os.cpu_count()
