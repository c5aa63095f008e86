"""TVB stimuli: exactly TVB's own run without spiking regions, and a response of the spiking side.

A ``StimuliRegion`` is applied at every step as TVB's ``Simulator`` does, on
the co-simulation's time grid.  With no spiking regions the output equals
``Simulator.run()`` bit for bit; a stimulus on a spiking region is refused;
a stimulated TVB region that projects onto a spiking region changes its
rates.
"""

import numpy as np
import pytest
from tvb.datatypes import equations, patterns

import pynn_multiscale as pm
from pynn_multiscale.backends.replay import ReplayBackend
from pynn_multiscale.models import red_wong_wang as rww

from small_w1 import REGIONS, small_build
from test_w3_pure_tvb import make_simulator

STIMULATED = [3, 7, 20, 41, 60]


def pulse_train():
    eq = equations.PulseTrain()
    eq.parameters.update(onset=5.0, T=12.0, tau=4.0, amp=0.5)
    return eq, np.where(np.isin(np.arange(76), STIMULATED), 1.0, 0.0)


def sinusoid_over_regions():
    """A temporal sinusoid with a spatial pattern: a different weight per region."""
    eq = equations.Sinusoid()
    eq.parameters.update(amp=0.3, frequency=0.04)
    weights = np.zeros(76)
    weights[STIMULATED] = [0.2, 0.5, 1.0, 1.5, 2.0]
    return eq, weights


STIMULI = {"pulse_train": pulse_train, "sinusoid": sinusoid_over_regions}


def stimulated(model_name, stimulus, seed=7):
    tvb = make_simulator(model_name, "connectivity_76", seed=seed)
    temporal, weights = STIMULI[stimulus]()
    tvb.stimulus = patterns.StimuliRegion(temporal=temporal, connectivity=tvb.connectivity,
                                          weight=weights)
    return tvb


@pytest.mark.parametrize("stimulus", sorted(STIMULI))
@pytest.mark.parametrize("model_name", ["ReducedWongWangExcInh", "Generic2dOscillator"])
@pytest.mark.parametrize("configured", [False, True])
def test_stimulus_reproduces_tvb(stimulus, model_name, configured):
    duration = 60.3  # partial last window
    (t, y), (ta, ya) = stimulated(model_name, stimulus).configure().run(
        simulation_length=duration)
    (_, plain), _ = make_simulator(model_name, "connectivity_76").configure().run(
        simulation_length=duration)
    assert np.abs(plain - y).max() > 1e-3  # the stimulus does something
    tvb = stimulated(model_name, stimulus)
    if configured:
        tvb.configure()
    with pm.CoSimulation(tvb, ReplayBackend(), sync_interval=2.5) as cosim:
        result = cosim.run(duration)
    assert np.abs(result.tvb["Raw"].values - y).max() == 0.0
    assert np.abs(result.tvb["TemporalAverage"].values - ya).max() == 0.0
    stim = result.metadata["tvb"]["stimulus"]
    assert stim["type"] == "StimuliRegion" and np.count_nonzero(stim["weight"]) == 5


def test_stimulus_time_continues_across_runs():
    """Two run() calls equal one TVB run of the summed length (TVB would restart the grid)."""
    (t, y), _ = stimulated("Generic2dOscillator", "pulse_train").configure().run(
        simulation_length=40.0)
    with pm.CoSimulation(stimulated("Generic2dOscillator", "pulse_train"),
                         ReplayBackend()) as cosim:
        cosim.run(17.0)
        result = cosim.run(23.0)
    assert np.abs(result.tvb["Raw"].values - y).max() == 0.0


def test_stimulus_on_a_spiking_region_is_refused():
    tvb = rww.tvb_simulator()
    temporal, _ = pulse_train()
    weights = np.zeros(68)
    weights[[2, REGIONS[1]]] = 1.0
    tvb.stimulus = patterns.StimuliRegion(temporal=temporal, connectivity=tvb.connectivity,
                                          weight=weights)
    import pyNN.nest as sim

    with pytest.raises(pm.ConfigurationError) as info:
        pm.CoSimulation(tvb, sim, spiking_regions=REGIONS, build_region=small_build,
                        to_spiking=rww.default_to_spiking(n_e=160), to_tvb=rww.default_to_tvb())
    message = str(info.value)
    assert "tvb.stimulus.weight" in message and f"{REGIONS[1]} (" in message
    assert "CurrentFromCoupling" in message


def spiking_e_rate(seed, stimulus):
    """Region 31's E rate (Hz) over 100-300 ms of the small W1, with or without a stimulus."""
    import pyNN.nest as sim

    tvb = rww.tvb_simulator()
    if stimulus:
        temporal = equations.PulseTrain()
        temporal.parameters.update(onset=50.0, T=1000.0, tau=1000.0, amp=0.01)  # a step at 50 ms
        weights = np.ones(68)
        weights[REGIONS] = 0.0  # every TVB region, none of the spiking ones
        tvb.stimulus = patterns.StimuliRegion(temporal=temporal, connectivity=tvb.connectivity,
                                              weight=weights)
    with pm.CoSimulation(tvb, sim, spiking_regions=REGIONS, build_region=small_build,
                         to_spiking=rww.default_to_spiking(n_e=160), to_tvb=rww.default_to_tvb(),
                         seed=seed) as cosim:
        result = cosim.run(300.0)
    train = next(st for st in result.spiking[REGIONS[0]].segments[0].spiketrains
                 if st.annotations["population"] == "E")
    t = train.magnitude
    return np.count_nonzero((t > 100.0) & (t <= 300.0)) / (160 * 0.2)


def test_stimulated_tvb_regions_drive_a_spiking_region():
    """The stimulus reaches the spiking side through TVB's coupling and the proxies."""
    seeds = [1, 2, 3, 4]
    control = np.array([spiking_e_rate(s, False) for s in seeds])
    driven = np.array([spiking_e_rate(s, True) for s in seeds])
    # threshold from the run-to-run variability of both conditions: 3 standard errors
    se = np.sqrt(control.var(ddof=1) / len(seeds) + driven.var(ddof=1) / len(seeds))
    assert driven.mean() - control.mean() > 3 * se, (control, driven)


def test_pipelined_loop_applies_the_stimulus_as_the_sequential_one():
    """The TVB process learns each run's end (the stimulus grid) and gives the same numbers."""
    import pyNN.nest as sim

    from small_w1 import spikes_of

    def run(pipeline):
        tvb = rww.tvb_simulator()
        temporal = equations.PulseTrain()
        temporal.parameters.update(onset=10.0, T=30.0, tau=10.0, amp=0.02)
        weights = np.zeros(68)
        weights[[2, 30, 33]] = 1.0
        tvb.stimulus = patterns.StimuliRegion(temporal=temporal, connectivity=tvb.connectivity,
                                              weight=weights)
        with pm.CoSimulation(tvb, sim, spiking_regions=REGIONS, build_region=small_build,
                             to_spiking=rww.default_to_spiking(n_e=160),
                             to_tvb=rww.default_to_tvb(), seed=5, sync_interval=1.3,
                             pipeline=pipeline) as cosim:
            cosim.run(40.3)  # the second call needs the grid extended in the TVB process
            return cosim.run(39.0)

    sequential, pipelined = run(False), run(True)
    assert np.array_equal(sequential.tvb["Raw"].values, pipelined.tvb["Raw"].values)
    a, b = spikes_of(sequential), spikes_of(pipelined)
    assert all(np.array_equal(a[k][0], b[k][0]) for k in a) and a.keys() == b.keys()
