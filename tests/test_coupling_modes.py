"""The two coupling modes on NEST: same mean input, and delays carried by the connections.

"tvb" mode: TVB sums the delayed, weighted sources; one Poisson proxy per
spiking region.  "spiking" mode: one Poisson proxy per source region, with
the connectome weight in its rate and the connectome delay in its
connections (shortened by the one-interval time shift).
"""

import numpy as np
import pytest
import pyNN.nest as sim

import pynn_multiscale as pm
from tvb_helpers import held_rate_simulator, step_rate_simulator

DT = 0.1
WEIGHTS = [[0, 0, 0], [0, 0, 0], [0.5, 1.0, 0]]  # region 2 reads regions 0 and 1
DELAYS = [[0, 4, 3], [4, 0, 5], [3, 5, 0]]
RATES = [20.0, 10.0, 0.0]
N, T, W = 50, 2000.0, 4.0


def parrots(sim, n, label):
    return sim.Population(n, sim.native_cell_type("parrot_neuron")(), label=label)


def input_count(mode, seed):
    tvb = held_rate_simulator(WEIGHTS, DELAYS, RATES)

    def build(sim, idx, label, rng):
        return pm.SpikingRegion({"E": parrots(sim, N, label)})

    with pm.CoSimulation(tvb, sim, spiking_regions=[2], build_region=build, max_rate=np.inf,
                         coupling_mode=mode, seed=seed,
                         to_spiking=[pm.proxies.RateToPoisson("R", "E", weight=W,
                                                              synapse_weight=0.001)],
                         to_tvb=[pm.proxies.SpikeRate("E", "Rin")]) as cosim:
        result = cosim.run(T)
        n_sync = cosim.n_sync
        import nest

        min_delay = nest.min_delay
    return sum(len(st) for st in result.spiketrains(2, "E")), n_sync, min_delay


def test_both_modes_deliver_the_same_mean_input():
    """Counts agree with each other within 3 SD of their difference (Poisson counts).

    The expected count is N * W * (0.5 * 20 + 1.0 * 10) * T = 200 000 over 2 s; a 10%
    difference (20 000) would be 30 SD of the difference.
    """
    tvb_count, tvb_sync, _ = input_count("tvb", seed=1)
    spk_count, spk_sync, spk_min_delay = input_count("spiking", seed=1)
    expected = N * W * (0.5 * 20.0 + 1.0 * 10.0) * T / 1000.0
    assert abs(tvb_count - spk_count) < 3 * np.sqrt(tvb_count + spk_count), (tvb_count, spk_count)
    # and both match TVB's rates; the first spikes arrive after the latency (0.2 ms in tvb
    # mode, the connectome delays 3 and 5 ms in spiking mode, whose sources TVB integrates
    # and so are sent unshifted): at most 16 spikes, against 3 SD = 1342
    for count in (tvb_count, spk_count):
        assert abs(count - expected) < 3 * np.sqrt(expected), (count, expected)
    # the interval is the shortest delay, 3 ms, in both modes: no spiking region is a source
    assert tvb_sync == 30 and spk_sync == 30
    assert spk_min_delay >= 3.0 - 1e-9  # no connection delay below the interval


@pytest.mark.parametrize("delay", [3.0, 4.6])
def test_step_reaches_the_spiking_region_at_the_connectome_delay(delay):
    """A step in region 0's rate reaches region 1's neurons at t_step + d + dt (one spiking step).

    Region 0: spike sources silent until t_step, then firing every step
    (10 kHz per region).  Region 1: parrots, silent without input.
    """
    t_step, duration = 20.0, 40.0
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, delay], [delay, 0]], [0.0, 0.0])

    def build(sim, idx, label, rng):
        if idx == 0:
            times = sim.Sequence(np.round(np.arange(t_step, duration + DT / 2, DT), 1))
            return pm.SpikingRegion({"E": sim.Population(10, sim.SpikeSourceArray(spike_times=times),
                                                         label=label)})
        return pm.SpikingRegion({"E": parrots(sim, 100, label)})

    with pm.CoSimulation(tvb, sim, spiking_regions=[0, 1], build_region=build, max_rate=np.inf,
                         coupling_mode="spiking", seed=2,
                         to_spiking=[pm.proxies.RateToPoisson("R", "E", weight=1.0,
                                                              synapse_weight=0.001)],
                         to_tvb=[pm.proxies.SpikeRate("E", "R")]) as cosim:
        result = cosim.run(duration)
        n_sync = cosim.n_sync
    (train,) = result.spiking[1].segments[0].spiketrains
    first = float(train.rescale("ms").min())
    assert t_step + delay <= first <= t_step + delay + DT + 1e-9, first
    # a spiking source goes one interval ahead: the interval is at most half the delay
    assert n_sync * DT <= delay / 2 + 1e-9


@pytest.mark.parametrize("delay", [2.6, 4.6])
def test_step_in_a_tvb_region_reaches_the_spiking_region_at_the_connectome_delay(delay):
    """The same for a source that TVB integrates (sent unshifted, the full delay).

    Region 0 is TVB's: its R jumps from 0 to 2 kHz at step t_R.  Region 1:
    parrots.  Their first spike: t_R + d, within one spiking step.
    """
    duration = 40.0
    tvb = step_rate_simulator([[0, 0], [1, 0]], [[0, delay], [delay, 0]], t_step=20.0,
                              rate=2000.0)

    def build(sim, idx, label, rng):
        return pm.SpikingRegion({"E": parrots(sim, 100, label)})

    with pm.CoSimulation(tvb, sim, spiking_regions=[1], build_region=build, max_rate=np.inf,
                         coupling_mode="spiking", seed=2,
                         to_spiking=[pm.proxies.RateToPoisson("R", "E", weight=1.0,
                                                              synapse_weight=0.001)],
                         to_tvb=[pm.proxies.SpikeRate("E", "Rin")]) as cosim:
        result = cosim.run(duration)
        n_sync = cosim.n_sync
    raw = result.monitor("Raw")
    r0 = raw.sel(variable="R").isel(region=0).values.ravel()
    t_r = float(raw.time.values[np.argmax(r0 > 0)])
    assert abs(t_r - 20.1) < 1e-6, t_r  # the clock's step
    (train,) = result.spiking[1].segments[0].spiketrains
    first = float(train.rescale("ms").min())
    assert t_r + delay - 1e-9 <= first <= t_r + delay + DT + 1e-9, (first, t_r)
    assert n_sync * DT == pytest.approx(delay)  # no spiking source: the full delay


def test_spiking_mode_refuses_what_it_cannot_do():
    tvb = held_rate_simulator(WEIGHTS, DELAYS, RATES)

    def build(sim, idx, label, rng):
        return pm.SpikingRegion({"E": parrots(sim, 2, label)})

    with pytest.raises(pm.ConfigurationError) as excinfo:
        pm.CoSimulation(tvb, sim, spiking_regions=[2], build_region=build, coupling_mode="spiking",
                        to_spiking=[pm.proxies.CurrentFromCoupling("R", "E")],
                        to_tvb=[pm.proxies.SpikeRate("E", "Rin")])
    assert "to_spiking[0]" in str(excinfo.value) and "coupling_mode='tvb'" in str(excinfo.value)
    with pytest.raises(pm.ConfigurationError) as excinfo:
        pm.CoSimulation(tvb, sim, spiking_regions=[2], build_region=build, coupling_mode="both",
                        to_tvb=[pm.proxies.SpikeRate("E", "Rin")])
    assert "coupling_mode='both'" in str(excinfo.value)
