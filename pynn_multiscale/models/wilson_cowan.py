r"""Wilson-Cowan mean field <-> an E/I network of ``IF_cond_alpha`` neurons with Poisson background.

The default NEST example of tvb-multiscale, with its interface factors derived
here instead of set by hand (docs/models.md, "Wilson-Cowan").

**The mean field.**  tvb-library's ``WilsonCowan`` (Wilson & Cowan 1972,
eqs. 11-12), with the parameters of its docstring's Table 1 (Sanz Leon et al.
2014) that tvb-multiscale's ``wilson_cowan_constraint.WilsonCowan`` makes its
defaults, set explicitly here because tvb-library's own defaults differ::

    tau_e dE/dt = -E + (k_e - r_e E) S(alpha_e (c_ee E - c_ei I + P - theta_e + c))
    tau_i dI/dt = -I + (k_i - r_i I) S(alpha_i (c_ie E - c_ii I + Q - theta_i))
    S(x) = c_s / (1 + exp(-a (x - b)))            (shift_sigmoid False)

r_e = r_i = 0, k_e = k_i = 1, tau_e = tau_i = 10 ms, c_ee 10, c_ei 6, c_ie 10,
c_ii 1, alpha_e 1.2, alpha_i 2, a 1, b 0, c_s 1 (tvb-library's ``a_e``/``a_i``,
``b_e``/``b_i``, ``c_e``/``c_i``), theta_e 2, theta_i 3.5, P 0.5, Q 0.  The
long-range coupling ``c`` enters E only (``cvar = [E]``) and E, I are clamped
to [0, 1] (``state_variable_boundaries``: TVB's integrator clips them after
every step).  For constant ``c`` below about 0.33 the node is on a limit
cycle (period 47 ms at c = 0, ~21 Hz), above it at a high fixed point
(E 0.93 to 1).

**What E = 1 means in Hz.**  E is the fraction of the population's maximal
activity; the spiking node's E population fires at ``nu = E * NU_MAX``.
NU_MAX is *calibrated at one point*, the uncoupled operating point: the node
with its own background only (7000 Hz at 1 nS per E neuron, as in
tvb-multiscale) fires at ``NU_E0``, measured, and the uncoupled mass's E
averages ``E0`` over its cycle (TVB alone), so ``NU_MAX = NU_E0 / E0``.
Everything else follows from NU_MAX and the population sizes:

* **Poisson rate per unit of coupling.**  In the mass, a coupling ``c`` is
  the input of ``c / c_ee`` of the node's own E activity through the E->E
  connection.  In the node, E activity ``E`` is ``N_E`` neurons firing at
  ``E NU_MAX`` through the E->E synapse ``w_ee`` = c_ee x 1 nS.  So ``c`` is
  ``c N_E NU_MAX / c_ee`` Hz at ``w_ee``, the same mean conductance as
  ``c N_E NU_MAX`` Hz at ``w_ee / c_ee`` = 1 nS: ``RateToPoisson`` with
  ``weight = N_E NU_MAX`` and ``synapse_weight = 1 nS`` (the background's
  weight too).
* **Rate -> E.**  The mass's E is its sigmoid's output low-passed with
  ``tau_e``; a spiking region's E is its population rate (``SpikeRate``, Hz
  per TVB step) scaled by ``1 / NU_MAX`` and low-passed with ``tau_e`` (exact
  per step).  It is not clipped to the mass's [0, 1]: the node's population
  bursts exceed NU_MAX, and clipping them would remove a third of its mean.  The same for I,
  with the same NU_MAX (the same cells; not fitted).

tvb-multiscale's factors, in these terms: it sends ``1e4 c`` Hz (= ``N_E x
100 Hz``: E = 1 as 100 Hz) and returns ``count / N`` per 0.1 ms step (E = 1 as
10 kHz): two different meanings of E = 1.

**TVB side.**  :class:`WilsonCowanSpiking` is tvb-library's class with the
boundaries, ``cvar = [E]`` and a ``spiking_update``: in a spiking region E
and I are what the node reports, so no TVB stand-in value is ever read (the
pipelined loop stays exact).
"""

from __future__ import annotations

import math

import numpy as np
from tvb.basic.neotraits.api import Final, List
from tvb.simulator.models.wilson_cowan import WilsonCowan

from ..region import SpikingRegion
from ._tvb_side import check_count, check_known, check_range, constant_history, heun, load_connectivity

# --------------------------------------------------------------------- TVB side

#: tvb-library WilsonCowan's Table 1 (Sanz Leon et al. 2014), tvb-multiscale's
#: wilson_cowan_constraint defaults; tvb-library's own defaults differ (c_ee 12, ...).
WC_PARAMS = dict(r_e=0.0, r_i=0.0, k_e=1.0, k_i=1.0, tau_e=10.0, tau_i=10.0,
                 c_ee=10.0, c_ei=6.0, c_ie=10.0, c_ii=1.0, alpha_e=1.2, alpha_i=2.0,
                 a_e=1.0, a_i=1.0, b_e=0.0, b_i=0.0, c_e=1.0, c_i=1.0,
                 theta_e=2.0, theta_i=3.5, P=0.5, Q=0.0)


class WilsonCowanSpiking(WilsonCowan):
    """tvb-library's ``WilsonCowan``, E and I clamped to [0, 1], coupling into E only.

    In a region replaced by a spiking node, :meth:`spiking_update` sets E and
    I to the values the node reports (``default_to_tvb``; not clipped: the
    boundaries clamp TVB's integration only); a variable the node does not
    report keeps its value.
    """

    state_variable_boundaries = Final(
        label="State Variable boundaries [lo, hi]",
        default={"E": np.array([0.0, 1.0]), "I": np.array([0.0, 1.0])},
        doc="E and I are fractions of the maximal activity.")

    variables_of_interest = List(
        of=str, label="Variables watched by Monitors", choices=("E", "I"),
        default=("E", "I"), doc="Variables that the monitors record.")

    cvar = np.array([0], dtype=np.int32)

    #: Variables that the spiking side writes.
    spiking_inputs = ("E", "I")

    def spiking_update(self, previous: np.ndarray, inputs: dict, dt: float) -> np.ndarray:
        """States of spiking regions over a window, from what the nodes report.

        Parameters and returns as :meth:`ReducedWongWangExcInhRates.spiking_update
        <pynn_multiscale.models.red_wong_wang.ReducedWongWangExcInhRates.spiking_update>`.
        """
        n_steps = next(iter(inputs.values())).shape[0]
        out = np.broadcast_to(previous, (n_steps,) + previous.shape).copy()
        for var, name in enumerate(self.state_variables):
            if name in inputs:
                out[:, var] = inputs[name][:, :, None]
        return out


#: Global coupling: TVB's Linear(a = G) on E.  tvb-multiscale's example uses
#: a = 1/256 on a connectome normalised to its 99th percentile; on
#: connectivity_68 as stored (row sums 0.016-0.34) that gives c < 1.4e-3,
#: 0.1% of the node's background.  G = 2 gives a median region c of about
#: 0.13 (E ~ 0.43), inside the range the pair is checked for (docs/models.md).
G_DEFAULT = 2.0
#: Additive noise on E and I (TVB's nsig); the transfer check runs without it.
NSIG_DEFAULT = 1e-5
#: Where the pair is meant to be used: constant couplings up to C_MAX (the mass
#: is on its limit cycle below c ~ 0.33; docs/models.md).
C_MAX = 0.3


def tvb_model(**params) -> WilsonCowanSpiking:
    """The pair's TVB model: :data:`WC_PARAMS`, overridden by ``params``."""
    check_known("model parameter", params, WC_PARAMS, "WC_PARAMS")
    values = dict(WC_PARAMS, **params)
    for name, value in values.items():
        positive = name.startswith("tau")
        check_range(name, value, 0.0 if positive else -math.inf, math.inf, strict_lo=positive)
    return WilsonCowanSpiking(shift_sigmoid=np.array([False]),
                              **{k: np.array([float(v)]) for k, v in values.items()})


def tvb_simulator(connectivity="connectivity_68", G=G_DEFAULT, nsig=NSIG_DEFAULT, dt=0.1,
                  speed=3.0, noise_seed=42, monitors=None, coupling=None, **model):
    r"""A whole-brain Wilson-Cowan simulator (not configured), every region starting at rest.

    The long-range input of region i is :math:`c_i = G \sum_j w_{ij} E_j(t - d_{ij})`
    (TVB's ``Linear(a = G)``), added to E's input.  Every region starts at
    E = I = 0 (their lower bound) and reaches the limit cycle within one period.

    Parameters
    ----------
    connectivity : str or tvb Connectivity
    G : float
        Global coupling.
    nsig : float
        Additive noise on E and I; 0: deterministic Heun.
    dt, speed : float
        TVB's step (ms) and the conduction speed (mm/ms).
    coupling : tvb Coupling, optional
        Replaces the ``Linear`` coupling (the transfer check uses a constant).
    **model
        Overrides of :data:`WC_PARAMS`.
    """
    for name, value, lo, strict in (("G", G, 0.0, False), ("nsig", nsig, 0.0, False),
                                    ("dt", dt, 0.0, True), ("speed", speed, 0.0, True)):
        check_range(name, value, lo, math.inf, strict_lo=strict)
    from tvb.simulator import coupling as tvb_coupling, simulator
    from tvb.simulator import monitors as tvb_monitors

    conn = load_connectivity(connectivity, speed)
    wc = tvb_model(**model)
    if coupling is None:
        coupling = tvb_coupling.Linear(a=np.array([float(G)]))
    integrator = heun(dt, [nsig, nsig], noise_seed)
    initial = constant_history([0.0, 0.0], conn, dt)
    return simulator.Simulator(model=wc, connectivity=conn, coupling=coupling,
                               integrator=integrator,
                               monitors=monitors or [tvb_monitors.Raw()],
                               initial_conditions=initial)


def mean_field_average(levels, variable="E", duration=2000.0, discard=500.0, **model):
    """The mass's time average of ``variable`` at each constant coupling (TVB alone).

    On the limit cycle there is no steady state to compare with; the average
    over the last ``duration - discard`` ms (at least 20 periods for c <= 0.3)
    is what a rate measured over a long span estimates.  At a fixed point it
    is the fixed point.  All levels run in one TVB simulation of unconnected
    regions, region k receiving the constant coupling ``levels[k]``
    (``Linear(a=0, b=levels)``).
    """
    from tvb.datatypes.connectivity import Connectivity
    from tvb.simulator.coupling import Linear

    check_range("discard", discard, 0.0, duration)
    levels = np.asarray(levels, dtype=float).ravel()
    n = levels.size
    conn = Connectivity(weights=np.zeros((n, n)), tract_lengths=np.zeros((n, n)),
                        centres=np.zeros((n, 3)),
                        region_labels=np.array([f"c={x:g}" for x in levels]),
                        speed=np.array([3.0]))
    tvb = tvb_simulator(connectivity=conn, nsig=0.0,
                        coupling=Linear(a=np.array([0.0]), b=levels[:, None]), **model)
    tvb.simulation_length = duration
    tvb.configure()
    (time, data), = tvb.run()
    values = data[:, tvb.model.variables_of_interest.index(variable), :, 0]
    return values[time > discard].mean(axis=0)


# ----------------------------------------------------------------- spiking side

#: Population sizes (tvb-multiscale's population_order 100, scale 1 for E and I).
N_E, N_I = 100, 100

#: NEST iaf_cond_alpha's defaults (NEST 3.10, nest.GetDefaults and its model
#: header), set explicitly: PyNN's IF_cond_alpha defaults differ.
CELL_PARAMS = dict(cm=0.25, tau_m=15.0, v_rest=-70.0, v_thresh=-55.0, v_reset=-60.0,
                   tau_refrac=2.0, e_rev_E=0.0, e_rev_I=-85.0, tau_syn_E=0.2, tau_syn_I=2.0,
                   i_offset=0.0)

#: The node of tvb-multiscale's WilsonCowanBuilder: weights (uS) equal to c_xy nS,
#: all to all (NEST's all_to_all allows autapses), delay 1 ms; 7000 Hz Poisson
#: background onto E at 1 nS.  ``bg_sources``: the background of each E cell as the sum of
#: that many independent Poisson sources of ``bg_rate / bg_sources`` (the same Poisson
#: process).  1 on NEST; Brian2's PoissonGroup fires at most one spike per step, so at
#: 7000 Hz and 0.1 ms (rate x dt = 0.7) one source loses most of the count's variance and
#: the uncoupled node stays silent there: pass 10 (rate x dt = 0.07).
NETWORK_PARAMS = dict(w_ee=0.010, w_ei=0.006, w_ie=0.010, w_ii=0.001, delay=1.0,
                      bg_rate=7000.0, bg_weight=0.001, bg_sources=1)

#: CoSimulation's runaway check (Hz in 1 ms bins): the node fires in population bursts
#: (up to 900 Hz in a 1 ms bin, measured); with t_ref = 2 ms no neuron can fire twice in
#: 1 ms, so 1000 Hz is the most any population can reach and the check never stops a run.
MAX_RATE = 1000.0

#: The unit synapse: w_xy / c_xy (uS per unit of the mass's coupling constants).
UNIT_SYNAPSE = NETWORK_PARAMS["w_ee"] / WC_PARAMS["c_ee"]

#: The uncoupled node's E rate (Hz), seeds 1-4, 1000 ms runs after 200 ms,
#: through default_to_tvb's SpikeRate (tests/test_wilson_cowan.py re-measures it).
NU_E0 = 18.9
#: The uncoupled mass's mean E over its limit cycle (TVB alone: mean_field_average([0])).
E0 = 0.4317
#: Hz of the node's E population per unit of E: the calibration (module docstring).
NU_MAX = NU_E0 / E0


def build_spiking_region(sim, region_index, label, rng, n_e=N_E, n_i=N_I, params=None):
    """One Wilson-Cowan node in plain PyNN: ``n_e`` E and ``n_i`` I ``IF_cond_alpha`` cells.

    All-to-all inside (:data:`NETWORK_PARAMS`), independent Poisson background
    onto every E cell; initial potentials uniform between reset and threshold,
    drawn with ``rng``.  Changing ``n_e`` or ``n_i`` changes the in-degrees,
    and so the node's rates: the calibration holds for 100 + 100.

    Returns
    -------
    SpikingRegion
        Populations ``"E"`` and ``"I"`` and the projections among them.
    """
    check_count("n_e", n_e, 1, N_E)
    check_count("n_i", n_i, 1, N_I)
    check_known("params", params, NETWORK_PARAMS, "NETWORK_PARAMS")
    p = dict(NETWORK_PARAMS, **(params or {}))
    for name, value in p.items():
        check_range(name, value, 0.0, math.inf, strict_lo=name == "delay")
    cell = sim.IF_cond_alpha(**CELL_PARAMS)
    pops = {"E": sim.Population(n_e, cell, label=f"{label}_E"),
            "I": sim.Population(n_i, cell, label=f"{label}_I")}
    v_init = sim.RandomDistribution("uniform", (CELL_PARAMS["v_reset"], CELL_PARAMS["v_thresh"]),
                                    rng=rng)
    for pop in pops.values():
        pop.initialize(v=v_init)
    connector = sim.AllToAllConnector(allow_self_connections=True)
    projections = []
    for pre, post, weight, receptor in (("E", "E", p["w_ee"], "excitatory"),
                                        ("E", "I", p["w_ei"], "excitatory"),
                                        ("I", "E", p["w_ie"], "inhibitory"),
                                        ("I", "I", p["w_ii"], "inhibitory")):
        projections.append(sim.Projection(
            pops[pre], pops[post], connector, sim.StaticSynapse(weight=weight, delay=p["delay"]),
            receptor_type=receptor, label=f"{label}_{pre}{post}"))
    k = p["bg_sources"]
    check_count("params['bg_sources']", k, 1, "10 (on Brian2)", what="sources")
    background = sim.Population(n_e * k, sim.SpikeSourcePoisson(rate=p["bg_rate"] / k),
                                label=f"{label}_bg_E")
    connector = sim.OneToOneConnector() if k == 1 else sim.FromListConnector(
        [(i * k + j, i) for i in range(n_e) for j in range(k)])
    projections.append(sim.Projection(
        background, pops["E"], connector,
        sim.StaticSynapse(weight=p["bg_weight"], delay=p["delay"]), receptor_type="excitatory",
        label=f"{label}_bg_E"))
    return SpikingRegion(pops, projections)


def default_to_spiking(nu_max=NU_MAX, n_e=N_E):
    """TVB's coupling on E as Poisson input onto E: ``n_e * nu_max`` Hz per unit, at 1 nS.

    The coupling already contains ``G`` (:func:`tvb_simulator`).  The delay
    is the node's synaptic delay (it adds to the connectome's).
    """
    from ..proxies import RateToPoisson

    check_range("nu_max", nu_max, 0.0, math.inf, strict_lo=True)
    return [RateToPoisson("E", "E", weight=n_e * nu_max, synapse_weight=UNIT_SYNAPSE,
                          delay=NETWORK_PARAMS["delay"])]


def rate_to_activity(nu_max=NU_MAX, tau=WC_PARAMS["tau_e"]):
    """Hz -> the mass's activity: ``/ nu_max``, then low-pass ``tau`` (exact per step).

    Not clipped to [0, 1]: the node fires in population bursts whose
    low-passed rate reaches 2.2 NU_MAX (95th percentile, uncoupled node);
    clipping them removed a third of its mean activity (measured:
    0.31 instead of 0.45).
    """
    from ..proxies import transforms

    check_range("nu_max", nu_max, 0.0, math.inf, strict_lo=True)
    check_range("tau", tau, 0.0, math.inf, strict_lo=True)
    return transforms.Chain(transforms.Affine(scale=1.0 / nu_max), transforms.LowPass(tau))


def default_to_tvb(nu_max=NU_MAX):
    """The E and I rates per TVB step, as activities, into ``E`` and ``I``."""
    from ..proxies import SpikeRate

    return [SpikeRate("E", "E", transform=rate_to_activity(nu_max, WC_PARAMS["tau_e"])),
            SpikeRate("I", "I", transform=rate_to_activity(nu_max, WC_PARAMS["tau_i"]))]
