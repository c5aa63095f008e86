"""Proxies onto views mean the same on every backend; onto an Assembly they are refused alike.

One region per backend, no background: population "E" (40 cells) whose
every second cell is the view "Ev" driven by ``RateToPoisson`` from a held
TVB rate, and population "O" whose every third cell is the view "Ov" given
an ``OffsetFromCoupling`` current.  Only the view's cells may fire, and they
must (before, a view proxy was refused on Brian2 and crashed on ANNarchy).
Counting (``features.py``, PopulationView and Assembly) is covered by the
coverage suite.
"""

import numpy as np
import pytest

from isolation import isolated

SIMULATORS = ["nest", "brian2", "neuron", "annarchy"]


def _views(simulator):
    import pynn_multiscale as pm
    from pynn_multiscale.backends import simulator_module
    from tvb_helpers import held_rate_simulator

    def build(sim, idx, label, rng):
        e = sim.Population(40, sim.IF_cond_exp(), label="E")
        o = sim.Population(30, sim.IF_cond_exp(), label="O")
        return pm.SpikingRegion({"E": e, "Ev": e[::2], "O": o, "Ov": o[::3]})

    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 1], [1, 0]], [1.0, 0.0], dt=0.1)
    proxies = [pm.proxies.RateToPoisson("R", "Ev", weight=2000.0, synapse_weight=0.01, delay=1.0),
               pm.proxies.OffsetFromCoupling("R", "Ov", weight=1.0)]
    with pm.CoSimulation(tvb, simulator_module(simulator), spiking_regions=[1],
                         build_region=build, to_spiking=proxies, min_delay=0.1, seed=4,
                         to_tvb=[pm.proxies.SpikeRate("Ev", "Rin")], max_rate=np.inf) as cosim:
        result = cosim.run(200.0)
    return {name: np.bincount(np.concatenate([np.full(len(st), k) for k, st in
                                              enumerate(result.spiketrains(1, name))]).astype(int),
                              minlength=size)
            for name, size in (("E", 40), ("O", 30))}


views = isolated(_views)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_a_proxy_onto_a_view_drives_the_views_cells_only(simulator):
    counts = views(simulator)
    e, o = counts["E"], counts["O"]
    assert not e[1::2].any() and not np.delete(o, np.arange(0, 30, 3)).any(), counts
    assert (e[::2] > 0).all() and (o[::3] > 0).all(), counts


def _assembly_proxy(simulator, kind):
    import pynn_multiscale as pm
    from pynn_multiscale.backends import simulator_module
    from tvb_helpers import held_rate_simulator

    def build(sim, idx, label, rng):
        e = sim.Population(4, sim.IF_cond_exp(), label="E")
        i = sim.Population(2, sim.IF_cond_exp(), label="I")
        return pm.SpikingRegion({"E": e, "EI": e + i})

    proxy = {"poisson": pm.proxies.RateToPoisson("R", "EI", synapse_weight=0.01, delay=1.0),
             "offset": pm.proxies.OffsetFromCoupling("R", "EI"),
             "mean": pm.proxies.MeanState("EI", "Rin", variable="v")}[kind]
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 1], [1, 0]], [1.0, 0.0], dt=0.1)
    to_spiking = [] if kind == "mean" else [proxy]
    to_tvb = [proxy] if kind == "mean" else [pm.proxies.SpikeRate("EI", "Rin")]
    try:
        with pm.CoSimulation(tvb, simulator_module(simulator), spiking_regions=[1],
                             build_region=build, to_spiking=to_spiking, to_tvb=to_tvb,
                             min_delay=0.1):
            return None
    except pm.CapabilityError as exc:
        return str(exc)


assembly_proxy = isolated(_assembly_proxy)


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("kind", ["poisson", "offset", "mean"])
def test_a_proxy_onto_an_assembly_gets_one_error_everywhere(simulator, kind):
    message = assembly_proxy(simulator, kind)
    assert message is not None
    for part in ("population='EI'", "not an Assembly", "SpikeRate and InstantaneousRate accept",
                 "Fix: give one proxy per member population"):
        assert part in message, (part, message)
