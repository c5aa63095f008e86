"""The interfaces on NEST, with exactly known TVB values and spike trains.

TVB side: :class:`tvb_helpers.HeldRate` regions keep their rate, so the
coupling TVB sends is known exactly.  Spiking side: parrot neurons repeat
every input spike, so recording them counts what a population received.
"""

import numpy as np
import pytest
import pyNN.nest as sim

import pynn_multiscale as pm
from pynn_multiscale.backends.replay import ReplayBackend
from tvb_helpers import held_rate_simulator

DT = 0.1
# Every co-simulation here passes max_rate=np.inf: parrots and spike sources fire at
# intended rates far above the runaway guard.


def parrots(sim, n, label):
    return sim.Population(n, sim.native_cell_type("parrot_neuron")(), label=label)


# --------------------------------------------------------------- TVB -> spiking
N_PARROTS = 100
WEIGHT = 10.0
T = 500.0


@pytest.mark.parametrize("rate", [5.0, 10.0, 20.0])
def test_rate_proxy_delivers_rate_times_weight(rate):
    """Input spike count = N * weight * r * T', within 3 SD of a Poisson count.

    T' = T - 2 dt: the generator starts one spiking step after TVB's step
    begins and the proxy synapse adds one more (see backends/nest.py).  The
    count is Poisson, SD = sqrt(mean); at the smallest rate the mean is
    2500, so a 10% change in the delivered rate (250 spikes, 5 SD) fails
    the test (checked below).
    """
    # region 0: TVB, held at `rate`; region 1: spiking, reads it 10 ms later.
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 10], [10, 0]], [rate, 0.0])

    def build(sim, idx, label, rng):
        return pm.SpikingRegion({"E": parrots(sim, N_PARROTS, label)})

    with pm.CoSimulation(tvb, sim, max_rate=np.inf, spiking_regions=[1], build_region=build,
                         to_spiking=[pm.proxies.RateToPoisson("R", "E", weight=WEIGHT,
                                                              synapse_weight=0.001)],
                         to_tvb=[pm.proxies.SpikeRate("E", "Rin")], seed=1) as cosim:
        result = cosim.run(T)
    count = sum(len(st) for st in result.spiketrains(1, "E"))
    expected = N_PARROTS * WEIGHT * rate * (T - 2 * DT) / 1000.0
    sd = np.sqrt(expected)
    assert abs(count - expected) < 3 * sd, (count, expected, sd)
    # power: a 10% error in the delivered rate would be outside the band
    assert 0.1 * expected > 3 * sd + abs(count - expected)
    # and the spiking -> TVB side saw the same spikes, per step
    rin = result.tvb["Raw"].sel(Raw_variable="Rin", region="r1").values[:, 0]
    assert rin.sum() * DT * N_PARROTS / 1000.0 == pytest.approx(count)


# --------------------------------------------------------------- spiking -> TVB
@pytest.mark.parametrize("min_delay, flush_events", [(0.1, 20000), (1.5, 20000), (0.1, 30)])
def test_spike_rate_is_exact_per_tvb_step(min_delay, flush_events, monkeypatch):
    """Known spike trains give 1000 * count / (dt * N) Hz at every TVB step.

    With a minimum delay longer than the step, NEST communicates less often;
    spikes of a window's last step must still be counted in that window.
    With a small ``flush_events`` the recorders are cleared many times
    during the run (Cleanup / clear / Prepare): no spike may be lost.
    """
    from pynn_multiscale.backends.nest import NestBackend

    monkeypatch.setattr(NestBackend, "flush_events", flush_events)
    import elephant.statistics
    import neo
    import quantities as pq

    n, duration = 7, 30.0
    rng = np.random.default_rng(0)
    # PyNN's NEST SpikeSourceArray needs times > min_delay (it subtracts it)
    trains = [np.unique(np.round(rng.uniform(min_delay + 0.1, duration, size=40), 1))
              for _ in range(n)]
    tvb = held_rate_simulator([[0, 1], [1, 0]], [[0, 5], [5, 0]], [0.0, 0.0])

    def build(sim, idx, label, rng):
        cells = sim.SpikeSourceArray(spike_times=[sim.Sequence(t) for t in trains])
        return pm.SpikingRegion({"E": sim.Population(n, cells, label=label)})

    with pm.CoSimulation(tvb, sim, max_rate=np.inf, spiking_regions=[1], build_region=build,
                         to_tvb=[pm.proxies.SpikeRate("E", "Rin")], min_delay=min_delay) as cosim:
        result = cosim.run(duration)
    received = result.tvb["Raw"].sel(Raw_variable="Rin", region="r1").values[:, 0]
    steps = int(round(duration / DT))
    all_times = np.concatenate(trains)
    counts = np.bincount(np.round(all_times / DT).astype(int) - 1, minlength=steps)
    assert np.array_equal(received, 1000.0 * counts / (DT * n))
    # Elephant's histogram of the same trains, with bins centred on the step ends
    sts = [neo.SpikeTrain(t * pq.ms, t_stop=duration + DT / 2) for t in trains]
    hist = elephant.statistics.time_histogram(sts, bin_size=DT * pq.ms, t_start=DT / 2 * pq.ms,
                                              t_stop=(duration + DT / 2) * pq.ms, output="mean")
    assert np.allclose(received, np.asarray(hist).ravel() * 1000.0 / DT, rtol=1e-12)
    # the recorded trains come back unchanged in the Neo block
    got = {st.annotations["source_index"]: np.asarray(st.rescale("ms"))
           for st in result.spiketrains(1, "E")}
    assert sorted(got) == list(range(n))
    for i, t in enumerate(trains):  # NEST stamps times as steps * dt: equal to 1e-12 ms
        assert got[i].shape == t.shape and np.allclose(got[i], t, rtol=0, atol=1e-9)


# ---------------------------------------------------------------------- delays
@pytest.mark.parametrize("synapse_delay", [None, 1.5])
@pytest.mark.parametrize("delay", [3.0, 7.4])
def test_step_arrives_after_the_connectome_delay(delay, synapse_delay):
    """A step in region 0's rate reaches region 1's neurons within [d, d + window].

    Region 0 is spiking: a spike source array silent until ``t_step``, then
    firing every step.  Region 1 is spiking: parrots that receive Poisson
    input at ``weight * coupling``.  With zero input before the step they are
    silent, and at 10 kHz per parrot after it the first spike follows the
    onset within microseconds.
    """
    t_step, duration = 20.0, 40.0
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, delay], [delay, 0]], [0.0, 0.0])

    def build(sim, idx, label, rng):
        if idx == 0:
            times = sim.Sequence(np.round(np.arange(t_step, duration + DT / 2, DT), 1))
            pop = sim.Population(10, sim.SpikeSourceArray(spike_times=times), label=label)
        else:
            pop = parrots(sim, 100, label)
        return pm.SpikingRegion({"E": pop})

    with pm.CoSimulation(tvb, sim, max_rate=np.inf, spiking_regions=[0, 1], build_region=build,
                         to_spiking=[pm.proxies.RateToPoisson("R", "E", weight=1.0,
                                                              synapse_weight=0.001,
                                                              delay=synapse_delay)],
                         to_tvb=[pm.proxies.SpikeRate("E", "R")], seed=2) as cosim:
        window = cosim.n_sync * DT
        result = cosim.run(duration)
    (train,) = result.spiking[1].segments[0].spiketrains
    first = float(train.rescale("ms").min())
    assert t_step + delay <= first <= t_step + delay + window, (first, window)


def test_step_reaches_rates_sent_exactly_at_the_delay():
    """Without a simulator: TVB's coupling for a step at t_s changes at t_s + d."""
    delay, t_step, duration = 3.0, 10.0, 20.0
    steps = int(round(duration / DT))
    r0 = np.where(np.arange(1, steps + 1) * DT >= t_step, 50.0, 0.0)
    values = {"R": np.stack([r0, np.zeros(steps)], axis=1)}
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, delay], [delay, 0]], [0.0, 0.0])
    backend = ReplayBackend(values)
    with pm.CoSimulation(tvb, backend, spiking_regions=[0, 1],
                         to_spiking=[pm.proxies.RateToPoisson("R", "E", weight=2.0)],
                         to_tvb=[pm.proxies.Replay("R")]) as cosim:
        cosim.run(duration)
    sent = np.concatenate([r for h, _, _, r in backend.received if h == 1])  # region 1's slot
    assert sent.shape == (steps,)
    first = (np.argmax(sent > 0) + 1) * DT  # TVB step n covers (t_{n-1}, t_n]
    assert first == pytest.approx(t_step + delay + DT)
    assert np.all(sent[sent > 0] == 100.0)


# ------------------------------------------------------------ recorded signals
def test_recorded_membrane_potential_is_in_the_result(tmp_path):
    """V recorded by the builder comes back in the region's Neo block, and survives a save.

    Five cells under a constant 0.5 nA current and no input: before the first
    spike, V(t) = v_inf + (v0 - v_inf) exp(-t / tau_m) with v_inf = -40 mV
    (v_rest + I / g_L); the first spike is at tau_m ln(25/15) = 7.66 ms.
    """
    from pynn_multiscale.models import red_wong_wang as rww

    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 3], [3, 0]], [5.0, 0.0])

    def build(sim, idx, label, rng):
        pop = sim.Population(5, sim.IF_cond_alpha(**dict(rww.CELL_PARAMS, i_offset=0.5)),
                             label=label)
        pop.initialize(v=-65.0)
        pop.record(["v", "spikes"])
        return pm.SpikingRegion({"E": pop})

    with pm.CoSimulation(tvb, sim, max_rate=np.inf, spiking_regions=[1], build_region=build,
                         to_tvb=[pm.proxies.SpikeRate("E", "Rin")], min_delay=1.0) as cosim:
        result = cosim.run(20.0)
    (v,) = result.spiking[1].segments[0].analogsignals
    assert v.annotations["population"] == "E" and v.shape[1] == 5
    assert float(v.sampling_period.rescale("ms")) == pytest.approx(0.1)
    # NEST's multimeter delivers with up to one min_delay of lag: the signal ends there
    assert 19.0 - 1e-9 <= float(v.t_stop.rescale("ms")) <= 20.0 + 1e-9
    t = v.times.rescale("ms").magnitude
    before = t < 7.6
    expected = -40.0 + (-65.0 + 40.0) * np.exp(-t[before] / 15.0)
    assert np.abs(np.asarray(v)[before] - expected[:, None]).max() < 1e-3
    first_spike = float(result.spiketrains(1, "E")[0][0].rescale("ms"))
    assert first_spike == pytest.approx(15.0 * np.log(25.0 / 15.0), abs=0.1)
    result.save(tmp_path / "r")
    loaded = pm.Result.load(tmp_path / "r")
    assert np.array_equal(np.asarray(loaded.spiking[1].segments[0].analogsignals[0]), np.asarray(v))


# ------------------------------------------------------------ shared Poisson pool
def pairwise_input_correlation(fraction, seed, n=60, duration=4000.0, bin_ms=10.0):
    """Mean correlation of input counts between disjoint pairs of parrots, and its SE."""
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 5], [5, 0]], [20.0, 0.0])

    def build(sim, idx, label, rng):
        return pm.SpikingRegion({"E": parrots(sim, n, label)})

    proxy = pm.proxies.RateToPoisson("R", "E", weight=10.0, synapse_weight=0.001,
                                     shared_fraction=fraction)
    with pm.CoSimulation(tvb, sim, max_rate=np.inf, spiking_regions=[1], build_region=build,
                         to_spiking=[proxy], to_tvb=[pm.proxies.SpikeRate("E", "Rin")],
                         seed=seed) as cosim:
        result = cosim.run(duration)
    edges = np.arange(50.0, duration + 1e-9, bin_ms)
    counts = np.array([np.histogram(st.magnitude, bins=edges)[0]
                       for st in result.spiketrains(1, "E")])
    r = [np.corrcoef(counts[2 * k], counts[2 * k + 1])[0, 1] for k in range(n // 2)]
    return np.mean(r), np.std(r, ddof=1) / np.sqrt(len(r)), counts.sum()


@pytest.mark.parametrize("fraction", [0.0, 0.3])
def test_shared_pool_correlates_inputs_by_the_requested_fraction(fraction):
    """Input counts of two neurons correlate with coefficient f (10 ms bins).

    Each neuron's count is its independent Poisson part plus the shared
    part; for Poisson parts the correlation is f r / r = f at any bin size
    well above the parts' latency difference (one min_delay).  The SE comes
    from 30 disjoint pairs (400 bins each); at f = 0.3 the SE is about
    0.009, so a 10% error (0.03) is more than 3 SE and would fail.
    """
    mean, se, total = pairwise_input_correlation(fraction, seed=4)
    assert total > 40000  # ~200 Hz per parrot, 60 parrots, 4 s
    assert abs(mean - fraction) < 3 * se, (mean, se)
    if fraction:
        assert 0.1 * fraction > 3 * se


# ------------------------------------------------------------- Elephant trains
def elephant_inputs(process, correlation, n=40, rate=20.0, weight=2.0, duration=3000.0):
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 5], [5, 0]], [rate, 0.0])

    def build(sim, idx, label, rng):
        return pm.SpikingRegion({"E": parrots(sim, n, label)})

    proxy = pm.proxies.ElephantTrains("R", "E", weight=weight, synapse_weight=0.001,
                                      process=process, correlation=correlation)
    with pm.CoSimulation(tvb, sim, max_rate=np.inf, spiking_regions=[1], build_region=build,
                         to_spiking=[proxy], to_tvb=[pm.proxies.SpikeRate("E", "Rin")],
                         seed=7) as cosim:
        return cosim.run(duration).spiketrains(1, "E")


def test_elephant_poisson_trains_deliver_rate_times_weight():
    """Count = N * weight * r * T' within 3 SD (Poisson), as for the native generators."""
    trains = elephant_inputs("poisson", 0.0, duration=1000.0)
    count = sum(len(st) for st in trains)
    expected = 40 * 2.0 * 20.0 * (1000.0 - 2 * DT) / 1000.0  # latency: one step + the delay
    assert abs(count - expected) < 3 * np.sqrt(expected), (count, expected)


@pytest.mark.slow
@pytest.mark.parametrize("process", ["sip", "mip"])
def test_correlated_trains_have_the_requested_pairwise_correlation(process):
    """Pairwise spike-count correlation = c at 5 ms bins, within 3 SE over disjoint pairs.

    20 disjoint pairs of 40 Hz trains over 2 s (400 bins of 5 ms): the SE of
    the mean correlation is about 0.01 (measured from the pairs' spread).
    Without the process's correlation the mean would be 0, 20 SE away.
    """
    c = 0.2
    duration = 2000.0
    trains = elephant_inputs(process, c, duration=duration)
    edges = np.arange(0.0, duration + 1e-9, 5.0)
    counts = np.array([np.histogram(st.magnitude, bins=edges)[0] for st in trains])
    r = [np.corrcoef(counts[2 * k], counts[2 * k + 1])[0, 1] for k in range(20)]
    mean, se = np.mean(r), np.std(r, ddof=1) / np.sqrt(len(r))
    assert abs(mean - c) < 3 * se, (process, mean, se)
    assert c > 10 * se
    assert counts.sum() > 40 * 40.0 * 2.0 * 0.9  # ~40 Hz per train delivered
