"""Long synaptic delays build and run; an error about delays names the bound it breaks; the
runaway check stops a sustained rate above ``max_rate`` and lets a brief burst through."""

import math

import numpy as np
import pytest
import pyNN.nest as sim

import pynn_multiscale as pm
from pynn_multiscale.backends.replay import ReplayBackend
from pynn_multiscale.cosim import _RateSpan
from pynn_multiscale.plan import grown_max_delay
from tvb_helpers import held_rate_simulator


def two_regions():
    """Region 0 a held TVB rate, region 1 spiking; 2 ms between them (the window)."""
    return held_rate_simulator([[0, 0], [1, 0]], [[0, 2.0], [2.0, 0]], [0.0, 0.0])


def assert_message(text, *parts, absent=()):
    for part in parts:
        assert part in text, (part, text)
    for part in absent:
        assert part not in text, (part, text)
    assert "Fix:" in text


# ----------------------------------------------------------------------- delays
def relay_builder(long_delay, short_delay=1.5, calls=None):
    """One source spike at 5 ms reaches "near" after ``short_delay`` and "far" after
    ``long_delay``; one spike is enough to make each fire."""
    def build(sim, idx, label, rng):
        if calls is not None:
            calls.append(idx)
        src = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0]), label=f"{label}_src")
        near = sim.Population(1, sim.IF_cond_alpha(), label=f"{label}_near")
        far = sim.Population(1, sim.IF_cond_alpha(), label=f"{label}_far")
        projections = [sim.Projection(src, target, sim.AllToAllConnector(),
                                      sim.StaticSynapse(weight=0.5, delay=delay),
                                      receptor_type="excitatory", label=name)
                       for target, delay, name in ((near, short_delay, "to_near"),
                                                   (far, long_delay, "to_far"))]
        return pm.SpikingRegion({"src": src, "near": near, "far": far}, projections)
    return build


def relay(build, simulator=sim, **kwargs):
    return pm.CoSimulation(two_regions(), simulator, spiking_regions=[1], build_region=build,
                           to_tvb=[pm.proxies.SpikeRate("far", "Rin")], **kwargs)


def first_spikes(result):
    return {st.annotations["population"]: (st.magnitude[0] if st.size else math.nan)
            for st in result.spiking[1].segments[0].spiketrains}


def test_a_40ms_delay_builds_runs_and_arrives_40ms_later():
    """Longer than the 10 ms max_delay the co-simulation starts from: NEST refuses it, the
    simulator is set up again with a max_delay that covers it, and the builder runs again."""
    calls = []
    with relay(relay_builder(40.0, calls=calls)) as cosim:
        first = first_spikes(cosim.run(60.0))
        assert calls == [1, 1]  # built once more, after the refusal
        assert cosim.max_delay == pytest.approx(40.1)  # 40 ms and one step: not huge
        assert cosim.metadata()["max_delay_ms"] == cosim.max_delay
    assert first["src"] == 5.0
    assert 5.0 + 1.5 < first["near"] < 5.0 + 1.5 + 2.0
    # the same cell, the same input: only the delay differs
    assert first["far"] - first["near"] == pytest.approx(40.0 - 1.5, abs=1e-9)


def test_a_delay_within_the_derived_max_delay_builds_once():
    calls = []
    with relay(relay_builder(8.0, calls=calls)) as cosim:
        assert calls == [1] and cosim.max_delay == 10.0


def test_a_given_max_delay_is_used_and_recorded():
    calls = []
    with relay(relay_builder(40.0, calls=calls), max_delay=45.0) as cosim:
        first = first_spikes(cosim.run(60.0))
        assert calls == [1] and cosim.metadata()["max_delay_ms"] == 45.0
        import nest

        assert nest.max_delay == 45.0
    assert first["far"] - first["near"] == pytest.approx(38.5, abs=1e-9)


def test_a_delay_above_a_given_max_delay_names_max_delay():
    with pytest.raises(pm.ConfigurationError) as excinfo:
        relay(relay_builder(40.0), max_delay=20.0)
    assert_message(str(excinfo.value), "'to_far'", "max_delay (20 ms", "region 1 (r1)",
                   "40", "pass a larger max_delay", "max_delay=None",
                   absent=("min_delay=",))
    with relay(relay_builder(4.0)):  # the kernel was released
        pass


def test_a_delay_below_min_delay_still_names_min_delay():
    with pytest.raises(pm.ConfigurationError) as excinfo:
        relay(relay_builder(40.0, short_delay=1.0), min_delay=2.0)
    assert_message(str(excinfo.value), "'to_near'", "min_delay (2.0 ms", "region 1 (r1)",
                   "pass min_delay=", absent=("max_delay",))


def _given_max_delay_on(simulator_name):
    """The error of a 40 ms delay with max_delay=20 on another simulator, or None."""
    from pynn_multiscale.backends import simulator_module

    try:
        with relay(relay_builder(40.0), simulator_module(simulator_name), max_delay=20.0):
            return None
    except pm.ConfigurationError as exc:
        return str(exc)


def _derived_max_delay_on(simulator_name):
    from pynn_multiscale.backends import simulator_module

    calls = []
    with relay(relay_builder(40.0, calls=calls), simulator_module(simulator_name)) as cosim:
        return calls, cosim.max_delay


@pytest.mark.parametrize("simulator", ["brian2", "annarchy"])
def test_other_simulators_respect_a_given_max_delay(simulator):
    """Brian2 (checked after the builder: it would deliver the delay anyway) and the ANNarchy
    adapter (refused when made) name max_delay too."""
    from isolation import isolated

    error = isolated(_given_max_delay_on)(simulator)
    assert error is not None
    assert_message(error, "'to_far'", "max_delay (20 ms", "40", "max_delay=None",
                   absent=("min_delay=",))


def test_the_annarchy_adapter_derives_max_delay_as_nest_does():
    from isolation import isolated

    calls, max_delay = isolated(_derived_max_delay_on)("annarchy")
    assert calls == [1, 1] and max_delay == pytest.approx(40.1)


def test_grown_max_delay():
    assert grown_max_delay(10.0, 40.0, 0.1) == pytest.approx(40.1)
    assert grown_max_delay(10.0, 11.0, 0.1) == 20.0  # doubling: few builds
    assert grown_max_delay(10.0, None, 0.1) == 20.0  # the simulator did not say
    assert grown_max_delay(10.0, 23.33, 0.25) == 23.75  # whole steps, above the delay


def replay_cosim(**kwargs):
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 8.0], [8.0, 0]], [1.0, 0.0])
    return pm.CoSimulation(tvb, ReplayBackend({"Rin": np.zeros((10, 1))}), spiking_regions=[1],
                           to_spiking=[pm.proxies.RateToPoisson("R", "E", weight=1.0,
                                                                delay=5.0)],
                           to_tvb=[pm.proxies.Replay("Rin")], **kwargs)


@pytest.mark.parametrize("value, error, expected", [
    (-1.0, pm.ConfigurationError, "positive, finite"),
    (0.0, pm.ConfigurationError, "positive, finite"),
    (float("nan"), pm.ConfigurationError, "positive, finite"),
    (float("inf"), pm.ConfigurationError, "positive, finite"),
    ("40", pm.ConfigurationTypeError, "a number of ms"),
    (True, pm.ConfigurationTypeError, "a number of ms"),
    (1.0, pm.ConfigurationError, "at least min_delay (2.0 ms)"),
    (4.0, pm.ConfigurationError, "at least the longest proxy or link delay (5.0 ms)")])
def test_bad_max_delay(value, error, expected):
    with pytest.raises(error) as excinfo:
        replay_cosim(max_delay=value, min_delay=2.0)
    assert_message(str(excinfo.value), f"max_delay={value!r}", expected, "max_delay")


def test_max_delay_at_the_longest_proxy_delay_is_accepted():
    with replay_cosim(max_delay=5.0) as cosim:
        assert cosim.max_delay == 5.0
    with replay_cosim() as cosim:
        assert cosim.max_delay == 10.0


# ---------------------------------------------------------------------- runaway
N = 20


def source_builder(times_of_cell):
    """A spike source population "S" of N cells, cell i firing at ``times_of_cell(i)``."""
    def build(sim, idx, label, rng):
        trains = [sim.Sequence(np.round(times_of_cell(i), 1)) for i in range(N)]
        return pm.SpikingRegion({"S": sim.Population(N, sim.SpikeSourceArray(spike_times=trains),
                                                     label=f"{label}_S")})
    return build


def regular(rate_hz, until=1000.0):
    """Each cell fires at ``rate_hz``, phases spread over the period (on the 0.1 ms grid)."""
    period = 1000.0 / rate_hz
    return lambda i: np.arange(0.5 + period * i / N, until, period)


def sources(times_of_cell, **kwargs):
    return pm.CoSimulation(two_regions(), sim, spiking_regions=[1],
                           build_region=source_builder(times_of_cell),
                           to_tvb=[pm.proxies.SpikeRate("S", "Rin")], **kwargs)


def test_a_one_window_burst_above_max_rate_runs_on():
    """Every cell fires 3 spikes within one 2 ms window: 1500 Hz over that window, 3x the
    default max_rate (the old one-window check stopped it), 30 Hz over 100 ms."""
    with sources(lambda i: np.array([40.2, 40.8, 41.5])) as cosim:
        result = cosim.run(100.0)
    times = np.concatenate([st.magnitude for st in result.spiking[1].segments[0].spiketrains])
    in_window = np.count_nonzero((times > 40.0) & (times <= 42.0))
    assert 1000.0 * in_window / (N * 2.0) == pytest.approx(1500.0)  # > max_rate in a window
    assert result.metadata["max_rate_hz"] == 500.0
    assert result.metadata["max_rate_span_ms"] == 50.0


def test_a_sustained_rate_above_max_rate_stops_the_run():
    with sources(regular(600.0)) as cosim:
        with pytest.raises(pm.NumericalError) as excinfo:
            cosim.run(200.0)
        # stopped where it first could be: once 50 ms had run
        assert cosim.recording.committed_time < 50.0 + 1e-9
    text = str(excinfo.value)
    for part in ("population S of region 1 (r1)", "Hz on average between t = 0 and 50 ms",
                 "max_rate_span=50 ms", "max_rate=500 Hz", "runaway", "raise max_rate"):
        assert part in text, (part, text)
    rate = float(text.split("fired at ")[1].split(" Hz")[0])
    assert rate == pytest.approx(600.0, rel=0.02)


@pytest.mark.parametrize("factor, stops", [(1.1, True), (0.9, False)])
def test_the_span_mean_is_what_is_compared(factor, stops):
    """A sustained 1.1 max_rate is caught, 0.9 max_rate is not: the threshold is the mean
    over the span, not a bound on some window."""
    with sources(regular(factor * 200.0), max_rate=200.0, max_rate_span=20.0) as cosim:
        if stops:
            with pytest.raises(pm.NumericalError, match="max_rate=200 Hz"):
                cosim.run(100.0)
        else:
            result = cosim.run(100.0)
            n = sum(st.size for st in result.spiking[1].segments[0].spiketrains)
            assert 1000.0 * n / (N * 100.0) == pytest.approx(180.0, rel=0.05)


def test_the_span_runs_across_run_calls():
    """Two runs of 30 ms: the span of 50 ms is reached in the second one."""
    with sources(regular(600.0)) as cosim:
        cosim.run(30.0)
        with pytest.raises(pm.NumericalError, match=r"between t = \d+(\.\d+)? and 50 ms"):
            cosim.run(30.0)


def test_rate_span_keeps_the_shortest_run_of_windows_that_covers_the_span():
    span = _RateSpan([(0, "E"), (0, "I")], [10, 5], span_steps=50)
    assert not span.add(0, 26, np.array([26, 0]))
    assert span.add(26, 26, np.array([0, 13]))  # 52 steps cover 50
    assert span.steps == 52 and span.counts.tolist() == [26, 13]
    assert span.add(52, 26, np.array([1, 1]))  # the first window is no longer needed
    assert span.steps == 52 and span.counts.tolist() == [1, 14]
    assert span.add(78, 10, np.array([2, 0]))  # 36 steps would not cover 50: keep 62
    assert span.steps == 62 and span.counts.tolist() == [3, 14]
    assert [w[0] for w in span.windows] == [26, 52, 78]


@pytest.mark.parametrize("value, error", [(0.0, pm.ConfigurationError),
                                          (-5.0, pm.ConfigurationError),
                                          (float("nan"), pm.ConfigurationError),
                                          (float("inf"), pm.ConfigurationError),
                                          ("50", pm.ConfigurationTypeError),
                                          (True, pm.ConfigurationTypeError)])
def test_bad_max_rate_span(value, error):
    with pytest.raises(error) as excinfo:
        replay_cosim(max_rate_span=value)
    assert_message(str(excinfo.value), f"max_rate_span={value!r}", "ms", "50.0")
