r"""Jansen-Rit neural mass <-> a three-population spiking node (pyramidal, E and I interneurons).

tvb-library's ``JansenRit`` (Jansen & Rit 1995, Biol Cybern 73:357) is a
cortical column of three populations.  Each population turns the pulse
density it receives into a mean potential through a second-order kernel
(``A a t e^{-at}`` excitatory, ``B b t e^{-bt}`` inhibitory), and its mean
potential into a pulse density through the sigmoid
``S(v) = 2 e0 / (1 + exp(r (v0 - v)))``::

    pyramidal (P):   v_P = y1 - y2,   rate S(v_P)       y0 = (A a kernel) * S(v_P)
    excitatory (E):  v_E = C1 y0,     rate S(C1 y0)     y1 = (A a kernel) * (p + C2 S(C1 y0))
    inhibitory (I):  v_I = C3 y0,     rate S(C3 y0)     y2 = (B b kernel) * C4 S(C3 y0)

with ``C1..C4 = J (1, 0.8, 0.25, 0.25)`` and ``p = mu + c`` (``c``: the
long-range input, TVB's ``SigmoidalJansenRit`` coupling ``G sum_j w_ij
S(v_P,j)``).  At a steady state only the kernels' integrals count
(``A / a``, ``B / b``): :func:`steady_states`.

**The spiking node** (:func:`build_spiking_region`).  Three PyNN populations
``P``, ``E``, ``I`` of ``IF_curr_exp`` cells, each a literal reading of the
mass:

* *Potentials add linearly* (current-based synapses), rest at 0 mV (JR's
  potentials are deviations from rest), membrane ``tau_m = 1/a``.  An
  excitatory synapse with ``tau_syn_E = tau_m = 1/a`` gives the free
  potential of one spike as ``(w / C_m) t e^{-a t}``: JR's excitatory kernel
  for ``w = A a C_m`` per pulse.  Inhibitory synapses have ``tau_syn_I = 1/b``;
  with ``tau_m = 1/a`` their kernel is a difference of exponentials whose
  integral equals JR's ``B / b`` for ``w = B a C_m`` per pulse (same steady
  state, a different time course).
* *The sigmoid is a distribution of thresholds* (the reading of Wilson &
  Cowan 1972, Biophys J 12:1): neuron j's threshold is the j-th quantile of
  the logistic distribution of centre ``v0`` and scale ``1/r``, so the
  fraction of neurons with threshold below ``v`` is ``S(v) / (2 e0)``.
* *A neuron above threshold fires at the maximum rate*: its reset is ``eps``
  below its threshold and its dead time is one period of the maximum rate.
  The node fires ``k`` spikes per JR pulse (``k`` = :data:`SPIKES_PER_PULSE`):
  the dead time is ``1 / (2 e0 k) - h`` (``h``: the simulator's step, the
  one step a neuron above threshold needs to cross it again) and every
  synaptic weight is divided by ``k``; that keeps every mean and divides the
  shot noise's variance by ``k``.
* *C1..C4 are the in-degree of the mass* (synapses per neuron).  Every
  neuron receives all ``n`` neurons of the presynaptic population with weight
  ``C w / (n k)``: the mean potential of JR exactly, with the shot noise of
  ``n k`` inputs.
* ``mu`` (a constant in tvb-library's ``JansenRit``) enters P as the constant
  current ``mu A C_m`` (nA; potential ``(A/a) mu``), and the long-range input
  ``c`` as the current ``c A C_m`` (:func:`default_to_spiking`): the mean
  potential ``(A/a) c`` of JR, with the membrane's first-order filter instead
  of the second-order kernel.

**Back to TVB** (:func:`default_to_tvb`, :class:`JansenRitSpiking`).  The rest
of the brain sees a region only through ``S(y1 - y2)``, its pyramidal pulse
density.  The P population's spike rate (Hz, divided by ``1000 k``: a pulse
density in 1/ms) is written per TVB step; the model's ``spiking_update``
low-passes it with ``tau_out`` (one dead time, so that the estimate stays below
the maximum ``2 e0`` that a population of dead-time neurons cannot exceed),
and maps it through the inverse sigmoid to ``y1`` (``y2 = 0``), so that the
coupling ``S(y1 - y2)`` is the measured pulse density.  ``y0`` and ``y3`` are
integrated exactly from that density through JR's excitatory kernel; ``y4`` and
``y5`` are 0.  The filter's state is ``S(y1 - y2)`` itself, so the update is a
function of the previous state and the window's inputs only: the pipelined loop
stays exact.

Every number's source is in ``docs/models.md`` ("Jansen-Rit <-> three
populations").
"""

from __future__ import annotations

import math

import numpy as np
from tvb.basic.neotraits.api import NArray, Range
from tvb.simulator.models.jansen_rit import JansenRit

from ..errors import ConfigurationError, bad_value
from ..region import SpikingRegion
from ._tvb_side import check_count, check_range, constant_history, heun, load_connectivity

# ------------------------------------------------------------ the parameters

#: tvb-library ``JansenRit`` defaults (tvb/simulator/models/jansen_rit.py): mV, 1/ms.
A, B, a, b = 3.25, 22.0, 0.1, 0.05
J, ALPHA = 135.0, (1.0, 0.8, 0.25, 0.25)
#: ``nu_max`` in tvb-library (JR's e0, 5 /s); ``r`` 0.56 /mV; ``mu`` 0.22 /ms.
E0, R, MU = 0.0025, 0.56, 0.22
#: v0 = 6 mV as in Jansen & Rit 1995 and tvb-library's ``SigmoidalJansenRit`` coupling
#: (midpoint 6); tvb-library's ``JansenRit`` default is 5.52.  The pair uses one sigmoid.
V0 = 6.0

#: NEST ``iaf_psc_exp``'s default capacitance (nF); it only sets the unit of the weights.
CM = 0.25
#: Neurons per population (the thresholds are N logistic quantiles).
N_POP = 200
#: Spikes per JR pulse: a neuron's maximum rate is 2 e0 k (100 Hz), each spike weighs 1/k.
SPIKES_PER_PULSE = 20
#: The reset lies this far (mV) below the neuron's threshold.
EPS = 0.01
#: tau_syn_E = TAU_SYN_E_FACTOR / a instead of exactly tau_m = 1/a: PyNN's Brian2
#: ``IF_curr_exp`` integrates with the exact solution, which divides by tau_m - tau_syn
#: (equal time constants left every cell silent there).  The excitatory weight is divided
#: by the same factor, so each PSP's integral, which sets every mean potential, is JR's
#: A / a exactly; the kernel's shape moves by 0.1%.
TAU_SYN_E_FACTOR = 1.001
#: Synaptic delay inside the node (ms); JR's kernels have none, so it is the smallest usual one.
DELAY = 0.1


def c_constants(J=J):
    """C1..C4 = J (1, 0.8, 0.25, 0.25) (tvb-library's a_1..a_4; Jansen & Rit 1995)."""
    return tuple(J * alpha for alpha in ALPHA)


def sigmoid(v, e0=E0, r=R, v0=V0):
    """JR's potential-to-rate map ``2 e0 / (1 + exp(r (v0 - v)))`` (1/ms)."""
    return 2.0 * e0 / (1.0 + np.exp(r * (v0 - np.asarray(v, dtype=float))))


def inverse_sigmoid(rate, e0=E0, r=R, v0=V0):
    """The potential (mV) at which :func:`sigmoid` gives ``rate`` (1/ms)."""
    from ..proxies.transforms import InverseSigmoid

    return InverseSigmoid(maximum=2 * e0, slope=r, midpoint=v0).apply(np.asarray(rate, float))


def logistic_thresholds(n, r=R, v0=V0):
    """Thresholds (mV) of ``n`` neurons at the logistic quantiles ``(j - 1/2) / n``.

    The fraction of them below ``v`` is ``S(v) / (2 e0)``, to within 1/(2n).
    """
    q = (np.arange(1, n + 1) - 0.5) / n
    return v0 + np.log(q / (1.0 - q)) / r


def dead_time(k=SPIKES_PER_PULSE, e0=E0, h=0.1):
    """A neuron's refractory time (ms): one period of the maximum rate 2 e0 k, minus the step h."""
    return 1.0 / (2.0 * e0 * k) - h


# ---------------------------------------------------------- steady states

def _potentials(y0, p, A=A, B=B, a=a, b=b, J=J, e0=E0, r=R, v0=V0):
    C1, C2, C3, C4 = c_constants(J)
    s = lambda v: sigmoid(v, e0, r, v0)  # noqa: E731
    return A / a * (p + C2 * s(C1 * y0)) - B / b * C4 * s(C3 * y0)


def steady_states(p, A=A, B=B, a=a, b=b, J=J, e0=E0, r=R, v0=V0):
    """The mass's fixed points at constant input ``p = mu + c`` (1/ms), ascending.

    Returns an array of rows ``(v_P, stable)``: ``v_P = y1 - y2`` (mV) and
    whether the fixed point is linearly stable (all eigenvalues of the
    6-variable Jacobian with negative real part).  From the equations with
    derivatives 0: ``y0 = (A/a) S(v_P)``, ``v_P = (A/a)(p + C2 S(C1 y0)) -
    (B/b) C4 S(C3 y0)``, solved for ``y0`` in ``[0, 2 e0 A / a]``.
    """
    from scipy.optimize import brentq

    args = (A, B, a, b, J, e0, r, v0)

    def excess(y0):
        return A / a * sigmoid(_potentials(y0, p, *args), e0, r, v0) - y0

    grid = np.linspace(0.0, 2 * e0 * A / a, 4001)
    values = excess(grid)
    crossings = np.nonzero(np.sign(values[:-1]) != np.sign(values[1:]))[0]
    C1, C2, C3, C4 = c_constants(J)
    out = []
    for i in crossings:
        y0 = brentq(excess, grid[i], grid[i + 1], xtol=1e-14)
        vp = float(_potentials(y0, p, *args))

        def slope(v):
            s = sigmoid(v, e0, r, v0)
            return r * s * (1.0 - s / (2 * e0))
        m = np.zeros((6, 6))
        m[0, 3] = m[1, 4] = m[2, 5] = 1.0
        m[3, 0], m[3, 1], m[3, 2], m[3, 3] = -a * a, A * a * slope(vp), -A * a * slope(vp), -2 * a
        m[4, 0], m[4, 1], m[4, 4] = A * a * C2 * C1 * slope(C1 * y0), -a * a, -2 * a
        m[5, 0], m[5, 2], m[5, 5] = B * b * C4 * C3 * slope(C3 * y0), -b * b, -2 * b
        out.append((vp, bool(np.linalg.eigvals(m).real.max() < 0)))
    return np.array(out, dtype=float).reshape(-1, 2)


def stable_potential(p, **params):
    """``v_P`` (mV) of the mass's only stable fixed point at input ``p``; refuses other inputs."""
    states = steady_states(p, **params)
    stable = states[states[:, 1] == 1.0, 0]
    if stable.size != 1:
        raise ConfigurationError(bad_value(
            "p", p, f"an input where the mass has one stable fixed point (here {stable.size}: "
            f"{np.round(stable, 3).tolist()} mV; it oscillates at alpha frequency or is bistable)",
            "pick p above 0.315 /ms with tvb-library's parameters"))
    return float(stable[0])


# --------------------------------------------------------------------- TVB side

class JansenRitSpiking(JansenRit):
    r"""tvb-library's ``JansenRit`` with a ``spiking_update`` for spiking regions.

    In a TVB region nothing changes.  In a region replaced by a spiking node,
    the to-TVB proxy writes the pyramidal population's pulse density
    :math:`\nu_P` (1/ms) of every TVB step into ``y1``'s slot, and
    :meth:`spiking_update` sets:

    * ``y1`` to :math:`S^{-1}(\bar\nu_P)`, with :math:`\bar\nu_P` the low-pass
      (time constant ``tau_out``) of :math:`\nu_P`, and ``y2 = 0``, so that the
      coupling :math:`S(y_1 - y_2)` is the measured density;
    * ``y0``, ``y3`` to JR's excitatory kernel integrated exactly (a density
      constant over each step) from :math:`\bar\nu_P`;
    * ``y4 = y5 = 0`` (the derivatives of ``y1``, ``y2`` have no counterpart).
    """

    tau_out = NArray(
        label=r":math:`\tau_{out}`", default=np.array([10.0]),
        domain=Range(lo=0.0, hi=100.0, step=1.0),
        doc="Time constant (ms) of the low-pass on the pyramidal pulse density a spiking "
            "region sends; 0 means none.")

    #: Variables that the spiking side writes.
    spiking_inputs = ("y1",)

    def _scalar(self, name):
        return float(np.asarray(getattr(self, name)).ravel()[0])

    def spiking_update(self, previous: np.ndarray, inputs: dict, dt: float) -> np.ndarray:
        """States of spiking regions over a window, from their pyramidal pulse densities.

        Parameters
        ----------
        previous : ndarray, (6, n_proxy, n_mode)
            The state before the window.
        inputs : dict
            ``"y1"``: the pyramidal pulse density (1/ms), ``(n_steps, n_proxy)``.
        dt : float
            TVB's time step (ms).

        Returns
        -------
        ndarray, (n_steps, 6, n_proxy, n_mode)
        """
        from scipy.signal import lfilter

        e0, r, v0 = self._scalar("nu_max"), self._scalar("r"), self._scalar("v0")
        A_, a_, tau = self._scalar("A"), self._scalar("a"), self._scalar("tau_out")
        nu = np.asarray(inputs["y1"], dtype=float)
        n_steps = nu.shape[0]
        out = np.zeros((n_steps,) + previous.shape)
        # the filter's state is the density the previous state stands for
        start = sigmoid(previous[1, :, 0] - previous[2, :, 0], e0, r, v0)
        if tau > 0:
            keep = math.exp(-dt / tau)
            nu, _ = lfilter([1.0 - keep], [1.0, -keep], nu, axis=0, zi=keep * start[None, :])
        out[:, 1] = inverse_sigmoid(nu, e0, r, v0)[:, :, None]
        density = sigmoid(out[:, 1, :, 0], e0, r, v0)  # what the coupling will read
        # y0'' = A a S - 2 a y0' - a^2 y0, exact for S constant over a step; the matrix has
        # the double eigenvalue -a, so its exponential is closed-form (equal to scipy's
        # expm within 1.1e-16 at a = dt = 0.1, without a matrix-function call per window)
        m = np.array([[0.0, 1.0], [-a_ * a_, -2.0 * a_]])
        prop = np.exp(-a_ * dt) * np.array([[1.0 + a_ * dt, dt], [-a_ * a_ * dt, 1.0 - a_ * dt]])
        drive = np.linalg.solve(m, (prop - np.eye(2)) @ np.array([0.0, A_ * a_]))
        x = previous[[0, 3], :, 0]
        for k in range(n_steps):
            x = prop @ x + drive[:, None] * density[k][None, :]
            out[k, 0, :, 0], out[k, 3, :, 0] = x[0], x[1]
        return out


#: Global coupling of the example (SigmoidalJansenRit's a): connectivity_68's rows sum to
#: 0.016-0.34 (median 0.15), so G = 500 gives a median region c = 0.15 x 500 x 3.5 Hz
#: = 0.26 /ms of long-range input (p = mu + c = 0.48) and region 31 (row sum 0.094)
#: c = 0.16: inside the range where the pair is calibrated (docs/models.md).
G_DEFAULT = 500.0


def tvb_model(A=A, B=B, a=a, b=b, J=J, mu=MU, e0=E0, r=R, v0=V0, tau_out=None):
    """The pair's TVB model: tvb-library's ``JansenRit`` defaults except ``v0`` = 6 mV.

    ``tau_out`` (ms) defaults to one dead time of the spiking node, :func:`dead_time`
    without the step (``1 / (2 e0 k)``).
    """
    for name, value in (("A", A), ("B", B), ("a", a), ("b", b), ("J", J), ("e0", e0),
                        ("r", r)):
        check_range(name, value, 0.0, math.inf, strict_lo=True)
    for name, value in (("mu", mu), ("v0", v0)):
        check_range(name, value, -math.inf, math.inf)
    if tau_out is None:
        tau_out = 1.0 / (2.0 * e0 * SPIKES_PER_PULSE)
    check_range("tau_out", tau_out, 0.0, math.inf)
    arr = lambda value: np.array([float(value)])  # noqa: E731
    return JansenRitSpiking(A=arr(A), B=arr(B), a=arr(a), b=arr(b), J=arr(J), mu=arr(mu),
                            nu_max=arr(e0), r=arr(r), v0=arr(v0), tau_out=arr(tau_out))


def fixed_state(model, p=None) -> list:
    """The six state values of the mass's fixed point at input ``p`` (default ``mu``).

    Of several fixed points, the one with the highest ``v_P``.
    """
    par = {k: float(np.asarray(getattr(model, k)).ravel()[0])
           for k in ("A", "B", "a", "b", "J", "r", "v0", "mu")}
    e0 = float(np.asarray(model.nu_max).ravel()[0])
    p = par["mu"] if p is None else p
    vp = steady_states(p, par["A"], par["B"], par["a"], par["b"], par["J"], e0, par["r"],
                       par["v0"])[-1, 0]
    C1, C2, C3, C4 = c_constants(par["J"])
    y0 = par["A"] / par["a"] * sigmoid(vp, e0, par["r"], par["v0"])
    y2 = par["B"] / par["b"] * C4 * sigmoid(C3 * y0, e0, par["r"], par["v0"])
    return [y0, vp + y2, y2, 0.0, 0.0, 0.0]


def tvb_simulator(connectivity="connectivity_68", G=G_DEFAULT, nsig=0.0, dt=0.1, speed=3.0,
                  noise_seed=42, monitors=None, coupling=None, **model):
    r"""A whole-brain Jansen-Rit simulator (not configured), every region at the fixed point at ``mu``.

    The long-range input of region i is :math:`c_i = G \sum_j w_{ij} S(y_{1,j} - y_{2,j})`
    (1/ms), TVB's ``SigmoidalJansenRit`` with the model's own sigmoid
    (``cmax = 2 e0``, ``midpoint = v0``, ``r``), added to ``mu``.

    Parameters
    ----------
    connectivity : str or tvb Connectivity
    G : float
        Global coupling (``SigmoidalJansenRit``'s ``a``).
    nsig : float
        Additive noise on ``y4`` (the input's derivative; TVB's ``nsig``); 0: deterministic.
    dt, speed : float
        TVB's step (ms) and the conduction speed (mm/ms).
    coupling : tvb Coupling, optional
        Replaces the sigmoidal coupling (the transfer check uses a constant).
    **model
        :func:`tvb_model`'s parameters.
    """
    for name, value, lo, strict in (("G", G, 0.0, False), ("nsig", nsig, 0.0, False),
                                    ("dt", dt, 0.0, True), ("speed", speed, 0.0, True)):
        check_range(name, value, lo, math.inf, strict_lo=strict)
    from tvb.simulator import coupling as tvb_coupling, simulator
    from tvb.simulator import monitors as tvb_monitors

    conn = load_connectivity(connectivity, speed)
    jr = tvb_model(**model)
    if coupling is None:
        coupling = tvb_coupling.SigmoidalJansenRit(
            a=np.array([float(G)]), cmax=2 * jr.nu_max, cmin=np.array([0.0]),
            midpoint=jr.v0.copy(), r=jr.r.copy())
    integrator = heun(dt, [0.0, 0.0, 0.0, 0.0, nsig, 0.0], noise_seed)
    initial = constant_history(fixed_state(jr), conn, dt)
    return simulator.Simulator(model=jr, connectivity=conn, coupling=coupling,
                               integrator=integrator,
                               monitors=monitors or [tvb_monitors.Raw()],
                               initial_conditions=initial)


# ----------------------------------------------------------------- spiking side

def weights(n=N_POP, k=SPIKES_PER_PULSE, A=A, B=B, a=a, J=J, cm=CM):
    """Synaptic weights (nA) of the node's four projections, ``{"PE", "PI", "EP", "IP"}``.

    One JR pulse per synapse is ``A a C_m`` (excitatory) or ``B a C_m``
    (inhibitory, ``tau_m = 1/a``); a neuron receives ``n`` presynaptic neurons
    that fire ``k`` spikes per pulse in place of ``C`` synapses: ``C w / (n k)``.
    """
    C1, C2, C3, C4 = c_constants(J)
    # a PSP's integral is w tau_syn tau_m / C_m: A / a for tau_syn = TAU_SYN_E_FACTOR / a
    exc, inh = A * a * cm / TAU_SYN_E_FACTOR, B * a * cm
    return {"PE": C1 * exc / (n * k), "PI": C3 * exc / (n * k),
            "EP": C2 * exc / (n * k), "IP": C4 * inh / (n * k)}


def build_spiking_region(sim, region_index, label, rng, n=N_POP, k=SPIKES_PER_PULSE, A=A,
                         B=B, a=a, b=b, J=J, mu=MU, e0=E0, r=R, v0=V0, eps=EPS, delay=DELAY):
    """One Jansen-Rit column in plain PyNN: populations ``P``, ``E``, ``I`` of ``n`` IF_curr_exp cells.

    Thresholds at the logistic quantiles of ``v0``, ``1/r``
    (:func:`logistic_thresholds`), reset ``eps`` below, dead time
    :func:`dead_time`; all-to-all projections P->E, P->I (excitatory), E->P
    (excitatory) and I->P (inhibitory) with :func:`weights`; ``mu`` as a
    constant current into P.  Initial potentials are drawn with ``rng``
    uniformly between -5 mV and rest (0 mV).

    Returns
    -------
    SpikingRegion
        Populations ``"P"``, ``"E"``, ``"I"`` and the four projections.
    """
    check_count("n", n, 2, N_POP)
    check_count("k", k, 1, SPIKES_PER_PULSE, what="spikes per pulse")
    for name, value in (("A", A), ("B", B), ("a", a), ("b", b), ("J", J), ("e0", e0), ("r", r),
                        ("eps", eps), ("delay", delay)):
        check_range(name, value, 0.0, math.inf, strict_lo=True)
    for name, value in (("mu", mu), ("v0", v0)):
        check_range(name, value, -math.inf, math.inf)
    h = sim.get_time_step()
    refractory = dead_time(k, e0, h)
    if refractory <= 0:
        raise ConfigurationError(bad_value("k", k, f"at most {int(1 / (2 * e0 * h)) - 1} (the dead "
                                           f"time 1/(2 e0 k) must exceed the step {h} ms)",
                                           "pass a smaller k or a shorter spiking step"))
    theta = logistic_thresholds(n, r, v0)
    pops = {}
    for name in ("P", "E", "I"):
        cell = sim.IF_curr_exp(cm=CM, tau_m=1.0 / a, v_rest=0.0, tau_syn_E=TAU_SYN_E_FACTOR / a,
                               tau_syn_I=1.0 / b, tau_refrac=refractory, v_thresh=theta,
                               v_reset=theta - eps,
                               i_offset=mu * A * CM if name == "P" else 0.0)
        pops[name] = sim.Population(n, cell, label=f"{label}_{name}")
        pops[name].initialize(v=sim.RandomDistribution("uniform", (-5.0, 0.0), rng=rng))
    w = weights(n, k, A, B, a, J)
    projections = []
    for pre, post, key, receptor in (("P", "E", "PE", "excitatory"), ("P", "I", "PI", "excitatory"),
                                     ("E", "P", "EP", "excitatory"), ("I", "P", "IP", "inhibitory")):
        projections.append(sim.Projection(
            pops[pre], pops[post], sim.AllToAllConnector(allow_self_connections=False),
            # PyNN: a current-based inhibitory synapse carries a negative weight
            sim.StaticSynapse(weight=w[key] if receptor == "excitatory" else -w[key], delay=delay),
            receptor_type=receptor,
            label=f"{label}_{pre}{post}"))
    return SpikingRegion(pops, projections)


def default_to_spiking(A=A, cm=CM):
    """The long-range input ``c`` (1/ms) as a current into every P neuron: ``A C_m`` nA per 1/ms.

    JR's ``c`` moves the pyramidal potential by ``(A/a) c`` at steady state;
    a current ``I`` moves it by ``I tau_m / C_m = I / (a C_m)``.
    """
    from ..proxies import CurrentFromCoupling

    return [CurrentFromCoupling("y1", "P", weight=A * cm)]


def default_to_tvb(k=SPIKES_PER_PULSE):
    """The P population's rate per TVB step, Hz -> pulses per ms (``/ (1000 k)``), into ``y1``.

    :meth:`JansenRitSpiking.spiking_update` turns it into the potential.
    """
    from ..proxies import SpikeRate, transforms

    return [SpikeRate("P", "y1", transform=transforms.Affine(scale=1e-3 / k))]


def measured_potential(result, transient: float, region: int = 0,
                       stop: float = math.inf) -> float:
    """What the rest of a brain receives from a region, as a potential (mV).

    ``S^-1`` of the time-averaged pulse density ``S(y1 - y2)`` over
    ``transient < t <= stop`` (ms): the transfer check's measure.  The plain mean of
    ``y1 - y2`` is biased by the sigmoid's curvature (10.26 mV against the
    mass's 9.29 at c = 0.28).
    """
    raw = result.monitor("Raw")
    v = (raw.sel(variable="y1") - raw.sel(variable="y2")).isel(region=region, mode=0)
    v = v.where((v.time > transient) & (v.time <= stop), drop=True).values
    return float(inverse_sigmoid(sigmoid(v).mean()))

