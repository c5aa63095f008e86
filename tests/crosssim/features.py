"""The PyNN coverage suite: one region builder per PyNN feature, on every backend.

Each feature is a plain PyNN region builder, written once.  All the features
a backend accepts run together in one short co-simulation, one spiking
region each (TVB's side is a :class:`tvb_helpers.HeldRate` model without
coupling, so the regions are independent; each sends its "out" population's
rate to TVB).  A feature a backend refuses (the co-simulation raises while
it is built) is taken out and the rest run again, in a fresh process; the
refusal's message is kept.

Every measure is a value per neuron whose neurons are independent (each has
its own Poisson sources), so a feature's mean over neurons has an honest
standard error.  A feature gives "the same numbers" as NEST when every
measure's mean is within 3 standard errors of the difference from NEST's;
the positive control (``scale=1.1``: every excitatory source 10% faster, on
NEST) shows that this criterion catches a 10% change of the input.

``python tests/crosssim/report.py --features`` writes the capability table in
``docs/backends.md`` from these same functions; ``test_features.py`` checks
the table is current.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from isolation import isolated

#: The co-simulation's spiking time step (ms): fine enough that NEURON's and Brian2's
#: first-order integration error is below the statistical resolution (see
#: test_poisson_population.py), and that PyNN's Brian2 HH_cond_exp is stable.
DT = 0.025
TVB_DT = 0.1
T = 500.0      # ms of co-simulation
N = 150        # neurons per feature
K = 10         # own excitatory and own inhibitory Poisson sources per neuron
RATE_E, RATE_I = 500.0, 200.0
MIN_DELAY = 1.0

#: Exceptions that are a backend's clear refusal (the package's and the ANNarchy
#: adapter's own "outside the subset" errors); anything else is a failure.
REFUSALS = ("CapabilityError", "ConfigurationError", "ConfigurationTypeError",
            "NotImplementedError")


@dataclass(frozen=True)
class Feature:
    """A region builder for one PyNN feature, and the measures it adds to the rates of "out"."""

    name: str
    doc: str
    build: Callable          # (sim, rng, scale) -> (SpikingRegion, state for measure)
    measure: Callable = None  # (state, result, region_index) -> {name: per-neuron values}
    exact: Callable = None    # (state, result, region_index) -> {check: bool} on one backend


FEATURES: dict[str, Feature] = {}


def feature(name, doc, measure=None, exact=None):
    def register(build):
        FEATURES[name] = Feature(name, doc, build, measure, exact)
        return build
    return register


# ------------------------------------------------------------------ helpers
COND = dict(cm=0.25, tau_m=20.0, v_rest=-65.0, v_thresh=-50.0, v_reset=-65.0, tau_refrac=2.0,
            i_offset=0.0, tau_syn_E=2.0, tau_syn_I=5.0, e_rev_E=0.0, e_rev_I=-80.0)
W_COND = (0.0045, 0.012)  # uS: about 9 Hz, CV of ISI about 1, on NEST


def drive(sim, cells, rng, scale, weights, delay=MIN_DELAY):
    """K own excitatory (RATE_E * scale) and K own inhibitory (RATE_I) sources per neuron."""
    n = cells.size
    for rate, weight, receptor in ((RATE_E * scale, weights[0], "excitatory"),
                                   (RATE_I, weights[1], "inhibitory")):
        sources = sim.Population(n * K, sim.SpikeSourcePoisson(rate=rate))
        pairs = [(i * K + j, i) for i in range(n) for j in range(K)]
        sim.Projection(sources, cells, sim.FromListConnector(pairs),
                       sim.StaticSynapse(weight=weight, delay=delay), receptor_type=receptor)


def start_v(sim, cells, rng, low=-65.0, high=-50.0):
    cells.initialize(v=sim.RandomDistribution("uniform", (low, high), rng=rng))


def region(populations, state=None):
    from pynn_multiscale import SpikingRegion

    return SpikingRegion(populations), state


def spikes(result, idx, name):
    """(times, neuron indices) of a named population, sorted by neuron then time."""
    train = [st for st in result.spiking[idx].segments[0].spiketrains
             if st.annotations["population"] == name][0]
    index = np.asarray(train.array_annotations["source_index"])
    times = np.asarray(train.magnitude)
    order = np.lexsort((times, index))
    return times[order], index[order]


# ----------------------------------------------------------------- features
def _cells(kind):
    def build(sim, rng, scale, params, weights):
        cells = sim.Population(N, getattr(sim, kind)(**params))
        start_v(sim, cells, rng, *V_START.get(kind, (-65.0, -50.0)))
        drive(sim, cells, rng, scale, weights)
        return region({"out": cells})
    return build


V_START = {"Izhikevich": (-70.0, -60.0), "HH_cond_exp": (-65.0, -60.0)}


@feature("IF_cond_exp", "conductance-based LIF (the reference drive)")
def _if_cond_exp(sim, rng, scale):
    return _cells("IF_cond_exp")(sim, rng, scale, COND, W_COND)


CURR = dict(cm=0.25, tau_m=20.0, v_rest=-65.0, v_thresh=-50.0, v_reset=-65.0, tau_refrac=2.0,
            i_offset=0.0, tau_syn_E=2.0, tau_syn_I=5.0)
W_CURR = (0.11, -0.1)  # nA; inhibitory current-based weights are negative in PyNN


@feature("IF_curr_exp", "current-based LIF (weights in nA)")
def _if_curr_exp(sim, rng, scale):
    return _cells("IF_curr_exp")(sim, rng, scale, CURR, W_CURR)


ADEX = dict(cm=0.281, tau_m=9.3667, v_rest=-70.6, v_thresh=-50.4, v_reset=-70.6, tau_refrac=0.1,
            i_offset=0.0, tau_syn_E=5.0, tau_syn_I=5.0, e_rev_E=0.0, e_rev_I=-80.0, a=4.0,
            b=0.0805, delta_T=2.0, tau_w=144.0, v_spike=-40.0)
W_ADEX = (0.0027, 0.012)


@feature("EIF_cond_exp_isfa_ista", "AdEx, conductance-based with adaptation")
def _adex(sim, rng, scale):
    return _cells("EIF_cond_exp_isfa_ista")(sim, rng, scale, ADEX, W_ADEX)


IZH = dict(a=0.02, b=0.2, c=-65.0, d=2.0, i_offset=0.0)
W_IZH = (1.0, -1.0)  # mV: PyNN's Izhikevich synapses are voltage jumps


@feature("Izhikevich", "Izhikevich (2003) regular spiking, weights in mV (voltage jumps)")
def _izhikevich(sim, rng, scale):
    return _cells("Izhikevich")(sim, rng, scale, IZH, W_IZH)


HH = dict(gbar_Na=20.0, gbar_K=6.0, g_leak=0.01, cm=0.2, v_offset=-63.0, e_rev_Na=50.0,
          e_rev_K=-90.0, e_rev_leak=-65.0, e_rev_E=0.0, e_rev_I=-80.0, tau_syn_E=2.0,
          tau_syn_I=5.0, i_offset=0.0)
W_HH = (0.0034, 0.013)


@feature("HH_cond_exp", "Hodgkin-Huxley (Traub) with exponential conductances")
def _hh(sim, rng, scale):
    return _cells("HH_cond_exp")(sim, rng, scale, HH, W_HH)


W_NATIVE = 0.00045  # uS: about 10 Hz


@feature("native NEST model", "a NEST model through sim.native_cell_type (iaf_cond_exp)")
def _native(sim, rng, scale):
    celltype = sim.native_cell_type("iaf_cond_exp")  # COND in NEST's own names and units
    cells = sim.Population(N, celltype(C_m=250.0, g_L=12.5, E_L=-65.0, V_th=-50.0,
                                       V_reset=-65.0, t_ref=2.0, I_e=0.0, tau_syn_ex=2.0,
                                       tau_syn_in=5.0, E_ex=0.0, E_in=-80.0))
    start_v(sim, cells, rng)
    # excitation only: PyNN makes every weight onto a native conductance-based model
    # positive, and iaf_cond_exp takes its receptor from the weight's sign
    drive(sim, cells, rng, scale, (W_NATIVE, 0.0))
    return region({"out": cells})


def _view_exact(state, result, idx):
    t_all, i_all = spikes(result, idx, "all")
    t_out, i_out = spikes(result, idx, "out")
    even = i_all % 2 == 0
    return {"the view's spikes are its parent's at those neurons":
            bool(np.array_equal(t_all[even], t_out) and np.array_equal(i_all[even] // 2, i_out)),
            "the parent keeps every spike": bool(np.any(~even))}


@feature("PopulationView", "a named view (every second neuron) next to its parent",
         exact=_view_exact)
def _views(sim, rng, scale):
    cells = sim.Population(2 * N, sim.IF_cond_exp(**COND))
    start_v(sim, cells, rng)
    drive(sim, cells[::2], rng, scale, W_COND)  # onto a view, through PyNN
    drive(sim, cells[1::2], rng, scale, W_COND)
    return region({"all": cells, "out": cells[::2]})


def _assembly_exact(state, result, idx):
    t_a, i_a = spikes(result, idx, "a")
    t_b, i_b = spikes(result, idx, "b")
    t_out, i_out = spikes(result, idx, "out")
    n_a = N // 2
    first = i_out < n_a
    return {"the assembly's spikes are its members'":
            bool(np.array_equal(t_out[first], t_a) and np.array_equal(i_out[first], i_a)
                 and np.array_equal(t_out[~first], t_b)
                 and np.array_equal(i_out[~first] - n_a, i_b))}


@feature("Assembly", "a named assembly a + b, driven by one projection onto it",
         exact=_assembly_exact)
def _assembly(sim, rng, scale):
    a = sim.Population(N // 2, sim.IF_cond_exp(**COND))
    b = sim.Population(N - N // 2, sim.IF_cond_exp(**COND))
    both = a + b
    start_v(sim, both, rng)
    drive(sim, both, rng, scale, W_COND)  # onto the assembly, with explicit receptors
    return region({"a": a, "b": b, "out": both})


def _grid_measure(state, result, idx):
    proj, size = state
    weights = np.asarray(proj.get("weight", format="array"), dtype=float)  # pre x post
    return {"in-degree": np.isfinite(weights).sum(axis=0)}


@feature("Grid2D", "populations on 2-D grids, DistanceDependentProbabilityConnector",
         measure=_grid_measure)
def _grid(sim, rng, scale):
    from pyNN.space import Grid2D

    side = int(round(np.sqrt(N)))
    cells = sim.Population(side * side, sim.IF_cond_exp(**COND),
                           structure=Grid2D(aspect_ratio=1.0, dx=1.0 / side, dy=1.0 / side))
    start_v(sim, cells, rng)
    drive(sim, cells, rng, scale, W_COND)
    sources = sim.Population(4 * side * side, sim.SpikeSourcePoisson(rate=5.0),
                             structure=Grid2D(aspect_ratio=1.0, dx=0.5 / side, dy=0.5 / side))
    proj = sim.Projection(sources, cells,
                          sim.DistanceDependentProbabilityConnector("exp(-d / 0.1)", rng=rng),
                          sim.StaticSynapse(weight=0.0001, delay=MIN_DELAY),
                          receptor_type="excitatory")
    return region({"out": cells}, (proj, cells.size))


@feature("random parameters and delays",
         "RandomDistribution for tau_m, v_thresh and the input delays")
def _random(sim, rng, scale):
    params = dict(COND, tau_m=sim.RandomDistribution("normal", (20.0, 2.0), rng=rng),
                  v_thresh=sim.RandomDistribution("uniform", (-52.0, -48.0), rng=rng))
    cells = sim.Population(N, sim.IF_cond_exp(**params))
    start_v(sim, cells, rng)
    drive(sim, cells, rng, scale, W_COND,
          delay=sim.RandomDistribution("uniform", (MIN_DELAY, 3.0), rng=rng))
    return region({"out": cells})


def _stdp_measure(state, result, idx):
    proj, size = state
    weights = np.asarray(proj.get("weight", format="array"), dtype=float)  # pre x post
    return {"mean weight per neuron (uS)": np.nanmean(weights, axis=0)}


@feature("STDPMechanism", "SpikePairRule, additive, through pynn_multiscale.plasticity."
         "stdp_mechanism", measure=_stdp_measure)
def _stdp(sim, rng, scale):
    from pynn_multiscale.plasticity import stdp_mechanism

    cells = sim.Population(N, sim.IF_cond_exp(**COND))
    start_v(sim, cells, rng)
    drive(sim, cells, rng, scale, W_COND)
    sources = sim.Population(N * K, sim.SpikeSourcePoisson(rate=20.0))
    pairs = [(i * K + j, i) for i in range(N) for j in range(K)]
    synapse = stdp_mechanism(
        sim, sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.01, A_minus=0.012),
        sim.AdditiveWeightDependence(w_min=0.0, w_max=0.004), weight=0.002, delay=MIN_DELAY)
    proj = sim.Projection(sources, cells, sim.FromListConnector(pairs), synapse,
                          receptor_type="excitatory")
    return region({"out": cells}, (proj, cells.size))


def _v_measure(state, result, idx):
    [signal] = [s for s in result.spiking[idx].segments[0].analogsignals if s.name == "v"]
    v = np.asarray(signal.magnitude)
    order = np.argsort(signal.array_annotations["channel_index"])
    return {"time-averaged V (mV)": v[:, order].mean(axis=0)}


@feature("recorded V", "out.record('v'): V comes back in result.spiking", measure=_v_measure)
def _recorded_v(sim, rng, scale):
    cells = sim.Population(N, sim.IF_cond_exp(**COND))
    start_v(sim, cells, rng)
    drive(sim, cells, rng, scale, W_COND)
    cells.record("v", sampling_interval=1.0)
    return region({"out": cells})


# ------------------------------------------------------------------- runner
def _run(simulator, names, scale, seed):
    """Run the features ``names`` together; ("ok", measures) or ("refused", name, message)."""
    import sys
    import warnings

    import pynn_multiscale as pm
    from pynn_multiscale.backends import simulator_module
    from pynn_multiscale.proxies import SpikeRate
    from tvb_helpers import held_rate_simulator

    n = len(names) + 1
    tvb = held_rate_simulator(np.zeros((n, n)), np.ones((n, n)), [0.0] * n, dt=TVB_DT)
    states, building = {}, []
    if simulator == "brian2":
        import brian2

        brian2.seed(seed)
    np.random.seed(seed)

    def build(sim, idx, label, rng):
        building.append(names[idx - 1])
        made, states[idx] = FEATURES[names[idx - 1]].build(sim, rng, scale)
        return made

    sim = simulator_module(simulator)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cosim = pm.CoSimulation(tvb, sim, spiking_regions=list(range(1, n)),
                                    build_region=build, to_tvb=[SpikeRate("out", "Rin")],
                                    spiking_timestep=DT, min_delay=MIN_DELAY, seed=seed,
                                    max_rate=1000.0)
    except Exception as exc:
        return ("refused", _culprit(exc, names, building), type(exc).__name__, f"{exc}")
    with cosim:
        try:
            result = cosim.run(T)
        except Exception as exc:  # not a refusal: the verdict says it failed
            return ("refused", _culprit(exc, names, building), type(exc).__name__, f"{exc}")
        out = {}
        for idx, name in enumerate(names, start=1):
            feat = FEATURES[name]
            times, index = spikes(result, idx, "out")
            size = cosim.regions[idx].populations["out"].size
            measures = {"rate (Hz)": 1000.0 * np.bincount(index, minlength=size) / T}
            if feat.measure:
                measures.update(feat.measure(states[idx], result, idx))
            checks = feat.exact(states[idx], result, idx) if feat.exact else {}
            out[name] = {"measures": measures, "checks": checks}
    sys.stdout.flush()
    return ("ok", out)


def _culprit(exc, names, building):
    """The feature an error names (by its region), else the one being built."""
    match = re.search(r"region (\d+)", str(exc))
    if match and 0 < int(match.group(1)) <= len(names):
        return names[int(match.group(1)) - 1]
    return building[-1]


run_isolated = isolated(_run)


def coverage(simulator, scale=1.0, seed=1, names=None):
    """{feature: {"refused": (type, message)} or {"measures": ..., "checks": ...}}."""
    names = list(FEATURES if names is None else names)
    out = {}
    while names:
        got = run_isolated(simulator, tuple(names), scale, seed)
        if got[0] == "ok":
            out.update(got[1])
            break
        _, name, kind, message = got
        out[name] = {"refused": (kind, message)}
        names.remove(name)
    return out


def mean_and_sem(values):
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def difference_in_se(a, b):
    (ma, sa), (mb, sb) = mean_and_sem(a), mean_and_sem(b)
    return abs(ma - mb) / max(np.hypot(sa, sb), 1e-12)


#: Measures that differ from NEST's for a documented reason, per (feature, simulator).
CONVENTIONS = {
    ("STDPMechanism", "brian2"): {
        "mean weight per neuron (uS)":
            "PyNN's Brian2 STDP sees the whole delay as axonal (the rule sees t_post - t_pre "
            "- d; NEST and NEURON: + d), so the same spikes give other weight changes; at the "
            "same interval at the synapse they agree (tests/crosssim/test_stdp.py)"},
}


def verdict(entry, reference, simulator=None, name=None):
    """"same", "refused", "same but ..." (a documented convention), or what differs."""
    if "refused" in entry:
        return "refused" if entry["refused"][0] in REFUSALS else \
            f"failed with {entry['refused'][0]}: {entry['refused'][1]}"
    if "refused" in reference:
        return "runs (NEST refuses)"
    known = CONVENTIONS.get((name, simulator), {})
    bad = [f"{k} differs ({difference_in_se(v, reference['measures'][k]):.1f} SE)"
           for k, v in entry["measures"].items()
           if k not in known and difference_in_se(v, reference["measures"][k]) >= 3.0]
    bad += [f"not: {k}" for k, ok in entry["checks"].items() if not ok]
    if bad:
        return "; ".join(bad)
    return "same" if not known else "same, except by convention: " + ", ".join(known)


def reason(entry) -> str:
    """A refusal's message without what changes from run to run (labels, region numbers)."""
    kind, message = entry["refused"]
    message = re.sub(r" (for|in) region \d+ \(r\d+\)", "", message.split(" Fix:")[0])
    message = re.sub(r"'[a-z_]*\d+'", "a population", message)
    return f"{kind}: {message}"


def table(results) -> list[str]:
    """The capability table (markdown rows) from ``{simulator: coverage(simulator)}``."""
    sims = list(results)
    rows = ["| PyNN feature | " + " | ".join(sims) + " |",
            "|---|" + "---|" * len(sims)]
    notes = []
    for name, feat in FEATURES.items():
        cells = []
        for sim in sims:
            entry = results[sim][name]
            v = verdict(entry, results[sims[0]][name], sim, name)
            if v == "refused":
                text = reason(entry)
                if text not in notes:
                    notes.append(text)
                cells.append(f"refused [{notes.index(text) + 1}]")
            elif v.startswith("same, except"):
                text = "; ".join(CONVENTIONS[(name, sim)].values())
                if text not in notes:
                    notes.append(text)
                cells.append(f"same, but [{notes.index(text) + 1}]")
            else:
                cells.append("reference" if sim == sims[0] else v)
        rows.append(f"| {name}: {feat.doc} | " + " | ".join(cells) + " |")
    rows.append("")
    rows += [f"{k}. {text}" for k, text in enumerate(notes, start=1)]
    return rows
