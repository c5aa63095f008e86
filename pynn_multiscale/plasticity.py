"""STDP written once: the delay split each simulator supports, and what it means.

PyNN's ``STDPMechanism`` splits a connection's delay ``d`` into an axonal
part ``(1 - f) d`` (from the presynaptic spike to the synapse) and a
dendritic part ``f d`` (from the postsynaptic spike back to the synapse),
``f`` being ``dendritic_delay_fraction``.  The learning rule sees the pair
at the synapse, so for spikes at ``t_pre`` and ``t_post`` at the neurons it
sees

    Δt_syn = (t_post + f d) - (t_pre + (1 - f) d) = (t_post - t_pre) + (2 f - 1) d.

No single ``f`` runs everywhere: NEST takes only ``f = 1`` (all dendritic;
its STDP synapses read the postsynaptic history one delay back), PyNN's
Brian2 backend only ``f = 0`` (all axonal), NEURON any.  PyNN's default is
1, so a builder with the default fails on Brian2, and with ``f = 0`` it
fails on NEST.  :func:`stdp_mechanism` picks the fraction of the simulator
it is given (NEURON gets NEST's), and :func:`synaptic_dt` says what the rule
sees: with the same spikes at the neurons, NEST and NEURON see
``Δt + d`` and Brian2 ``Δt - d``.  The weight changes agree between
simulators when the rule sees the same ``Δt_syn`` (``tests/crosssim/test_stdp.py``
measures it), and differ where a delay moves a pair across zero.

Weights change when the simulator applies the rule: NEST and NEURON apply
potentiation at the *next* presynaptic spike, Brian2 at the postsynaptic
one.  Read weights after a later presynaptic spike to compare them.

The ANNarchy adapter refuses ``STDPMechanism`` (NotImplementedError): see
``docs/backends.md`` for why.
"""

from __future__ import annotations

from .errors import CapabilityError, bad_value

#: The ``dendritic_delay_fraction`` each simulator's PyNN backend accepts (NEURON accepts
#: any; it gets NEST's so the two agree spike for spike).
DENDRITIC_DELAY_FRACTION = {"pyNN.nest": 1.0, "pyNN.neuron": 1.0, "pyNN.brian2": 0.0}


def dendritic_delay_fraction(sim) -> float:
    """The fraction of a connection's delay that STDP treats as dendritic on ``sim``."""
    name = getattr(sim, "__name__", repr(sim))
    if name not in DENDRITIC_DELAY_FRACTION:
        raise CapabilityError(bad_value(
            "sim", name, f"a simulator with PyNN's STDPMechanism: one of "
            f"{sorted(DENDRITIC_DELAY_FRACTION)} (the ANNarchy adapter has no plasticity: "
            "docs/backends.md)", "build plastic regions with pyNN.nest, pyNN.brian2 or pyNN.neuron"))
    return DENDRITIC_DELAY_FRACTION[name]


def stdp_mechanism(sim, timing_dependence, weight_dependence, weight=0.0, delay=None):
    """``sim.STDPMechanism`` with the delay split ``sim`` supports.

    Parameters
    ----------
    sim : module
        The PyNN module a region builder receives.
    timing_dependence, weight_dependence
        As for PyNN's ``STDPMechanism`` (e.g. ``sim.SpikePairRule(...)``,
        ``sim.AdditiveWeightDependence(...)``).
    weight, delay
        The initial weight and the (whole) delay, in PyNN's units.

    Examples
    --------
    In a region builder, written once for NEST, Brian2 and NEURON::

        from pynn_multiscale.plasticity import stdp_mechanism

        synapse = stdp_mechanism(
            sim, sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.01, A_minus=0.012),
            sim.AdditiveWeightDependence(w_min=0.0, w_max=0.01), weight=0.004, delay=1.5)
        sim.Projection(e, e, sim.FixedProbabilityConnector(0.1, rng=rng), synapse,
                       receptor_type="excitatory")
    """
    fraction = dendritic_delay_fraction(sim)  # refuses a simulator without STDP first
    return sim.STDPMechanism(timing_dependence=timing_dependence,
                             weight_dependence=weight_dependence, weight=weight, delay=delay,
                             dendritic_delay_fraction=fraction)


def synaptic_dt(sim, dt: float, delay: float) -> float:
    """The interval the rule sees on ``sim`` for ``dt = t_post - t_pre`` at the neurons (ms)."""
    return dt + (2.0 * dendritic_delay_fraction(sim) - 1.0) * delay
