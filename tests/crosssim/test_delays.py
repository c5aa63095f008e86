"""Delays are checked once, for every backend: one error, naming the projection.

A region builder with a projection whose delays fall below ``min_delay`` (a
constant under it, one under the spiking time step, or normally distributed
delays that reach below zero) is refused with the same ``ConfigurationError``
on NEST, Brian2, NEURON and ANNarchy.  Before the check, Brian2 ran with
delays of -0.2 ms and NEURON stopped in its first run with "Event arrived out
of order", naming no projection.  The control (delays at ``min_delay``) builds
everywhere.
"""

import pytest

from isolation import isolated

SIMULATORS = ["nest", "brian2", "neuron", "annarchy"]
MIN_DELAY = 1.5


def _build(simulator, delay):
    """Build one region whose projection 'recurrent' has ``delay``; the error message or None."""
    import pynn_multiscale as pm
    from pynn_multiscale.backends import simulator_module
    from pynn_multiscale.models import red_wong_wang as rww

    def build(sim, idx, label, rng):
        pop = sim.Population(20, sim.IF_cond_alpha(**rww.CELL_PARAMS), label=f"{label}_E")
        value = sim.RandomDistribution("normal", (1.0, 1.0), rng=rng) if delay == "normal" \
            else delay
        sim.Projection(pop, pop, sim.FixedProbabilityConnector(0.5, rng=rng),
                       sim.StaticSynapse(weight=0.001, delay=value), receptor_type="excitatory",
                       label="recurrent")
        return pm.SpikingRegion({"E": pop})

    try:
        with pm.CoSimulation(rww.tvb_simulator(), simulator_module(simulator),
                             spiking_regions=[31], build_region=build, min_delay=MIN_DELAY,
                             to_spiking=[pm.proxies.RateToPoisson("R_e", "E", delay=MIN_DELAY)],
                             to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")]) as cosim:
            cosim.run(2.6)
    except pm.ConfigurationError as exc:
        return str(exc)
    return None


build = isolated(_build)


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("delay", [0.5, 0.05, "normal"])
def test_short_or_negative_delays_get_one_error_naming_the_projection(simulator, delay):
    message = build(simulator, delay)
    assert message is not None, f"{simulator} accepted delays of {delay}"
    for part in ("delay of Projection 'recurrent'", "region 31", f"min_delay ({MIN_DELAY} ms",
                 "Fix:", "min_delay="):
        assert part in message, (part, message)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_delays_at_min_delay_build_everywhere(simulator):
    """The control: the same builder with delays equal to min_delay builds and runs."""
    assert build(simulator, MIN_DELAY) is None
