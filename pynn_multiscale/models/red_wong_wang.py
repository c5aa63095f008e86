"""The EBRAINS use case: reduced Wong-Wang (Deco 2014) with spiking E/I nodes.

Three pieces, kept together because they are calibrated together:

* :class:`ReducedWongWangExcInhRates`, a TVB model: tvb-library's
  ``ReducedWongWangExcInh`` (Deco et al. 2014, J Neurosci 34:7886) extended with
  the rates ``R_e``, ``R_i`` (Hz) that the coupling to spiking nodes needs, and
  the low-pass inputs ``Rin_e``, ``Rin_i`` (Hz) that the spiking nodes write.
* :func:`tvb_simulator`, the whole-brain simulator of workload W1.
* :func:`build_spiking_region`, the spiking node: 800 E + 200 I
  ``IF_cond_alpha`` neurons, in plain PyNN, usable with any PyNN backend.

Every number chosen here is listed, with its source, in ``docs/use_case.md``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter
from tvb.basic.neotraits.api import Final, List, NArray, Range
from tvb.simulator.models.wong_wang_exc_inh import ReducedWongWangExcInh

from ..errors import ConfigurationError, bad_value
from ..region import SpikingRegion
from ._tvb_side import check_count, check_known, check_range, constant_history, heun, load_connectivity  # noqa: F401 (constant_history: public here)

# --------------------------------------------------------------------- TVB side

#: Low-activity fixed point of one uncoupled node with tvb-library's defaults
#: (found by integrating the noiseless equations to convergence).
FIXED_POINT = {"S_e": 0.16476, "S_i": 0.03922, "R_e": 3.0773, "R_i": 3.9218,
               "Rin_e": 3.0773, "Rin_i": 3.9218}


class ReducedWongWangExcInhRates(ReducedWongWangExcInh):
    r"""Reduced Wong-Wang exc/inh with rate variables, for co-simulation.

    State variables: ``S_e``, ``S_i`` (integrated, as in tvb-library), and
    ``R_e``, ``R_i``, ``Rin_e``, ``Rin_i`` (Hz, not integrated by TVB).

    * In a TVB region, ``R_e = H_e(x_e)`` and ``R_i = H_i(x_i)``, the rates that
      drive ``S_e`` and ``S_i``.  ``Rin_*`` follow ``R_*``.
    * In a region replaced by a spiking network, the spiking side writes the
      population rate :math:`r(t)` of every TVB step.  ``Rin`` is its low-pass
      filter, :math:`\tau_{in}\,\dot{R}_{in} = r - R_{in}`, integrated exactly
      for a rate constant over one step; ``R = Rin``; and ``S_e``, ``S_i`` follow
      the same equations as in TVB with ``H`` replaced by ``R``, also integrated
      exactly over each step.

    The coupling variables are ``S_e`` (the mean-field coupling, as in
    tvb-library) and ``R_e`` (the rate sent to spiking regions).
    """

    tau_rin = NArray(
        label=r":math:`\tau_{in}`", default=np.array([10.0]),
        domain=Range(lo=0.0, hi=1000.0, step=1.0),
        doc="Time constant (ms) of the low-pass filter on the rates that spiking "
            "regions send to TVB. 0 means no filtering.")

    state_variable_range = Final(
        default={"S_e": np.array([0.0, 1.0]), "S_i": np.array([0.0, 1.0]),
                 "R_e": np.array([0.0, 100.0]), "R_i": np.array([0.0, 100.0]),
                 "Rin_e": np.array([0.0, 100.0]), "Rin_i": np.array([0.0, 100.0])},
        label="State variable ranges [lo, hi]", doc="Ranges of the initial conditions.")

    state_variable_boundaries = Final(
        label="State Variable boundaries [lo, hi]",
        default={"S_e": np.array([0.0, 1.0]), "S_i": np.array([0.0, 1.0])},
        doc="S_e and S_i are fractions of open channels.")

    variables_of_interest = List(
        of=str, label="Variables watched by Monitors",
        choices=("S_e", "S_i", "R_e", "R_i", "Rin_e", "Rin_i"),
        default=("S_e", "S_i", "R_e", "R_i", "Rin_e", "Rin_i"),
        doc="Variables that the monitors record.")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._coupling_0 = None  # the coupling of the step being integrated (TVB's hook sets it)

    state_variables = ["S_e", "S_i", "R_e", "R_i", "Rin_e", "Rin_i"]
    non_integrated_variables = ["R_e", "R_i", "Rin_e", "Rin_i"]
    _nvar = 6
    cvar = np.array([0, 2], dtype=np.int32)

    # -- the mean-field equations, as in tvb-library's numpy dfun
    def _inputs(self, S_e, S_i, c_0):
        coupling = self.G * self.J_N * c_0
        j_n_s_e = self.J_N * S_e
        x_e = self.w_p * j_n_s_e - self.J_i * S_i + self.W_e * self.I_o + coupling + self.I_ext
        x_i = j_n_s_e - S_i + self.W_i * self.I_o + self.lamda * coupling
        return x_e, x_i

    def _rates(self, x_e, x_i):
        y_e = self.a_e * x_e - self.b_e
        y_i = self.a_i * x_i - self.b_i
        return y_e / (1 - np.exp(-self.d_e * y_e)), y_i / (1 - np.exp(-self.d_i * y_i))

    def dfun(self, state_variables, coupling, local_coupling=0.0):
        """Time derivatives of S_e and S_i (TVB's reduced Wong-Wang equations)."""
        S_e, S_i = state_variables[0], state_variables[1]
        H_e, H_i = self._rates(*self._inputs(S_e, S_i, coupling[0] + local_coupling * S_e))
        dS_e = -(S_e / self.tau_e) + (1 - S_e) * H_e * self.gamma_e
        dS_i = -(S_i / self.tau_i) + H_i * self.gamma_i
        return np.array([dS_e, dS_i])

    def update_state_variables_before_integration(self, state, coupling, local_coupling=0.0,
                                                  stimulus=0.0):
        self._coupling_0 = coupling[0]
        return None

    def update_state_variables_after_integration(self, state):
        # R at step n is the rate of the new S under the coupling of step n.
        R_e, R_i = self._rates(*self._inputs(state[0], state[1], self._coupling_0))
        state[2], state[3] = R_e, R_i
        state[4], state[5] = R_e, R_i
        return state

    # -- the spiking regions
    #: Variables that the spiking side writes.
    spiking_inputs = ("Rin_e", "Rin_i")

    def spiking_update(self, previous: np.ndarray, inputs: dict, dt: float) -> np.ndarray:
        """States of spiking regions over a window, from their measured rates.

        Parameters
        ----------
        previous : ndarray, (n_var, n_proxy, n_mode)
            The state before the window.
        inputs : dict
            ``"Rin_e"`` and/or ``"Rin_i"``: rates in Hz, ``(n_steps, n_proxy)``.
            A missing one keeps its previous value.
        dt : float
            TVB's time step (ms).

        Returns
        -------
        ndarray, (n_steps, n_var, n_proxy, n_mode)
        """
        n_steps = next(iter(inputs.values())).shape[0]
        out = np.empty((n_steps,) + previous.shape)
        tau = float(np.asarray(self.tau_rin).ravel()[0])
        keep = 0.0 if tau == 0 else float(np.exp(-dt / tau))
        # Rin: the exact low-pass of a rate constant over each step,
        # Rin[k] = keep * Rin[k-1] + (1 - keep) * r[k], as a linear filter.
        for name, var in (("Rin_e", 4), ("Rin_i", 5)):
            r = inputs.get(name)
            if r is None:
                out[:, var] = previous[var]
                continue
            initial = previous[var, :, 0]
            filtered, _ = lfilter([1.0 - keep], [1.0, -keep], r, axis=0, zi=keep * initial[None, :])
            out[:, var] = filtered[:, :, None]
        out[:, 2], out[:, 3] = out[:, 4], out[:, 5]  # R = Rin in spiking regions
        # dS/dt = a - b S, a and b constant over each step: the exact solution is
        # S[k] = decay[k] * S[k-1] + (1 - decay[k]) * fixed[k], a linear recurrence
        # solved with cumulative products (they stay far from underflow over a window).
        gamma_e, tau_e = float(self.gamma_e[0]), float(self.tau_e[0])
        gamma_i, tau_i = float(self.gamma_i[0]), float(self.tau_i[0])
        a_e = gamma_e * out[:, 4]
        b_e = 1.0 / tau_e + a_e
        out[:, 0] = _linear_recurrence(previous[0], np.exp(-b_e * dt), a_e / b_e)
        decay_i = np.full_like(out[:, 5], np.exp(-dt / tau_i))
        out[:, 1] = _linear_recurrence(previous[1], decay_i, gamma_i * tau_i * out[:, 5])
        return out


def _linear_recurrence(x0, decay, fixed):
    """x[k] = decay[k] * x[k-1] + (1 - decay[k]) * fixed[k] for all k, from x[-1] = x0."""
    gain = np.cumprod(decay, axis=0)
    return gain * (x0 + np.cumsum((1.0 - decay) * fixed / gain, axis=0))


#: W1's global coupling.  See docs/use_case.md for the scan behind it.
G_DEFAULT = 1.0
#: Additive noise on S_e and S_i: D = sigma**2 / 2 with sigma = 0.01 (Deco et al. 2013).
NSIG_DEFAULT = 5e-5


def tvb_simulator(connectivity="connectivity_68", G=G_DEFAULT, lamda=0.0, nsig=NSIG_DEFAULT,
                  dt=0.1, speed=3.0, noise_seed=42, monitors=None, tau_rin=10.0, coupling=None):
    """Build the TVB simulator of workload W1 (not configured).

    Parameters
    ----------
    connectivity : str or tvb Connectivity
        A tvb-data connectivity name (``"connectivity_68"``) or an object.
    G : float
        Global coupling of the model (tvb-library's ``ReducedWongWangExcInh.G``).
    lamda : float
        Feedforward inhibition: the share of the coupling that reaches I.
    nsig : float
        Additive noise intensity on ``S_e`` and ``S_i``; 0 gives a
        deterministic Heun integrator.
    dt, speed : float
        Integration step (ms) and conduction speed (mm/ms).
    noise_seed : int
        TVB's noise seed (``CoSimulation(seed=...)`` overrides it).
    monitors : list, optional
        TVB monitors; default ``[Raw()]``.
    tau_rin : float
        Low-pass time constant (ms) on the rates from spiking regions.
    coupling : tvb Coupling, optional
        Replaces ``Linear(a=1)`` (the transfer check uses :func:`long_range_input`).
    """
    # not tvb.simulator.lab: importing it reconfigures logging as a side effect
    for name, value, lo, hi in (("G", G, 0.0, math.inf), ("lamda", lamda, 0.0, 1.0),
                                ("nsig", nsig, 0.0, math.inf), ("dt", dt, 0.0, math.inf),
                                ("speed", speed, 0.0, math.inf), ("tau_rin", tau_rin, 0.0, math.inf)):
        check_range(name, value, lo, hi, strict_lo=name in ("dt", "speed"))
    from tvb.simulator import coupling as tvb_coupling, simulator
    from tvb.simulator import monitors as tvb_monitors

    conn = load_connectivity(connectivity, speed)
    model = ReducedWongWangExcInhRates(G=np.array([float(G)]), lamda=np.array([float(lamda)]),
                                       tau_rin=np.array([float(tau_rin)]))
    integrator = heun(dt, [nsig, nsig], noise_seed)
    initial = constant_history([FIXED_POINT[v] for v in model.state_variables], conn, dt)
    return simulator.Simulator(
        model=model, connectivity=conn,
        coupling=coupling if coupling is not None else tvb_coupling.Linear(a=np.array([1.0])),
        integrator=integrator, monitors=monitors or [tvb_monitors.Raw()],
        initial_conditions=initial)


def long_range_input(gain: float):
    """A constant coupling: sources at the fixed point, summed connectome weight times G = ``gain``.

    The two coupling variables have different units, so a constant input is
    a pair: ``gain * S_e*`` for the mass (dimensionless, times ``J_N`` in the
    model) and ``gain * R_e*`` Hz for the spiking node's Poisson proxy, with
    ``S_e*``, ``R_e*`` the uncoupled node's fixed point (:data:`FIXED_POINT`).
    A region of connectivity_68 whose rows sum to W, at global coupling G,
    gets ``gain = G W`` from sources sitting at that fixed point.  Used with
    ``tvb_simulator(G=1)`` and ``default_to_spiking(G=1)``.
    """
    from .transfer import constant_coupling

    check_range("gain", gain, 0.0, math.inf)
    return constant_coupling([gain * FIXED_POINT["S_e"], gain * FIXED_POINT["R_e"]])


# ----------------------------------------------------------------- spiking side

N_E, N_I = 800, 200

#: NEST iaf_cond_alpha's defaults, set explicitly (PyNN's own defaults differ).
CELL_PARAMS = dict(cm=0.25, tau_m=15.0, v_rest=-70.0, v_thresh=-55.0, v_reset=-60.0,
                   tau_refrac=2.0, e_rev_E=0.0, e_rev_I=-85.0, tau_syn_E=0.2, tau_syn_I=2.0,
                   i_offset=0.0)

#: Connectivity and synapses inside a node (weights in uS, delays in ms).
#: Calibrated for an asynchronous-irregular node, E near 3 Hz, I above E;
#: see docs/use_case.md.
NETWORK_PARAMS = dict(
    p_connect=0.1, delay=1.5,
    w_ee=0.002, w_ei=0.005, w_ie=0.010, w_ii=0.010,
    bg_rate_e=800.0, bg_weight_e=0.008, bg_rate_i=850.0, bg_weight_i=0.008,
)


def build_spiking_region(sim, region_index, label, rng, n_e=N_E, n_i=N_I, params=None,
                         in_degree=None):
    """Build one spiking node: E and I ``IF_cond_alpha`` populations in plain PyNN.

    Parameters
    ----------
    sim : module
        A PyNN simulator module (``pyNN.nest``, ...), already set up.
    region_index : int
        The TVB region this node replaces.
    label : str
        The region's label (used in population labels).
    rng : pyNN.random.NumpyRNG
        The generator for every random choice.
    n_e, n_i : int
        Population sizes.
    params : dict, optional
        Overrides of :data:`NETWORK_PARAMS`.
    in_degree : int, optional
        ``None`` (the default, W1): every pair of neurons is connected with
        probability ``p_connect`` (``FixedProbabilityConnector``), so a
        neuron's number of inputs grows with the region, ``p_connect`` times
        each presynaptic population on average (80 E + 20 I at 800 E + 200 I).
        An int ``K`` holds it fixed whatever ``n_e`` and ``n_i`` are: every
        neuron draws exactly ``K_E = round(K n_e / (n_e + n_i))`` distinct
        presynaptic E neurons and ``K - K_E`` distinct I neurons
        (``FixedNumberPreConnector``, no autapses, no multiple connections),
        with the same weights and delay.  ``K = 100`` gives every neuron, at
        any size with 80% E, W1's mean in-degree (``p_connect`` 0.1 times
        800 E + 200 I), without its binomial spread from neuron to neuron.
        Used by the scaling benchmark (workload W2) to grow a region without
        growing each neuron's input.

    Returns
    -------
    SpikingRegion
        Populations ``"E"`` and ``"I"`` and the projections among them.
    """
    check_count("n_e", n_e, 1, N_E)
    check_count("n_i", n_i, 1, N_I)
    check_known("params", params, NETWORK_PARAMS, "NETWORK_PARAMS")
    p = dict(NETWORK_PARAMS, **(params or {}))
    fixed = None if in_degree is None else in_degrees(in_degree, n_e, n_i)
    cell = sim.IF_cond_alpha(**CELL_PARAMS)
    pops = {"E": sim.Population(n_e, cell, label=f"{label}_E"),
            "I": sim.Population(n_i, cell, label=f"{label}_I")}
    v_init = sim.RandomDistribution("uniform", (CELL_PARAMS["v_reset"], CELL_PARAMS["v_thresh"]),
                                    rng=rng)
    for pop in pops.values():
        pop.initialize(v=v_init)
    projections = []
    connector = sim.FixedProbabilityConnector(p["p_connect"], allow_self_connections=False, rng=rng)
    for pre, post, weight, receptor in (("E", "E", p["w_ee"], "excitatory"),
                                        ("E", "I", p["w_ei"], "excitatory"),
                                        ("I", "E", p["w_ie"], "inhibitory"),
                                        ("I", "I", p["w_ii"], "inhibitory")):
        if fixed is not None:
            connector = sim.FixedNumberPreConnector(fixed[pre], allow_self_connections=False,
                                                    with_replacement=False, rng=rng)
        projections.append(sim.Projection(
            pops[pre], pops[post], connector,
            sim.StaticSynapse(weight=weight, delay=p["delay"]), receptor_type=receptor,
            label=f"{label}_{pre}{post}"))
    for name, n in (("E", n_e), ("I", n_i)):
        key = name.lower()
        background = sim.Population(n, sim.SpikeSourcePoisson(rate=p[f"bg_rate_{key}"]),
                                    label=f"{label}_bg_{name}")
        projections.append(sim.Projection(
            background, pops[name], sim.OneToOneConnector(),
            sim.StaticSynapse(weight=p[f"bg_weight_{key}"], delay=p["delay"]),
            receptor_type="excitatory", label=f"{label}_bg_{name}"))
    return SpikingRegion(pops, projections)


def in_degrees(in_degree, n_e=N_E, n_i=N_I):
    """A fixed in-degree split between E and I inputs in proportion to the populations.

    ``{"E": K_E, "I": K - K_E}`` with ``K_E = round(K n_e / (n_e + n_i))``:
    the inputs per neuron of :func:`build_spiking_region` with ``in_degree=K``.
    Each part must be at least 1 and below its population's size (a neuron
    draws distinct partners and never itself).

    Examples
    --------
    >>> in_degrees(100, n_e=12800, n_i=3200)
    {'E': 80, 'I': 20}
    """
    check_count("in_degree", in_degree, 2, 100, what="synapses per neuron")
    k_e = int(round(in_degree * n_e / (n_e + n_i)))
    split = {"E": k_e, "I": in_degree - k_e}
    for name, size in (("E", n_e), ("I", n_i)):
        if not 1 <= split[name] < size:
            raise ConfigurationError(bad_value(
                "in_degree", in_degree,
                f"an in-degree whose {name} share ({split[name]}) is at least 1 and below the "
                f"{size} {name} neurons (n_e={n_e}, n_i={n_i})",
                "pass a smaller in_degree, or larger populations"))
    return split


def default_to_spiking(G=G_DEFAULT, lamda=0.0, n_e=N_E, params=None):
    """The seed's TVB -> spiking interface: the rate coupling as Poisson input.

    Each E neuron receives an independent Poisson train at
    ``G * n_e * sum_j w_ij R_e_j(t - d_ij)`` Hz, with the E->E synaptic weight:
    the input of ``n_e`` neurons of every source region, scaled by the
    connectome weight and the global coupling, as a recurrent E input would
    be.  The input synapses have the network's synaptic delay (1.5 ms), which
    adds to the connectome delay (docs/use_case.md).  With ``lamda > 0``, I neurons also receive ``lamda`` times that rate
    with the E->I weight (feedforward inhibition).
    """
    from ..proxies import RateToPoisson

    p = dict(NETWORK_PARAMS, **(params or {}))
    # The input synapses get the network's own synaptic delay: a TVB input spike
    # is a synaptic input like any other, and the delay lets NEST communicate
    # every 1.5 ms instead of every step (see CoSimulation's min_delay).
    proxies = [RateToPoisson("R_e", "E", weight=G * n_e, synapse_weight=p["w_ee"], delay=p["delay"])]
    if lamda > 0:
        proxies.append(RateToPoisson("R_e", "I", weight=lamda * G * n_e, synapse_weight=p["w_ei"],
                                     delay=p["delay"]))
    return proxies


def current_scale(G=G_DEFAULT, params=None):
    """nA of offset current per unit of TVB's ``S_e`` coupling, for the seed's current proxies.

    In reduced Wong-Wang, the coupling enters a node as the current
    ``G * J_N * c`` (nA), with ``c = sum_j w_ij S_e_j(t - d_ij)``.  The model's
    transfer function starts firing at ``x_th = b_e / a_e`` = 0.403 nA; an
    ``IF_cond_alpha`` cell of this node at ``I_rh = g_L (v_thresh - v_rest)``
    = (0.25 nF / 15 ms) * 15 mV = 0.25 nA.  Scaling by ``I_rh / x_th`` (0.62)
    gives a spiking neuron the same fraction of its threshold current as the
    mean field receives::

        weight = (I_rh / x_th) * G * J_N       # nA per unit of coupling

    Examples
    --------
    >>> round(current_scale(G=1.0), 4)
    0.093
    """
    cell = dict(CELL_PARAMS, **(params or {}))
    g_l = cell["cm"] / cell["tau_m"]  # uS
    i_rh = g_l * (cell["v_thresh"] - cell["v_rest"])  # nA
    defaults = ReducedWongWangExcInh()
    x_th = float(defaults.b_e[0] / defaults.a_e[0])
    return i_rh / x_th * float(G) * float(defaults.J_N[0])


def current_to_spiking(kind="offset", G=G_DEFAULT, lamda=0.0, delay=None):
    """The seed's current couplings: S_e coupling as current into E, and lambda times it into I.

    ``kind="offset"`` sets ``i_offset`` (the seed's ``I_e`` update);
    ``kind="current"`` injects a step current (the seed's dc generator).
    The weight is :func:`current_scale`; onto I it is scaled by ``lamda``.
    """
    from ..proxies import CurrentFromCoupling, OffsetFromCoupling

    if kind not in ("offset", "current"):
        raise ConfigurationError(bad_value("kind", kind, "'offset' or 'current'",
                                           "pick one of the two"))
    make = OffsetFromCoupling if kind == "offset" else CurrentFromCoupling
    scale = current_scale(G)
    proxies = [make("S_e", "E", weight=scale, delay=delay)]
    if lamda > 0:
        proxies.append(make("S_e", "I", weight=lamda * scale, delay=delay))
    return proxies


def default_to_tvb():
    """The seed's spiking -> TVB interface: E and I rates into ``Rin_e``, ``Rin_i``."""
    from ..proxies import SpikeRate

    return [SpikeRate("E", "Rin_e"), SpikeRate("I", "Rin_i")]
