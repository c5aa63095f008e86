r"""Montbrió-Pazó-Roxin mean field <-> a network of quadratic integrate-and-fire neurons.

tvb-library's ``MontbrioPazoRoxin`` is the *exact* mean field of N -> infinity
all-to-all coupled QIF neurons (Montbrió, Pazó & Roxin 2015, Phys Rev X
5:021028, eqs. 1, 12)::

    tau dV_j/dt = V_j**2 + eta_j + J tau r(t) + I(t)       (spike at +inf, reset to -inf)
    tau dr/dt   = Delta / (pi tau) + 2 r V
    tau dV/dt   = V**2 + eta + J tau r - (pi tau r)**2 + I

with the excitabilities ``eta_j`` Lorentzian (centre ``eta``, half-width
``Delta``).  That gives a transfer check with a known answer.

**The QIF neuron in PyNN.**  PyNN's standard ``Izhikevich`` cell with its
recovery variable switched off (``a = b = d = 0``, ``u = 0``) is a QIF neuron:
``dv/dt = 0.04 v**2 + 5 v + 140 + I_izh`` (mV, ms; ``I_izh`` in mV/ms is
1000 x the current in nA) is, with ``x = v + 62.5``, ``dx/dt = 0.04 x**2 -
16.25 + I_izh``.  Setting ``x = c V`` with ``c = 25 / tau`` (mV per unit of V)
turns it into the equation above, with::

    I_izh(eta_j) = 16.25 + (25 / tau**2) eta_j               (mV/ms; i_offset = 1e-3 x that, nA)
    jump per presynaptic spike = c J / N                      (mV: PyNN's Izhikevich weight)
    current per unit of TVB input I = 1e-3 x 25 / tau**2      (nA)

and rates in Hz are 1000 x MPR's ``r`` (1/ms).  The same builder runs on every
PyNN backend: nothing in it is NEST-specific.

**Finite peak and reset.**  PyNN's Izhikevich cell spikes at v = 30 mV, so
x_peak = 92.5 mV and V_peak = 92.5 / c = 3.7 tau; the reset is chosen
symmetric (V_reset = -V_peak, v_reset = -155 mV, as Montbrió et al. did).  A
neuron with effective drive ``e > 0`` then fires at::

    f(e) = sqrt(e) / (tau (atan(V_peak / sqrt e) - atan(V_reset / sqrt e)))

instead of ``sqrt(e) / (pi tau)``, a relative excess of about
``2 sqrt(e) / (pi V_peak)``, which is ``f / 1850 Hz`` for a neuron firing at
f: it is set by the firing rates alone, whatever tau.  A network of ``N``
neurons with ``eta_j`` at the Lorentzian's quantiles also truncates the
Lorentzian's tails.  :func:`network_steady_state` solves the self-consistent
rate of the finite network (``r = mean_j f(eta_j + J tau r + I)``), so the
deviation from the exact mean field is computed, not guessed: it is the
tolerance's derived part in the transfer check (``docs/models.md``).

**TVB side.**  :class:`MontbrioPazoRoxinSpiking` is tvb-library's class with
a ``spiking_update``: in a spiking region, ``r`` is the network's rate (kHz)
and ``V`` the value the mean field's fixed point gives for it,
``V = -Delta / (2 pi tau r)``.  Regions couple through ``r`` only (``cv = 0``).
"""

from __future__ import annotations

import math

import numpy as np
from tvb.basic.neotraits.api import Final
from tvb.simulator.models.infinite_theta import MontbrioPazoRoxin

from ..errors import ConfigurationError, bad_value
from ..region import SpikingRegion
from ._tvb_side import check_count, check_range, constant_history, heun, load_connectivity

# ---------------------------------------------------------------- the mapping

#: The quadratic coefficient, the shift to x = v + 62.5 and the spike peak of PyNN's Izhikevich.
IZH_QUADRATIC, IZH_SHIFT, IZH_PEAK = 0.04, 62.5, 30.0
#: Peak of x = v + 62.5 (mV).
X_PEAK = IZH_PEAK + IZH_SHIFT
#: The reset: symmetric in x (V_reset = -V_peak).
V_RESET_IZH = -IZH_SHIFT - X_PEAK

#: The pair's defaults: tvb-library's MontbrioPazoRoxin (eta -5, J 15, Delta 1), with
#: tau 20 ms (tvb-library's tau = 1 leaves the time unit open; 20 ms puts the low
#: state near 3 Hz and keeps the finite-peak excess below 10%).
TAU, ETA, J, DELTA = 20.0, -5.0, 15.0, 1.0
#: Neurons per region (Montbrió et al. used 10 000; see docs/models.md for what N changes).
N_QIF = 2000
#: The recurrent synapses' delay (ms): the mean field's coupling is instantaneous.
DELAY = 0.1


def mv_per_unit(tau: float) -> float:
    """``c``: mV of Izhikevich's x per unit of the mean field's V (``25 / tau``)."""
    return 1.0 / (IZH_QUADRATIC * tau)


def v_peak(tau: float) -> float:
    """The QIF neuron's peak in units of V (``92.5 / c``)."""
    return X_PEAK / mv_per_unit(tau)


def offset_current(eta, tau: float):
    """``i_offset`` (nA) that gives a neuron the excitability ``eta``.

    ``0.04 v**2 + 5 v + 140 = 0.04 x**2 - 16.25``: the constant 16.25 mV/ms is
    paid first, then ``(c / tau) eta``.
    """
    constant = -(IZH_QUADRATIC * IZH_SHIFT ** 2 - 5.0 * IZH_SHIFT + 140.0)  # 16.25 mV/ms
    return 1e-3 * (constant + mv_per_unit(tau) / tau * np.asarray(eta, dtype=float))


def current_per_input(tau: float) -> float:
    """nA per unit of the mean field's input ``I`` (``1e-3 c / tau``)."""
    return 1e-3 * mv_per_unit(tau) / tau


def lorentzian_quantiles(eta: float, delta: float, n: int) -> np.ndarray:
    """``eta_j = eta + Delta tan(pi/2 (2j - n - 1) / (n + 1))``, j = 1..n (Montbrió et al.)."""
    j = np.arange(1, n + 1)
    return eta + delta * np.tan(0.5 * np.pi * (2 * j - n - 1) / (n + 1))


# ---------------------------------------------------------- steady states

def steady_states(I=0.0, eta=ETA, J=J, Delta=DELTA, tau=TAU) -> np.ndarray:
    """The mean field's fixed-point rates (1/ms) at constant input ``I``, ascending.

    From ``dr/dt = 0``: ``V = -Delta / (2 pi tau r)``; put into ``dV/dt = 0``
    and multiply by ``r**2``: ``-(pi tau)**2 r**4 + J tau r**3 + (eta + I) r**2
    + (Delta / (2 pi tau))**2 = 0``.  Its positive real roots are the fixed
    points (one, or three in the bistable range: low, saddle, high).
    """
    roots = np.roots([-(np.pi * tau) ** 2, J * tau, eta + I, 0.0, (Delta / (2 * np.pi * tau)) ** 2])
    real = roots[(np.abs(roots.imag) < 1e-9 * np.abs(roots).max()) & (roots.real > 0)].real
    return np.sort(real)


def single_rate(e, tau: float, peak: float = math.inf, reset: float = -math.inf) -> np.ndarray:
    """Firing rate (1/ms) of one QIF neuron at constant drive ``e`` (units of V**2).

    ``sqrt(e) / (tau (atan(peak / sqrt e) - atan(reset / sqrt e)))`` for ``e > 0``;
    0 for ``e <= 0`` (the neuron rests if the reset lies below its stable point).
    """
    e = np.asarray(e, dtype=float)
    out = np.zeros_like(e)
    on = e > 0
    s = np.sqrt(e[on])
    out[on] = s / (tau * (np.arctan(peak / s) - np.arctan(reset / s)))
    return out


def network_steady_state(I=0.0, eta=ETA, J=J, Delta=DELTA, tau=TAU, n=N_QIF,
                         finite_peak=True, branch="low", near=None) -> float:
    """The self-consistent rate (1/ms) of the finite network of :func:`build_spiking_region`.

    ``r = mean_j f(eta_j + J tau r + I)`` over the ``n`` quantile excitabilities,
    with the finite peak and reset (or, ``finite_peak=False``, the ideal
    neuron).  Of several solutions, ``branch`` (``"low"`` or ``"high"``) picks
    the lowest or highest, or ``near`` (a rate in 1/ms) the one closest to it.
    The difference from :func:`steady_states` is the deviation the spiking
    network is expected to show in the limit of weak rate fluctuations.
    """
    from scipy.optimize import brentq

    if branch not in ("low", "high"):
        raise ConfigurationError(bad_value("branch", branch, "'low' or 'high'", "pick one"))

    etas = lorentzian_quantiles(eta, Delta, n)
    peak, reset = (v_peak(tau), -v_peak(tau)) if finite_peak else (math.inf, -math.inf)

    def excess(r):
        return single_rate(etas + J * tau * r + I, tau, peak, reset).mean() - r

    grid = np.linspace(1e-7, 10.0 / tau, 2000)  # up to 10 / tau: 500 Hz at tau = 20 ms
    values = np.array([excess(r) for r in grid])
    crossings = np.nonzero(np.sign(values[:-1]) != np.sign(values[1:]))[0]
    roots = [brentq(excess, grid[k], grid[k + 1], xtol=1e-12) for k in crossings]
    if not roots:
        raise ValueError(f"no steady state of the network found for I = {I}")
    if near is not None:
        return min(roots, key=lambda root: abs(root - near))
    return roots[0] if branch == "low" else roots[-1]


# --------------------------------------------------------------------- TVB side

class MontbrioPazoRoxinSpiking(MontbrioPazoRoxin):
    r"""tvb-library's ``MontbrioPazoRoxin`` with a ``spiking_update`` for spiking regions.

    In a TVB region nothing changes.  In a region replaced by a QIF network,
    ``r`` (1/ms) is the network's rate of every TVB step (``SpikeRate`` in Hz,
    scaled by 1e-3) and ``V`` is the fixed-point relation of the mean field,
    :math:`V = -\Delta / (2 \pi \tau r)`, kept at its previous value in a step
    without spikes.  Regions couple through ``r`` only: keep ``cv = 0``.
    """

    state_variable_boundaries = Final(
        label="State Variable boundaries [lo, hi]",
        default={"r": np.array([0.0, np.inf])},
        doc="A rate is not negative.")

    #: Variables that the spiking side writes.
    spiking_inputs = ("r",)

    def spiking_update(self, previous: np.ndarray, inputs: dict, dt: float) -> np.ndarray:
        """States of spiking regions over a window, from their measured rates (1/ms).

        Parameters and returns as :meth:`ReducedWongWangExcInhRates.spiking_update
        <pynn_multiscale.models.red_wong_wang.ReducedWongWangExcInhRates.spiking_update>`.
        """
        r = inputs["r"]
        out = np.empty((r.shape[0],) + previous.shape)
        out[:, 0] = r[:, :, None]
        delta = float(np.asarray(self.Delta).ravel()[0])
        tau = float(np.asarray(self.tau).ravel()[0])
        with np.errstate(divide="ignore"):
            v = -delta / (2 * np.pi * tau * r)
        v = np.where(r > 0, v, np.nan)
        # a step without spikes keeps the V of the step before
        last = previous[1, :, 0].copy()
        for k in range(r.shape[0]):
            last = np.where(np.isnan(v[k]), last, v[k])
            out[k, 1] = last[:, None]
        return out


#: Global coupling of the example: connectivity_68's rows sum to 0.016-0.34 (median 0.15),
#: so G = 30 gives a median region in the low state (r ~ 4 Hz) a long-range input
#: I = G tau sum_j w_ij r_j of about 0.4 (docs/models.md).
G_DEFAULT = 30.0
#: Additive noise on V (TVB's nsig; 0 gives a deterministic integrator).
NSIG_DEFAULT = 0.0


def tvb_model(tau=TAU, eta=ETA, J=J, Delta=DELTA, I=0.0) -> MontbrioPazoRoxinSpiking:
    """The pair's TVB model (``cr = 1``, ``cv = 0``)."""
    for name, value, lo in (("tau", tau, 0.0), ("Delta", Delta, 0.0)):
        check_range(name, value, lo, math.inf, strict_lo=True)
    for name, value in (("eta", eta), ("J", J), ("I", I)):
        check_range(name, value, -math.inf, math.inf)
    return MontbrioPazoRoxinSpiking(
        tau=np.array([float(tau)]), eta=np.array([float(eta)]), J=np.array([float(J)]),
        Delta=np.array([float(Delta)]), I=np.array([float(I)]), cr=np.array([1.0]),
        cv=np.array([0.0]))


def low_state(model) -> list:
    """The model's low fixed point ``[r, V]`` (the initial state of every region)."""
    p = {k: float(np.asarray(getattr(model, k)).ravel()[0]) for k in ("tau", "eta", "J", "Delta", "I")}
    r = steady_states(p["I"], p["eta"], p["J"], p["Delta"], p["tau"])[0]
    return [r, -p["Delta"] / (2 * np.pi * p["tau"] * r)]


def tvb_simulator(connectivity="connectivity_68", G=G_DEFAULT, nsig=NSIG_DEFAULT, dt=0.1,
                  speed=3.0, noise_seed=42, monitors=None, coupling=None, **model):
    r"""A whole-brain MPR simulator (not configured), every region at its low state.

    The long-range input of region i is :math:`I_i = G \tau \sum_j w_{ij} r_j(t - d_{ij})`:
    TVB's ``Linear(a = G tau)`` coupling on ``r``, so that ``G`` is measured in
    the units of the recurrent ``J`` (a region's own rate enters as
    :math:`J \tau r`).

    Parameters
    ----------
    connectivity : str or tvb Connectivity
    G : float
        Global coupling (units of J).
    nsig : float
        Additive noise on ``V`` (TVB's ``nsig``); 0: deterministic Heun.
    dt, speed : float
        TVB's step (ms) and the conduction speed (mm/ms).
    coupling : tvb Coupling, optional
        Replaces the ``Linear`` coupling (the transfer check uses a constant).
    **model
        ``tau``, ``eta``, ``J``, ``Delta``, ``I`` (:func:`tvb_model`).
    """
    for name, value, lo, strict in (("G", G, 0.0, False), ("nsig", nsig, 0.0, False),
                                    ("dt", dt, 0.0, True), ("speed", speed, 0.0, True)):
        check_range(name, value, lo, math.inf, strict_lo=strict)
    from tvb.simulator import coupling as tvb_coupling, simulator
    from tvb.simulator import monitors as tvb_monitors

    conn = load_connectivity(connectivity, speed)
    mpr = tvb_model(**model)
    if coupling is None:
        coupling = tvb_coupling.Linear(a=np.array([float(G) * float(mpr.tau[0])]))
    integrator = heun(dt, [0.0, nsig], noise_seed)
    initial = constant_history(low_state(mpr), conn, dt)
    return simulator.Simulator(model=mpr, connectivity=conn, coupling=coupling,
                               integrator=integrator,
                               monitors=monitors or [tvb_monitors.Raw()],
                               initial_conditions=initial)


# ----------------------------------------------------------------- spiking side

def build_spiking_region(sim, region_index, label, rng, n=N_QIF, tau=TAU, eta=ETA, J=J,
                         Delta=DELTA, delay=DELAY):
    """One QIF network in plain PyNN: ``n`` Izhikevich cells with ``a = b = d = 0``, all to all.

    Neuron j gets the excitability ``eta_j`` at the j-th Lorentzian quantile
    (:func:`lorentzian_quantiles`) through ``i_offset``; every spike moves
    every neuron by ``c J / n`` mV (``c = 25 / tau``) after ``delay`` ms.
    Initial potentials are drawn with ``rng`` uniformly in the lower half of
    the neuron's range (x from -92.5 to 0 mV).

    Returns
    -------
    SpikingRegion
        The population ``"QIF"`` and its recurrent projection.
    """
    check_count("n", n, 2, N_QIF)
    for name, value, lo in (("tau", tau, 0.0), ("Delta", Delta, 0.0), ("delay", delay, 0.0)):
        check_range(name, value, lo, math.inf, strict_lo=True)
    c = mv_per_unit(tau)
    cell = sim.Izhikevich(a=0.0, b=0.0, c=V_RESET_IZH, d=0.0,
                          i_offset=offset_current(lorentzian_quantiles(eta, Delta, n), tau))
    pop = sim.Population(n, cell, label=f"{label}_QIF")
    pop.initialize(v=sim.RandomDistribution("uniform", (V_RESET_IZH, -IZH_SHIFT), rng=rng), u=0.0)
    weight = c * abs(J) / n
    projection = sim.Projection(pop, pop, sim.AllToAllConnector(allow_self_connections=True),
                                sim.StaticSynapse(weight=weight, delay=delay),
                                receptor_type="excitatory" if J >= 0 else "inhibitory",
                                label=f"{label}_QIF_QIF")
    return SpikingRegion({"QIF": pop}, [projection])


def default_to_spiking(tau=TAU):
    """TVB's input ``I`` on ``r`` as a current into every neuron: ``1e-3 c / tau`` nA per unit.

    TVB's coupling already contains ``G tau`` (:func:`tvb_simulator`), so the
    weight is the current per unit of ``I``, :func:`current_per_input`.
    """
    from ..proxies import CurrentFromCoupling

    return [CurrentFromCoupling("r", "QIF", weight=current_per_input(tau))]


def default_to_tvb():
    """The network's rate per TVB step, Hz -> 1/ms, into ``r``."""
    from ..proxies import SpikeRate, transforms

    return [SpikeRate("QIF", "r", transform=transforms.Affine(scale=1e-3))]


# ------------------------------------------------------------ the transfer check

def expected(I, n=N_QIF, tau=TAU, eta=ETA, J=J, Delta=DELTA):
    """The mean field's rate at input ``I`` and the finite network's, both in Hz.

    Returns ``(mean_field, network)``: the exact steady state
    (:func:`steady_states`) and the finite-peak, finite-``n`` prediction
    (:func:`network_steady_state`) on the same branch.  Their difference is
    the derived deviation that the transfer check allows on top of the
    sampling error.  An input in the mean field's bistable range is refused:
    which state a finite network sits in there is a matter of chance.
    """
    states = steady_states(I, eta, J, Delta, tau)
    if states.size != 1:
        raise ConfigurationError(bad_value(
            "I", I, f"an input outside the bistable range (the mean field has {states.size} "
            f"steady states there: {np.round(1000 * states, 3).tolist()} Hz)",
            "pick a level where it has one"))
    r = states[0]
    network = network_steady_state(I, eta, J, Delta, tau, n, near=r)
    return 1000.0 * r, 1000.0 * network
