"""Analog signals (V_m, conductances) read by the NEST backend window by window.

The backend reads PyNN's multimeter after every window with the spike
recorders and clears it; PyNN's ``get_data`` then builds its signals from
the backend's arrays.  Shown here, on a real NEST network:

* the samples equal PyNN's own read of the same multimeter, bit for bit,
  whether the multimeter is cleared between windows or not;
* the value at t = 0 is the one each cell started from (PyNN's own is a new
  random draw at every read: the upstream test below fails once PyNN fixes it);
* an assembly of two views of one recorded population has its signals (neo
  refused to merge the two reads' columns);
* ``get_data(clear=True)`` during the co-simulation is refused with the fix, and
  so is an assembly whose populations record at different intervals;
* ``run(out=...)`` streams the signals: the folder holds the in-memory
  run's signals, and a run whose process is killed keeps the samples of its
  completed windows, after those of the earlier runs (``tests/test_kill.py``
  kills one 22 times).
"""

import numpy as np
import pytest

from isolation import isolated
from small_w1 import signals_of

DURATION = 60.0


def _build(sim, idx, label, rng):
    from small_w1 import small_build

    region = small_build(sim, idx, label, rng)
    region.populations["E"].record(["v", "gsyn_exc"], sampling_interval=0.5)
    region.populations["I"][5:25].record("v")
    # one population's cells under two names, in another order
    region.populations["mix"] = region.populations["I"][18:22] + region.populations["I"][6:9]
    return region


def _run(flush_events=None, out=None, runs=(DURATION,), compare_pynn=False):
    import pynn_multiscale as pm
    from pynn_multiscale.backends.nest import NestBackend
    from small_w1 import small_w1

    if flush_events is not None:
        NestBackend.flush_events = flush_events
    flushes, original = [0], NestBackend._flush_recorders

    def flush(self):
        flushes[0] += 1
        original(self)

    NestBackend._flush_recorders = flush
    with small_w1(seed=3, build_region=_build) as cosim:
        for duration in runs:
            cosim.run(duration, out=out)
        backend = cosim.backend
        pynn = {}
        if compare_pynn:  # PyNN's own read of what the multimeters still hold
            for idx in (31, 65):
                for name in ("E", "I"):
                    recorder = cosim.regions[idx].populations[name].recorder
                    for variable in recorder.recorded:
                        if variable.name == "spikes":
                            continue
                        ids = sorted(recorder.filter_recorded(variable, None))
                        with backend._pynn_clock():
                            own = type(recorder)._get_all_signals(recorder, variable, ids)[0]
                            ours = recorder._get_all_signals(variable, ids)[0]
                        pynn[(idx, name, variable.name)] = (own, ours)
        result = pm.Result.load(out) if out is not None else cosim.result()
    return signals_of(result), pynn, flushes[0]


run = isolated(_run)


def test_samples_equal_pynns_own_read_and_clearing_changes_nothing():
    kept, pynn, flushes = run(flush_events=10 ** 12, compare_pynn=True)
    assert flushes <= 2  # the spike recorders' clearing clears the multimeters too
    assert len(pynn) == 6
    for key, (own, ours) in pynn.items():
        assert own.shape == ours.shape and own.shape[0] >= DURATION / 0.5 - 5, key
        # every sample after t = 0 is PyNN's, to the bit
        assert np.array_equal(own[1:], ours[1:]), key
    cleared, _, flushes = run()
    assert flushes >= 15  # cleared after nearly every window (23 windows)
    assert kept.keys() == cleared.keys() and len(kept) == 8
    for key, (rows, channels, period) in kept.items():
        assert np.array_equal(cleared[key][0], rows), key
        assert np.array_equal(cleared[key][1], channels), key


def _initial_values():
    """V_m at t = 0 in the co-simulation's signal, NEST's V_m before the first window, and
    the first sample 0.1 ms later."""
    import pynn_multiscale as pm  # noqa: F401
    from pynn_multiscale.backends.nest import NestBackend
    from small_w1 import small_w1

    seen, built = {}, {}
    original = NestBackend.start

    def start(self):
        original(self)  # NEST's state now is the one the first window starts from
        seen["nest"] = np.asarray(built[31].node_collection.get("V_m"), dtype=float)

    NestBackend.start = start

    def build(sim, idx, label, rng):
        from small_w1 import small_build

        region = small_build(sim, idx, label, rng)
        region.populations["E"].record("v")
        built[idx] = region.populations["E"]
        return region

    with small_w1(seed=3, build_region=build) as cosim:
        result = cosim.run(5.0)
    (v,) = [s for s in result.spiking[31].segments[0].analogsignals
            if s.annotations["population"] == "E"]
    return np.asarray(v.magnitude), seen["nest"]


def test_the_value_at_t0_is_the_one_each_cell_started_from():
    v, nest_start = isolated(_initial_values)()
    assert v.shape[1] == 160 and np.ptp(nest_start) > 1.0  # random initial potentials
    assert np.array_equal(v[0], nest_start)
    # 0.1 ms later each cell is still close to where it started
    assert np.abs(v[1] - v[0]).max() < 1.0


def _pynn_initial_row_twice():
    import pyNN.nest as sim

    sim.setup(timestep=0.1)
    pop = sim.Population(20, sim.IF_cond_alpha())
    pop.initialize(v=sim.RandomDistribution("uniform", (-70.0, -50.0), rng=sim.NumpyRNG(seed=3)))
    pop.record("v")
    started = np.asarray(pop.node_collection.get("V_m"), dtype=float)
    sim.run(1.0)
    first = np.asarray(pop.get_data().segments[0].analogsignals[0].magnitude)[0]
    second = np.asarray(pop.get_data().segments[0].analogsignals[0].magnitude)[0]
    sim.end()
    return started, first, second


def test_upstream_pynn_puts_a_new_random_draw_at_t0():
    """PyNN (0.13) evaluates a random initial value again at each read: the t = 0 sample is
    not the cell's starting value.  When this fails, PyNN has fixed it."""
    started, first, second = isolated(_pynn_initial_row_twice)()
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, started)


def test_streamed_run_holds_the_in_memory_signals(tmp_path):
    memory, _, _ = run(runs=(30.0, 30.0))
    streamed, _, _ = run(out=str(tmp_path / "out"), runs=(30.0, 30.0))
    assert memory.keys() == streamed.keys() and len(memory) == 8
    for key, (rows, channels, period) in memory.items():
        assert np.array_equal(streamed[key][0], rows), key
        assert np.array_equal(streamed[key][1], channels), key
        assert streamed[key][2] == period
    # the assembly of two views: its cells' columns of I's signal, in its order
    (rows_i, channels_i, _) = memory[(31, "I", "v")]
    column = {int(c): k for k, c in enumerate(channels_i)}
    mix = memory[(31, "mix", "v")]
    assert np.array_equal(mix[1], np.arange(7))
    assert np.array_equal(mix[0], rows_i[:, [column[c] for c in (18, 19, 20, 21, 6, 7, 8)]])


def _second_run_left_open(out):
    """Two streamed runs; the second leaves its stream/ as a SIGKILL would (its closing is
    skipped), so loading the folder recovers it after the first run's NIX signals."""
    import pynn_multiscale as pm
    from pynn_multiscale import recording
    from small_w1 import small_w1

    with small_w1(seed=3, build_region=_build) as cosim:
        cosim.flush_windows = 4  # parts as well as a journal
        cosim.run(30.0, out=out)
        recording.Recording.finish = lambda *args, **kwargs: None
        cosim.run(30.0, out=out)
        cosim.recording.writer._journal.close()
    result = pm.Result.load(out)
    return signals_of(result), result.complete, result.reason


def test_a_killed_second_run_keeps_the_first_runs_signals_and_its_own(tmp_path):
    memory, _, _ = run(runs=(30.0, 30.0))
    got, complete, reason = isolated(_second_run_left_open)(str(tmp_path / "out"))
    assert not complete and "after t = 30 ms" in reason
    assert got.keys() == memory.keys()
    for key, (rows, channels, _) in memory.items():
        # up to where NEST had delivered the samples: the whole run but its last min_delay
        n = len(got[key][0])
        assert len(rows) - 4 <= n <= len(rows), key
        assert np.array_equal(got[key][0], rows[:n]), key
        assert np.array_equal(got[key][1], channels), key


def _mixed_intervals(simulator):
    import pynn_multiscale as pm
    from pynn_multiscale.backends import simulator_module
    from small_w1 import small_w1

    def build(sim, idx, label, rng):
        from small_w1 import small_build

        region = small_build(sim, idx, label, rng)
        region.populations["E"].record("v", sampling_interval=0.5)
        region.populations["I"].record("v", sampling_interval=1.0)
        region.populations["all"] = region.populations["E"] + region.populations["I"]
        return region

    try:
        small_w1(seed=3, sim=simulator_module(simulator), build_region=build)
    except pm.ConfigurationError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("simulator", ["nest", "annarchy"])
def test_an_assembly_recorded_at_two_intervals_is_refused_before_the_run(simulator):
    """neo cannot merge its signals: it failed with a MergeError when the result was built,
    after the whole run.  The ANNarchy adapter keeps its intervals without a PyNN recorder."""
    message = isolated(_mixed_intervals)(simulator)
    assert message is not None
    assert "'all'" in message and "every 0.5 ms" in message and "every 1 ms" in message
    assert "Fix:" in message and "sampling_interval" in message


def _clear_inside():
    import pynn_multiscale as pm  # noqa: F401
    from small_w1 import small_w1

    with small_w1(seed=3, build_region=_build) as cosim:
        cosim.run(5.0)
        try:
            cosim.regions[31].populations["E"].get_data("v", clear=True)
        except pm.ConfigurationError as exc:
            return str(exc)
    return None


def test_get_data_clear_during_the_cosimulation_is_refused_with_the_fix():
    message = isolated(_clear_inside)()
    assert message is not None
    assert "clear=True" in message and "Fix:" in message and "without clear" in message


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
