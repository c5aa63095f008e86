"""Spiking regions wired to each other (pynn_multiscale.links): delay to the step, no double coupling.

Regions 10 and 13 of connectivity_68 (r_paracentral, r_posteriorcingulate) are
connected both ways with weight 0.0679 and a tract delay of 9.36 ms at TVB's
3 mm/ms.  Each region has a spike source ``S`` and one cell ``E`` that fires
on any input.  Only region 10's source spikes (at 10 ms).  It also drives its
own ``E`` through a one-step projection of the builder, whose spike gives the
cell's latency on that backend; region 13's ``E`` must then fire exactly one
rounded tract delay later than a one-step connection would make it.
"""

import numpy as np
import pytest

from isolation import isolated
from pynn_multiscale.errors import ConfigurationError

SOURCE, TARGET = 10, 13
SPIKE = 10.0
DT = 0.1


def _build(sim, idx, label, rng):
    from pynn_multiscale import SpikingRegion

    times = [SPIKE] if idx == SOURCE else []
    s = sim.Population(1, sim.SpikeSourceArray(spike_times=times), label=f"{label}_S")
    e = sim.Population(1, sim.IF_curr_exp(tau_refrac=50.0), label=f"{label}_E")
    local = sim.Projection(s, e, sim.AllToAllConnector(),
                           sim.StaticSynapse(weight=20.0, delay=DT), receptor_type="excitatory")
    return SpikingRegion({"S": s, "E": e}, [local])


def _run(simulator, pairs=None):
    """Spike times of E per region, the wires, and TVB's weights and coupling mask after the build."""
    import pynn_multiscale as pm
    from pynn_multiscale.backends import simulator_module
    from pynn_multiscale.models import red_wong_wang as rww

    tvb = rww.tvb_simulator()
    link = pm.RegionLink("S", "E", weight=20.0 / 0.0679, pairs=pairs)
    with pm.CoSimulation(tvb, simulator_module(simulator), spiking_regions=[SOURCE, TARGET],
                         build_region=_build, links=[link], min_delay=DT, seed=1,
                         to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")]) as cosim:
        result = cosim.run(30.0)
        weights = cosim.tvb.connectivity.weights.copy()
        mask = cosim.tvb.history.nnz_mask.copy()
        wires = [(w.source_region, w.target_region, w.delay, w.connectome_weight)
                 for w in cosim.wires]
        syn = [p.get("weight", format="array") for p in cosim.link_projections]
    spikes = {}
    for region in (SOURCE, TARGET):
        trains = [st for st in result.spiking[region].segments[0].spiketrains
                  if st.annotations["population"] == "E"]
        spikes[region] = [float(t) for st in trains for t in st.rescale("ms").magnitude]
    return spikes, wires, weights, mask, [float(np.nanmax(w)) for w in syn], \
        result.metadata["wires"]


run = isolated(_run)


@pytest.mark.parametrize("simulator", ["nest", "brian2", "neuron"])
def test_a_spike_reaches_the_linked_region_at_the_tract_delay(simulator):
    spikes, wires, weights, mask, syn, meta = run(simulator)
    delay = {(s, t): d for s, t, d, _ in wires}
    assert delay[(SOURCE, TARGET)] == pytest.approx(9.4, abs=1e-9)  # 9.36 ms on the 0.1 ms grid
    assert len(spikes[SOURCE]) == 1 and len(spikes[TARGET]) == 1, spikes
    latency = spikes[SOURCE][0] - SPIKE - DT  # the local, one-step connection
    arrival = spikes[TARGET][0] - SPIKE - latency
    # to the step: the link's synaptic weight (20 x 0.99970) is not exactly the local one's,
    # which moves the threshold crossing by 0.3 us on NEST's off-grid spike times
    assert arrival == pytest.approx(delay[(SOURCE, TARGET)], abs=DT / 2), (spikes, delay)
    # the synaptic weight is the link's weight times the connectome's
    assert syn[0] == pytest.approx(20.0 / 0.0679 * wires[0][3], rel=1e-6)
    assert meta[0]["delay_ms"] == delay[(meta[0]["source_region"], meta[0]["target_region"])]


def test_tvb_does_not_couple_a_linked_pair_again():
    """Both directions linked: TVB's weights and its coupling's non-zero mask lose both entries."""
    _, wires, weights, mask, _, _ = run("nest")
    assert {(s, t) for s, t, _, _ in wires} == {(SOURCE, TARGET), (TARGET, SOURCE)}
    assert weights[TARGET, SOURCE] == 0 and weights[SOURCE, TARGET] == 0
    assert not mask[TARGET, SOURCE] and not mask[SOURCE, TARGET]
    # every other connection of the two regions is still TVB's
    assert (weights[TARGET] > 0).sum() > 10 and mask[TARGET].sum() == (weights[TARGET] > 0).sum()


def test_one_direction_only_keeps_the_other_in_tvb():
    spikes, wires, weights, mask, _, _ = run("nest", ((SOURCE, TARGET),))
    assert [(s, t) for s, t, _, _ in wires] == [(SOURCE, TARGET)]
    assert weights[TARGET, SOURCE] == 0 and mask[SOURCE, TARGET] and weights[SOURCE, TARGET] > 0
    assert len(spikes[TARGET]) == 1


def test_a_pair_the_connectome_does_not_connect_is_refused():
    import pynn_multiscale as pm
    from pynn_multiscale.models import red_wong_wang as rww
    import pyNN.nest as sim

    with pytest.raises(ConfigurationError, match=r"links\[0\]\.pairs.*weights\[65, 31\]"):
        pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=[31, 65], build_region=_build,
                        links=[pm.RegionLink("S", "E", 1.0, pairs=[(31, 65)])],
                        to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")])
    with pytest.raises(ConfigurationError, match="RegionLink.weight"):
        pm.RegionLink("S", "E", -1.0)
    with pytest.raises(ConfigurationError, match=r"links\[0\]\.target.*'X'"):
        pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=[SOURCE, TARGET],
                        build_region=_build, min_delay=DT, links=[pm.RegionLink("S", "X", 1.0)],
                        to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")])

