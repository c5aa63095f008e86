r"""AdEx mean field (TVB-AdEx) <-> a network of adaptive exponential integrate-and-fire neurons.

tvb-library's ``ZerlautAdaptationSecondOrder`` (di Volo, Romagnoni, Capone &
Destexhe 2019, Neural Comput 31:653; Zerlaut et al. 2018, J Comput Neurosci
44:45) describes a sparse network of ``N_tot`` conductance-based AdEx
neurons, a fraction ``g`` of them inhibitory, each neuron receiving
``p N_tot (1 - g)`` excitatory and ``p N_tot g`` inhibitory synapses
(quantal conductances ``Q_e``, ``Q_i``, exponential decay ``tau_e``,
``tau_i``) and ``K_ext_e`` external excitatory synapses.  Its state: the
rates ``E`` and ``I`` in kHz (1/ms), their covariances ``C_ee``, ``C_ei``,
``C_ii``, the mean adaptation currents ``W_e``, ``W_i`` (pA) and an
Ornstein-Uhlenbeck drift (noise, zero here).  The transfer functions are
``erfc`` of an effective threshold, a second-order polynomial in the
membrane's fluctuation statistics whose coefficients ``P_e``, ``P_i`` were
fitted to single neurons of *one* parameter set.  The spiking network must
therefore use that parameter set; every value is taken from the class's own
traits (:func:`tvb_defaults`), and the four neuron values the mass does not
carry (threshold, slope factors, refractoriness) are listed in
:data:`NEURON`, with their source in docs/models.md.

**The interface.**  TVB's long-range coupling ``c`` enters the mass as an
extra rate *per external synapse*, in kHz, on ``K_ext_e`` synapses of
quantal ``Q_e`` onto every E neuron (``c + external_input_ex_ex``) and every
I neuron (``S_i c + external_input_in_ex``), clipped at 0 as the mass clips
it.  ``K_ext_e`` independent Poisson trains of rate ``nu`` kHz onto the same
linear conductance synapse are one Poisson train of ``1000 K_ext_e nu`` Hz,
so each population gets :class:`~pynn_multiscale.proxies.RateToPoisson` with::

    weight         = 1000 * K_ext_e              (Hz per kHz per synapse; 4e5 by default)
    synapse_weight = Q_e * 1e-3                   (nS -> PyNN's uS)
    transform      = Affine(scale=1 or S_i, offset=external input), then Clip(0, inf)

Back, the populations' spike counts per TVB step become rates in Hz
(``SpikeRate``), scaled by 1e-3 to the mass's kHz and smoothed over the
mass's own time bin ``T`` (a first-order low-pass with ``tau = T``: the
mean field describes rates over bins of ``T``, and without it every TVB
step's shot noise enters the coupling of other regions).

**Spiking regions in TVB.**  :class:`ZerlautAdaptationSecondOrderSpiking`
adds a ``spiking_update`` (the pipelined loop's exact update): ``E`` and ``I``
are the network's smoothed rates; the covariances, ``W_e``, ``W_i`` and the
drift keep the values they had before the window (the initial ones: those
variables are the mass's description of its own fluctuations and
adaptation, they do not enter any other region's coupling, which reads
``E`` only, and the network has its own).

**Scaling.**  The builder takes the region size ``n`` and keeps the
in-degrees ``p N_tot (1 - g)`` = 400 and ``p N_tot g`` = 100 of the mass
(``FixedNumberPreConnector``), so each neuron sees the mean input and the
input variance the transfer function was fitted for.  What a smaller ``n``
changes: a larger fraction of shared inputs between two neurons
(``400 / (n (1 - g))``), so more correlated activity, and larger finite-size
fluctuations of the population rate; the mass's ``C_ee``, ``C_ii`` use
``N_tot`` for the latter.  Measured on NEST at zero coupling (E, against
the mass's 1.411 Hz): 4000 neurons 0.4% below, 2000 4.5% below, 1000 31%
below (docs/models.md).

**Not represented in the network**: external inhibitory input (``K_ext_i``
is 0 in tvb-library, so the mass has none either) and the mass's noise
(``weight_noise`` times the Ornstein-Uhlenbeck drift, which a spiking
region holds at its initial 0).
"""

from __future__ import annotations

import math

import numpy as np
from tvb.simulator.models.zerlaut import ZerlautAdaptationSecondOrder

from ..backends import set_state
from ..errors import ConfigurationError, bad_value
from ..region import SpikingRegion
from ._tvb_side import check_range, constant_history, heun, load_connectivity

# ------------------------------------------------------------------ parameters

#: The mass's traits the network uses, read from tvb-library's own defaults.
_TRAITS = ("g_L", "C_m", "E_L_e", "E_L_i", "a_e", "b_e", "tau_w_e", "a_i", "b_i", "tau_w_i",
           "E_e", "E_i", "Q_e", "Q_i", "tau_e", "tau_i", "N_tot", "p_connect_e", "p_connect_i",
           "g", "K_ext_e", "K_ext_i", "T", "S_i", "external_input_ex_ex", "external_input_in_ex")


def tvb_defaults() -> dict:
    """tvb-library's ``ZerlautAdaptationSecondOrder`` defaults, as plain floats."""
    model = ZerlautAdaptationSecondOrder()
    return {name: float(np.asarray(getattr(model, name)).ravel()[0]) for name in _TRAITS}


#: The neuron values the mass does not carry: they define the single neurons
#: whose transfer function ``P_e``, ``P_i`` fit (di Volo et al. 2019's RS and FS
#: cells; docs/models.md).  The spike is cut at ``v_thresh + 5 delta_T``.
NEURON = {"v_thresh": -50.0, "delta_e": 2.0, "delta_i": 0.5, "tau_refrac": 5.0,
          "cutoff_slopes": 5.0}

#: The external drive of the pair's whole-brain default, in kHz per external
#: synapse (TVB's ``external_input_ex_ex`` and ``_in_ex``; 0 in tvb-library):
#: it keeps an unconnected region in the asynchronous state at a few Hz.
DRIVE = 2.5e-3
#: Synaptic delay inside a region (ms); the mass's coupling inside a region is instantaneous.
DELAY = 0.1


def in_degrees(params: dict | None = None) -> tuple[int, int]:
    """``(p_e N_tot (1 - g), p_i N_tot g)``: excitatory and inhibitory synapses per neuron."""
    p = params or tvb_defaults()
    k_e = p["p_connect_e"] * p["N_tot"] * (1.0 - p["g"])
    k_i = p["p_connect_i"] * p["N_tot"] * p["g"]
    return int(round(k_e)), int(round(k_i))


def poisson_weight(params: dict | None = None) -> float:
    """Hz of one neuron's Poisson train per kHz of rate per external synapse: ``1000 K_ext_e``."""
    p = params or tvb_defaults()
    return 1000.0 * p["K_ext_e"]


def cell_parameters(params: dict | None = None, population: str = "E") -> dict:
    """PyNN ``EIF_cond_exp_isfa_ista`` parameters of an E or I neuron (PyNN units)."""
    p = params or tvb_defaults()
    e_l = p["E_L_e"] if population == "E" else p["E_L_i"]
    delta = NEURON["delta_e"] if population == "E" else NEURON["delta_i"]
    a, b, tau_w = ((p["a_e"], p["b_e"], p["tau_w_e"]) if population == "E"
                   else (p["a_i"], p["b_i"], p["tau_w_i"]))
    return {"cm": 1e-3 * p["C_m"], "tau_m": p["C_m"] / p["g_L"], "v_rest": e_l, "v_reset": e_l,
            "v_thresh": NEURON["v_thresh"], "delta_T": delta,
            "v_spike": NEURON["v_thresh"] + NEURON["cutoff_slopes"] * delta,
            "tau_refrac": NEURON["tau_refrac"], "a": a, "b": 1e-3 * b, "tau_w": tau_w,
            "e_rev_E": p["E_e"], "e_rev_I": p["E_i"], "tau_syn_E": p["tau_e"],
            "tau_syn_I": p["tau_i"], "i_offset": 0.0}


# --------------------------------------------------------------------- TVB side

class ZerlautAdaptationSecondOrderSpiking(ZerlautAdaptationSecondOrder):
    r"""tvb-library's ``ZerlautAdaptationSecondOrder`` with a ``spiking_update``.

    In a TVB region nothing changes.  In a region replaced by an AdEx
    network, ``E`` and ``I`` (kHz) are the network's rates of every TVB step
    (as the to-TVB proxies deliver them); every other variable keeps its
    value from before the window: the covariances and adaptation are the
    mass's own description of a population the network now simulates, and no
    other region's coupling reads them (the coupling reads ``E`` only).
    """

    #: Variables that the spiking side writes.
    spiking_inputs = ("E", "I")

    def spiking_update(self, previous: np.ndarray, inputs: dict, dt: float) -> np.ndarray:
        """States of spiking regions over a window, from their measured rates (kHz).

        Parameters and returns as :meth:`ReducedWongWangExcInhRates.spiking_update
        <pynn_multiscale.models.red_wong_wang.ReducedWongWangExcInhRates.spiking_update>`.
        """
        n_steps = next(iter(inputs.values())).shape[0]
        out = np.broadcast_to(previous, (n_steps,) + previous.shape).copy()
        for name, var in (("E", 0), ("I", 1)):
            if name in inputs:
                out[:, var] = inputs[name][:, :, None]
        return out


#: What TVB's monitors record: both rates (the to-TVB proxies write them) and E's adaptation.
VARIABLES_OF_INTEREST = ("E", "I", "W_e")

#: Global coupling of the example and the whole-brain test (TVB's ``Linear(a=G)`` on E).
#: connectivity_68's rows sum to 0.016-0.34 (median 0.15): at E ~ 1.4 Hz a median region
#: gets about G * 0.15 * 1.4 Hz per external synapse on top of the 2.5 Hz drive.  Measured
#: with TVB alone (dt 0.5 ms, 1 s): at G = 5 every region stays in the low state (E 1.5 to
#: 3.1 Hz); at G = 10 most regions jump to the mass's high state near 195 Hz.
G_DEFAULT = 5.0
NSIG_DEFAULT = 0.0


def _scalar_traits() -> set:
    """The names of the class's one-number parameters (not P_e, P_i, not methods)."""
    model = ZerlautAdaptationSecondOrder()
    return {name for name in type(model).declarative_attrs
            if isinstance(getattr(model, name), np.ndarray) and getattr(model, name).size == 1}


def tvb_model(**params) -> ZerlautAdaptationSecondOrderSpiking:
    """The pair's TVB model: tvb-library's defaults, the pair's drive, and ``params`` on top.

    ``params`` are traits of ``ZerlautAdaptationSecondOrder`` given as numbers
    (e.g. ``b_e=60.0``, ``external_input_ex_ex=2e-3``).  The drive defaults
    to :data:`DRIVE` on both populations.
    """
    values = {"external_input_ex_ex": DRIVE, "external_input_in_ex": DRIVE}
    for name, value in params.items():
        if name not in _scalar_traits():
            raise ConfigurationError(bad_value(
                name, value, "a scalar trait of ZerlautAdaptationSecondOrder",
                "pass e.g. b_e=60.0 or external_input_ex_ex=0.002"))
        lo = -math.inf if name in ("E_L_e", "E_L_i", "E_e", "E_i") else 0.0
        check_range(name, value, lo, math.inf)
        values[name] = value
    model = ZerlautAdaptationSecondOrderSpiking(variables_of_interest=VARIABLES_OF_INTEREST)
    for name, value in values.items():
        dtype = np.int64 if name in ("N_tot", "K_ext_e", "K_ext_i") else float
        setattr(model, name, np.array([value], dtype=dtype))
    return model


def model_parameters(model) -> dict:
    """The model's traits the network uses, as plain floats."""
    return {name: float(np.asarray(getattr(model, name)).ravel()[0]) for name in _TRAITS}


#: The variables a region's steady state solves for (the drift stays at 0: no noise).
_SOLVED = slice(0, 7)


def _first_order_guess(model, level: float) -> np.ndarray:
    """The low fixed point of the first-order equations (no covariances): E, I, W_e, W_i.

    For a given ``E``: ``I`` solves ``I = F_i(E, I)`` (``F_i`` falls with
    ``I``: one root), ``W_e`` solves the linear ``dW_e/dt = 0`` (``mu_V`` is
    linear in ``W_e``), ``W_i`` likewise; the lowest ``E`` where
    ``F_e(E, I, W_e) - E`` changes sign from + to - is the stable low state.
    """
    from scipy.optimize import brentq

    p = model_parameters(model)
    ext_e = max(level + p["external_input_ex_ex"], 0.0)
    ext_i = max(p["S_i"] * level + p["external_input_in_ex"], 0.0)
    in_e = float(np.asarray(model.external_input_ex_in).ravel()[0])
    in_i = float(np.asarray(model.external_input_in_in).ravel()[0])

    def fluct(E, I, ext, inh, W, E_L):
        return model.get_fluct_regime_vars(
            E, I, ext, inh, W, p["Q_e"], p["tau_e"], p["E_e"], p["Q_i"], p["tau_i"], p["E_i"],
            p["g_L"], p["C_m"], E_L, p["N_tot"], p["p_connect_e"], p["p_connect_i"], p["g"],
            p["K_ext_e"], p["K_ext_i"])

    def adaptation(E, I, ext, inh, E_L, a, b, tau_w, rate):
        # mu_V = (mu_V(W=0) * mu_G - W) / mu_G: W = tau_w b rate + a (mu_V - E_L), linear in W
        mu0 = fluct(E, I, ext, inh, 0.0, E_L)[0]
        mu_g = p["g_L"] + p["Q_e"] * p["tau_e"] * ((E + 1e-6) * (1 - p["g"]) * p["p_connect_e"]
                                                  * p["N_tot"] + ext * p["K_ext_e"]) \
            + p["Q_i"] * p["tau_i"] * ((I + 1e-6) * p["g"] * p["p_connect_i"] * p["N_tot"]
                                       + inh * p["K_ext_i"])
        return (tau_w * b * rate + a * (mu0 - E_L)) / (1.0 + a / mu_g)

    def inhibitory(E):
        def excess(I):
            W_i = adaptation(E, I, ext_i, in_i, p["E_L_i"], p["a_i"], p["b_i"], p["tau_w_i"], I)
            return float(model.TF_inhibitory(E, I, ext_i, in_i, W_i)) - I
        I = brentq(excess, 0.0, 1.0, xtol=1e-14)
        return I, adaptation(E, I, ext_i, in_i, p["E_L_i"], p["a_i"], p["b_i"], p["tau_w_i"], I)

    def excess(E):
        I, _ = inhibitory(E)
        W_e = adaptation(E, I, ext_e, in_e, p["E_L_e"], p["a_e"], p["b_e"], p["tau_w_e"], E)
        return float(model.TF_excitatory(E, I, ext_e, in_e, W_e)) - E

    grid = np.concatenate([[0.0], np.geomspace(1e-7, 0.25, 120)])
    values = np.array([excess(E) for E in grid])
    down = np.nonzero((values[:-1] > 0) & (values[1:] <= 0))[0]
    if down.size == 0:
        raise ConfigurationError(bad_value("level", level, "a level where the mass has a low "
                                           "steady state", "pass a smaller level or drive"))
    E = brentq(excess, grid[down[0]], grid[down[0] + 1], xtol=1e-14)
    I, W_i = inhibitory(E)
    W_e = adaptation(E, I, ext_e, in_e, p["E_L_e"], p["a_e"], p["b_e"], p["tau_w_e"], E)
    return np.array([E, I, W_e, W_i])


#: Typical sizes of E, I (kHz), C_ee, C_ei, C_ii (kHz**2), W_e, W_i (pA): fsolve's units.
_SCALE = np.array([1e-3, 1e-3, 1e-8, 1e-9, 1e-7, 10.0, 1.0])


def steady_state(level: float = 0.0, **params) -> np.ndarray:
    """The low-activity steady state (8 variables) of one unconnected region at coupling ``level``.

    ``level`` is the constant coupling, kHz per external synapse.  The
    first-order equations' lowest stable fixed point
    (:func:`_first_order_guess`) is polished into the root of the model's own
    second-order ``dfun`` (the noise drift at 0).  The mass also has a
    high-rate state near 195 Hz; this never returns it.  TVB's own
    integration from the result stays put (tests: ``transfer.mean_field_transfer``).
    """
    from scipy.optimize import fsolve

    check_range("level", level, 0.0, math.inf)
    model = tvb_model(**params)
    model.configure()
    coupling = np.full((1, 1, 1), float(level))
    E, I, W_e, W_i = _first_order_guess(model, float(level))
    guess = np.array([E, I, 0.0, 0.0, 0.0, W_e, W_i]) / _SCALE

    def residual(x):
        state = np.zeros((8, 1, 1))
        state[_SOLVED, 0, 0] = x * _SCALE
        return model.dfun(state, coupling)[_SOLVED, 0, 0] / _SCALE

    root, _, _, message = fsolve(residual, guess, full_output=True, xtol=1e-13)
    out = np.zeros(8)
    out[_SOLVED] = root * _SCALE
    if out[0] < 0 or np.max(np.abs(residual(root))) > 1e-8:  # (fsolve may stop at the root unsure)
        raise ConfigurationError(bad_value("level", level, "a level where the mass has a steady "
                                           "state", f"fsolve: {message}"))
    return out


def relaxation_time(level: float = 0.0, **params) -> float:
    """The slowest time constant (ms) of one region near :func:`steady_state`.

    ``-1 / max Re(lambda)`` over the eigenvalues of ``dfun``'s Jacobian at the
    steady state (central differences): how long the mass takes to forget a
    perturbation, adaptation included.  The transfer check discards three of
    them, after starting the network's adaptation at the mass's ``W_e``
    (e**-3 < 5% of the initial offset is left).
    """
    model = tvb_model(**params)
    model.configure()
    x0 = steady_state(level, **params)
    coupling = np.full((1, 1, 1), float(level))
    scale = _SCALE
    jac = np.empty((7, 7))
    for k in range(7):
        h = 1e-4 * scale[k]
        up, down = x0.copy(), x0.copy()
        up[k] += h
        down[k] -= h
        jac[:, k] = (model.dfun(up[:, None, None], coupling)[_SOLVED, 0, 0]
                     - model.dfun(down[:, None, None], coupling)[_SOLVED, 0, 0]) / (2 * h)
    rate = np.max(np.linalg.eigvals(jac).real)
    if rate >= 0:
        raise ConfigurationError(bad_value("level", level, "a level where the steady state is stable",
                                           f"the Jacobian's largest real part is {rate:.3g}/ms"))
    return -1.0 / rate


def tvb_simulator(connectivity="connectivity_68", G=G_DEFAULT, nsig=NSIG_DEFAULT, dt=0.1,
                  speed=3.0, noise_seed=42, monitors=None, coupling=None, initial=None,
                  **params):
    r"""A whole-brain TVB-AdEx simulator (not configured), every region at one steady state.

    Region i's extra rate per external synapse is
    :math:`c_i = G \sum_j w_{ij} E_j(t - d_{ij})` (kHz): TVB's ``Linear(a = G)``
    on ``E``.

    Parameters
    ----------
    connectivity : str or tvb Connectivity
    G : float
        Global coupling.
    nsig : float
        Additive noise on the Ornstein-Uhlenbeck drift (``weight_noise`` scales it); 0:
        deterministic Heun.
    dt, speed : float
        TVB's step (ms) and conduction speed (mm/ms).
    coupling : tvb Coupling, optional
        Replaces the ``Linear`` coupling (the transfer check uses a constant).
    initial : sequence of float, optional
        The state every region starts in; default: an unconnected region's
        steady state at zero coupling (:func:`steady_state`).
    **params
        Traits of the model (:func:`tvb_model`).
    """
    for name, value, lo, strict in (("G", G, 0.0, False), ("nsig", nsig, 0.0, False),
                                    ("dt", dt, 0.0, True), ("speed", speed, 0.0, True)):
        check_range(name, value, lo, math.inf, strict_lo=strict)
    from tvb.simulator import coupling as tvb_coupling, simulator
    from tvb.simulator import monitors as tvb_monitors

    conn = load_connectivity(connectivity, speed)
    model = tvb_model(**params)
    if coupling is None:
        coupling = tvb_coupling.Linear(a=np.array([float(G)]))
    nvar = len(model.state_variables)
    integrator = heun(dt, [0.0] * (nvar - 1) + [nsig], noise_seed)
    if initial is None:
        initial = steady_state(0.0, **params)
    history = constant_history(initial, conn, dt)
    return simulator.Simulator(model=model, connectivity=conn, coupling=coupling,
                               integrator=integrator,
                               monitors=monitors or [tvb_monitors.Raw()],
                               initial_conditions=history)


# ----------------------------------------------------------------- spiking side

def build_spiking_region(sim, region_index, label, rng, n=None, delay=DELAY, w_init=0.0,
                         **params):
    """One AdEx region in plain PyNN: ``n (1 - g)`` E and ``n g`` I ``EIF_cond_exp_isfa_ista``.

    Every neuron receives exactly ``p N_tot (1 - g)`` E and ``p N_tot g`` I
    synapses (:func:`in_degrees`, 400 and 100 by default) of conductance
    ``Q_e``, ``Q_i``, whatever ``n``.  E cells adapt (``a_e``, ``b_e``,
    ``tau_w_e``), I cells do not.  Initial potentials are uniform between
    rest and threshold; E cells' adaptation current starts at ``w_init``.

    Parameters
    ----------
    n : int, optional
        Neurons in the region; default the mass's ``N_tot`` (10 000).
    delay : float
        Synaptic delay (ms).
    w_init : float
        Initial adaptation current of the E cells (pA); e.g. the mass's
        ``W_e`` at its steady state (:func:`steady_state`), so that a run
        need not wait for the slow adaptation to build up from 0.
    **params
        Traits of the mass (as :func:`tvb_model`) to change in the network too,
        e.g. ``b_e=66.0``.

    Returns
    -------
    SpikingRegion
        Populations ``"E"`` and ``"I"`` and the four projections.
    """
    p = model_parameters(tvb_model(**params))
    k_e, k_i = in_degrees(p)
    n = int(p["N_tot"]) if n is None else n
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ConfigurationError(bad_value("n", n, "a whole number of neurons",
                                           "pass e.g. n=2000"))
    n_i = int(round(n * p["g"]))
    n_e = n - n_i
    if n_e < k_e or n_i < k_i:
        raise ConfigurationError(bad_value(
            "n", n, f"at least {k_e} E and {k_i} I neurons (the in-degrees; g = {p['g']:g})",
            f"pass n >= {int(math.ceil(max(k_e / (1 - p['g']), k_i / p['g'])))}"))
    check_range("delay", delay, 0.0, math.inf, strict_lo=True)
    check_range("w_init", w_init, -math.inf, math.inf)
    pops = {}
    for name, size in (("E", n_e), ("I", n_i)):
        cell = cell_parameters(p, name)
        pop = sim.Population(size, sim.EIF_cond_exp_isfa_ista(**cell), label=f"{label}_{name}")
        # not pop.initialize: on NEST and NEURON, PyNN's own loses w (backends.set_state)
        set_state(pop, v=sim.RandomDistribution("uniform", (cell["v_rest"], cell["v_thresh"]),
                                                rng=rng), w=1e-3 * w_init if name == "E" else 0.0)
        pops[name] = pop
    projections = []
    for pre, k, q, receptor in (("E", k_e, p["Q_e"], "excitatory"),
                                ("I", k_i, p["Q_i"], "inhibitory")):
        for post in ("E", "I"):
            projections.append(sim.Projection(
                pops[pre], pops[post],
                sim.FixedNumberPreConnector(k, allow_self_connections=False, with_replacement=False,
                                            rng=rng),
                sim.StaticSynapse(weight=1e-3 * q, delay=delay), receptor_type=receptor,
                label=f"{label}_{pre}_{post}"))
    return SpikingRegion(pops, projections)


def start_adaptation_at_steady_state(cosim, level: float, **params) -> None:
    """Set every spiking region's E adaptation current to the mass's ``W_e`` at ``level``.

    The ``between`` hook of :func:`~pynn_multiscale.models.transfer.spiking_transfer`
    for this pair: adaptation relaxes over hundreds of ms (:func:`relaxation_time`),
    so a region driven from one level to the next starts each level where the
    mass's steady state has it, as a fresh region built with ``w_init`` would.
    ``params``: traits of the mass (as :func:`tvb_model`).
    """
    w = steady_state(level, **params)[5]
    for region in cosim.regions.values():
        set_state(region.populations["E"], w=1e-3 * w)  # pA -> nA (PyNN's unit)


def default_to_spiking(**params):
    """The coupling on ``E`` as Poisson trains onto E and I (derivation in the module docstring).

    ``params``: traits of the mass (as :func:`tvb_model`), e.g. another drive.
    """
    from ..proxies import RateToPoisson, transforms

    p = model_parameters(tvb_model(**params))
    proxies = []
    for population, scale, drive in (("E", 1.0, p["external_input_ex_ex"]),
                                      ("I", p["S_i"], p["external_input_in_ex"])):
        transform = transforms.Chain(transforms.Affine(scale=scale, offset=drive),
                                     transforms.Clip(low=0.0))
        proxies.append(RateToPoisson("E", population, weight=poisson_weight(p),
                                     synapse_weight=1e-3 * p["Q_e"], transform=transform))
    return proxies


def default_to_tvb(**params):
    """E and I rates per TVB step, Hz -> kHz, low-passed over the mass's ``T``."""
    from ..proxies import SpikeRate, transforms

    T = model_parameters(tvb_model(**params))["T"]
    return [SpikeRate(name, name, tau=T, transform=transforms.Affine(scale=1e-3))
            for name in ("E", "I")]
