"""Reduced Wong-Wang with the spiking network it reduces: Deco et al. 2014's AMPA/NMDA/GABA neurons.

The TVB side is :mod:`pynn_multiscale.models.red_wong_wang`'s (tvb-library's
``ReducedWongWangExcInh`` with rate variables).  The spiking side is the network of
Deco et al. (2014, J Neurosci 34:7886), after Brunel & Wang (2001): E and I leaky
integrate-and-fire neurons with AMPA (external and recurrent), NMDA and GABA_A
synapses, all-to-all inside a region, driven by Poisson background input.  Its neuron
is the NESTML model ``iaf_cond_deco2014_neuron``
(``pynn_multiscale/models/nestml/iaf_cond_deco2014_neuron.nestml``), compiled for the
installed NEST on first use by :func:`pynn_multiscale.nestml.build` -- the model that
tvb-multiscale ships as a custom NEST module (``iaf_cond_ww_deco``) built in Docker.

NEST only: the neuron exists as NEST code that NESTML generates; Brian2, NEURON and
ANNarchy cannot run it (:class:`~pynn_multiscale.errors.CapabilityError`).

Weights are dimensionless (Deco's w: 1 for a plain synapse, ``w_plus`` for E->E,
``J_i`` for I->E): a synapse of weight w contributes ``g * w * s`` with ``g`` the
target cell's conductance.  Every number, with its source, is in ``docs/nestml.md``.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..errors import CapabilityError, ConfigurationError, bad_value
from ..region import SpikingRegion
from ._tvb_side import check_known, check_range
from .red_wong_wang import (FIXED_POINT, G_DEFAULT, default_to_tvb, long_range_input,  # noqa: F401 (the pair's TVB side)
                            tvb_simulator)

#: The NESTML file of the neuron.
MODEL_FILE = Path(__file__).parent / "nestml" / "iaf_cond_deco2014_neuron.nestml"
MODEL_NAME = "iaf_cond_deco2014_neuron"

#: Receptor names (NEST receptor types of the model; PyNN ``receptor_type``).
AMPA_EXT, AMPA_NMDA, GABA = "AMPA_EXT", "AMPA_NMDA", "GABA"

#: Pyramidal (E) cells: Deco et al. 2014 (Methods), membrane from Brunel & Wang 2001.
E_CELL = dict(C_m=500.0, g_m=25.0, refr_T=2.0,
              g_AMPA_ext=3.37, g_AMPA=0.065, g_NMDA=0.20, g_GABA=10.94)
#: Interneurons (I): same sources.
I_CELL = dict(C_m=200.0, g_m=20.0, refr_T=1.0,
              g_AMPA_ext=2.59, g_AMPA=0.051, g_NMDA=0.16, g_GABA=8.51)

#: The largest region: Brunel & Wang 2001's local network, 800 E + 200 I; ``scale`` is the
#: size relative to it.
N_E_FULL, N_I_FULL = 800, 200
#: The network Deco et al. 2014's conductances (E_CELL, I_CELL) go with: 160 E + 40 I,
#: all-to-all, every synapse of weight 1 but E->E (w+) and I->E (J_i) -- as
#: tvb-multiscale's Deco 2014 builder has it (1.6 and 0.4 times its population order of
#: 100, unit weights).  Its summed NMDA conductance, 160 x 0.20 nS, gives about the mean
#: field's J_NMDA = 0.15 nA (0.19 nA at -55 mV with the Mg block); 800 x 0.20 nS would give
#: five times that.  A region of another size gets its weights scaled by N_E_REF/n_e and
#: N_I_REF/n_i.
N_E_REF, N_I_REF = 160, 40
#: Deco et al. 2014's w+ = 1.4, and J_i as their feedback inhibition control (FIC) sets
#: it: the value that puts a region on its own (background only) at E near 3 Hz, the mean
#: field's low-activity fixed point (FIXED_POINT: 3.08 Hz with J_i = 1).  With w+ = 1.4
#: the default region (160 E + 40 I) gives E 1.8-2.6 Hz at J_i = 1.0 and 2.5-3.8 Hz at
#: 0.97 over seeds 1-5 (I about 8.3 Hz); see docs/nestml.md for the scan.
NETWORK_PARAMS = dict(
    w_plus=1.4,        # E->E weight (Deco et al. 2014)
    J_i=0.97,          # I->E weight (Deco et al. 2014's J_i; FIC by a scan, docs/nestml.md)
    bg_rate=2400.0,    # Hz: 800 external neurons at 3 Hz (Brunel & Wang 2001; Deco et al. 2014)
    delay=0.5,         # ms, every synapse inside a region and of the background
)

#: Default size: 20% of the full network (160 E + 40 I), a co-simulation in seconds.
SCALE_DEFAULT = 0.2


@functools.lru_cache(maxsize=None)
def _cell_class():
    from .. import nestml

    base = nestml.build(MODEL_FILE, models=[MODEL_NAME])[MODEL_NAME]
    # PyNN's nest backend multiplies every Projection weight by 1000 (uS -> nS) unless the
    # cell type says otherwise; this model's weights are dimensionless multipliers.  Its
    # synapses are conductances: PyNN then wants positive weights onto GABA too (it takes
    # "GABA" for an inhibitory receptor and, on a current-based cell, wants it negative).
    return type("IafCondDeco2014", (base,), {
        "receptor_scale": 1e-3, "conductance_based": True, "__module__": __name__,
        "__doc__": "iaf_cond_deco2014_neuron; PyNN weights are dimensionless (Deco's w)."})


def cell_type(sim, **parameters):
    """The PyNN cell type of ``iaf_cond_deco2014_neuron`` for ``sim`` (``pyNN.nest`` only).

    Made after ``sim.setup()`` and before the network's first node (NEST loads the
    compiled module only into an empty network).  ``parameters`` override the NESTML
    defaults (those of a pyramidal cell), e.g. ``**I_CELL``.
    """
    check_nest(sim)
    return _cell_class()(**parameters)


def check_nest(sim):
    """Stop unless ``sim`` is ``pyNN.nest``: the neuron is NEST code that NESTML generates."""
    name = getattr(sim, "__name__", repr(sim))
    if name != "pyNN.nest":
        raise CapabilityError(
            f"red_wong_wang_deco2014 needs pyNN.nest, not {name}: its neuron, "
            f"{MODEL_NAME}, is a custom NEST module (C++ that NESTML generates for NEST), which "
            "Brian2, NEURON and ANNarchy cannot run. Use --simulator nest, or "
            "models.red_wong_wang (IF_cond_alpha cells) on this simulator.")


def region_weights(n_e, n_i, params=None):
    """The weights inside a region of ``n_e`` E and ``n_i`` I cells, scaled to the full network.

    All-to-all connectivity, as in Deco et al. 2014 and Brunel & Wang 2001.  A cell of
    Deco et al. 2014's network sums ``N_E_REF`` (160) excitatory and ``N_I_REF`` (40)
    inhibitory synapses; a cell of a region of another size gets each weight times
    ``N_E_REF / n_e`` (``N_I_REF / n_i``), so that its summed weight, and with it the mean
    synaptic input at given rates, stays that of Deco's network.  (The fluctuations go
    as 1/sqrt(n): smaller in a larger region.)  ``s_NMDA_max`` of each
    population is its summed recurrent excitatory weight (see the NESTML file).

    Examples
    --------
    >>> w = region_weights(160, 40)
    >>> round(w["EE"], 3), w["EI"], round(w["IE"], 3), w["II"], round(w["s_NMDA_max_E"], 3)
    (1.4, 1.0, 0.97, 1.0, 224.0)
    >>> w = region_weights(800, 200)
    >>> round(w["EE"], 3), w["EI"], round(w["IE"], 3), w["II"], round(w["s_NMDA_max_E"], 3)
    (0.28, 0.2, 0.194, 0.2, 224.0)
    """
    p = dict(NETWORK_PARAMS, **(params or {}))
    ke, ki = N_E_REF / n_e, N_I_REF / n_i
    return {"EE": p["w_plus"] * ke, "EI": ke, "IE": p["J_i"] * ki, "II": ki,
            "s_NMDA_max_E": p["w_plus"] * N_E_REF, "s_NMDA_max_I": float(N_E_REF)}


def build_deco2014_region(sim, region_index, label, rng, n_e=None, n_i=None,
                          scale=SCALE_DEFAULT, params=None):
    """One spiking region of Deco et al. 2014: E and I ``iaf_cond_deco2014_neuron`` cells.

    Parameters
    ----------
    sim : module
        ``pyNN.nest``, already set up (other simulators: CapabilityError).
    region_index : int
        The TVB region this network replaces.
    label : str
        The region's label (population labels).
    rng : pyNN.random.NumpyRNG
        For the initial membrane potentials.
    n_e, n_i : int, optional
        Population sizes; default ``scale`` times 800 and 200.
    scale : float
        In (0, 1]: the size relative to the full network when ``n_e``/``n_i`` are not given.
        Weights are scaled by 160/n_e and 40/n_i (:func:`region_weights`): w+, 1, J_i, 1
        at the default 0.2, which is Deco et al. 2014's network.
    params : dict, optional
        Overrides of :data:`NETWORK_PARAMS`.

    Returns
    -------
    SpikingRegion
        Populations ``"E"`` and ``"I"``, the four recurrent projections (E onto
        ``AMPA_NMDA``, I onto ``GABA``) and the background (Poisson at ``bg_rate`` onto
        ``AMPA_EXT``, weight 1, one source per cell).
    """
    check_nest(sim)
    check_range("scale", scale, 0.0, 1.0, strict_lo=True)
    check_known("params", params, NETWORK_PARAMS, "NETWORK_PARAMS")
    n_e = int(round(scale * N_E_FULL)) if n_e is None else n_e
    n_i = int(round(scale * N_I_FULL)) if n_i is None else n_i
    for name, value, full in (("n_e", n_e, N_E_FULL), ("n_i", n_i, N_I_FULL)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= full:
            raise ConfigurationError(bad_value(
                name, value, f"a whole number of neurons in [1, {full}] (the full network)",
                f"pass e.g. {name}={int(SCALE_DEFAULT * full)}, or scale=..."))
    p = dict(NETWORK_PARAMS, **(params or {}))
    for name in ("w_plus", "J_i", "bg_rate"):
        check_range(f"params['{name}']", p[name], 0.0, float("inf"))
    check_range("params['delay']", p["delay"], 0.0, float("inf"), strict_lo=True)
    w = region_weights(n_e, n_i, p)
    pops = {"E": sim.Population(n_e, cell_type(sim, **E_CELL, s_NMDA_max=w["s_NMDA_max_E"]),
                                label=f"{label}_E"),
            "I": sim.Population(n_i, cell_type(sim, **I_CELL, s_NMDA_max=w["s_NMDA_max_I"]),
                                label=f"{label}_I")}
    v_init = sim.RandomDistribution("uniform", (-70.0, -50.0), rng=rng)  # V_L to V_th
    for pop in pops.values():
        pop.initialize(V_m=v_init)
    connector = sim.AllToAllConnector(allow_self_connections=False)
    projections = []
    for pre, post, key, receptor in (("E", "E", "EE", AMPA_NMDA), ("E", "I", "EI", AMPA_NMDA),
                                     ("I", "E", "IE", GABA), ("I", "I", "II", GABA)):
        # a self-connection is left out: n - 1 synapses of the same population, so the
        # weight is scaled by N_full / n, not N_full / (n - 1) -- a 1/n bias, as in the seed
        projections.append(sim.Projection(
            pops[pre], pops[post], connector,
            sim.StaticSynapse(weight=w[key], delay=p["delay"]), receptor_type=receptor,
            label=f"{label}_{pre}{post}"))
    for name, pop in pops.items():
        background = sim.Population(pop.size, sim.SpikeSourcePoisson(rate=p["bg_rate"]),
                                    label=f"{label}_bg_{name}")
        projections.append(sim.Projection(
            background, pop, sim.OneToOneConnector(),
            sim.StaticSynapse(weight=1.0, delay=p["delay"]), receptor_type=AMPA_EXT,
            label=f"{label}_bg_{name}"))
    return SpikingRegion(pops, projections)


def deco2014_to_spiking(G=G_DEFAULT, lamda=0.0, params=None):
    """TVB -> spiking: the long-range excitatory rate as Poisson input onto ``AMPA_EXT``.

    Each E cell receives an independent Poisson train at
    ``G * N_E_REF * sum_j w_ij R_e_j(t - d_ij)`` Hz with weight 1 on ``AMPA_EXT``: the
    input of the ``N_E_REF`` (160) pyramidal cells of every source region -- Deco et al.
    2014's network, whose conductances the cells have, as tvb-multiscale scales its rate
    by the spiking region's N_E -- scaled by the connectome weight and the global
    coupling, through external AMPA synapses, as the background arrives (the seed's
    ``N_E`` factor; independent of the region's size, since the external synapses are
    not scaled).  With ``lamda > 0`` the I cells get
    ``lamda`` times that rate (feedforward inhibition).
    """
    from ..proxies import RateToPoisson

    check_range("G", G, 0.0, float("inf"))
    check_range("lamda", lamda, 0.0, 1.0)
    p = dict(NETWORK_PARAMS, **(params or {}))
    proxies = [RateToPoisson("R_e", "E", weight=G * N_E_REF, synapse_weight=1.0,
                             delay=p["delay"], receptor_type=AMPA_EXT)]
    if lamda > 0:
        proxies.append(RateToPoisson("R_e", "I", weight=lamda * G * N_E_REF, synapse_weight=1.0,
                                     delay=p["delay"], receptor_type=AMPA_EXT))
    return proxies


#: The names every pair module has (benchmarks/cosim_overhead.py's ``--model``).
build_spiking_region = build_deco2014_region
default_to_spiking = deco2014_to_spiking
