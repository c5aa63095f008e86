"""The cross-simulator scenarios: the same PyNN code, run on any simulator.

Each function takes a simulator name ("nest", "brian2", "neuron", "annarchy"), imports
``pyNN.<name>``, runs one scenario and returns plain numpy results, cached
per process so that a scenario runs once per simulator however many tests
look at it.  Each run happens in a fresh interpreter (``isolated``): the
simulators' global state stays apart, and PyNN never frees a NEURON network
(its cells would run on in every later scenario, see
``pynn_multiscale/backends/neuron.py``).  The acceptance criteria live in the test modules; the table in
``docs/validation.md`` comes from :mod:`report`, which calls these same
functions.
"""

from __future__ import annotations


import numpy as np

from isolation import isolated
from pynn_multiscale.backends import simulator_module

#: Every simulator the suite covers; NEST is the reference the others are compared with.
SIMULATORS = ["nest", "brian2", "neuron", "annarchy"]
REFERENCE = "nest"
#: Simulators whose setup() takes PyNN's rng_seed.
SEEDED_SETUP = ("nest", "annarchy")
OTHERS = [s for s in SIMULATORS if s != REFERENCE]
#: Scenario 4 (the whole co-simulation, one seed) runs on PyNN's own simulators; ANNarchy's
#: use-case rates are compared with NEST's over three seeds in test_examples.py.
W1_SIMULATORS = ["nest", "brian2", "neuron"]
W1_OTHERS = [s for s in W1_SIMULATORS if s != REFERENCE]


def pynn(simulator):
    sim = simulator_module(simulator)
    if simulator == "brian2":
        from pynn_multiscale.backends.brian2 import apply_codegen_target

        apply_codegen_target()
    return sim


def seed_everything(sim, simulator, seed):
    """Seeds that PyNN passes on, plus Brian2's own (PyNN's Brian2 backend ignores PyNN's)."""
    if simulator == "brian2":
        import brian2

        from pynn_multiscale.backends.brian2 import apply_codegen_target, batch_projections

        brian2.seed(seed)
        batch_projections()
        apply_codegen_target()  # PyNN's own connects one neuron at a time: 150 s per region
    if simulator == "neuron":  # the NetStims' stream is seeded from this when created
        sim.simulator.state.native_rng_baseseed = seed
    np.random.seed(seed)


# ------------------------------------------------------------ scenario 1
#: Every parameter of each cell type, set explicitly (the libraries' defaults differ).
CELLS = {
    "IF_cond_alpha": dict(cm=0.25, tau_m=20.0, v_rest=-65.0, v_thresh=-50.0, v_reset=-70.0,
                          tau_refrac=2.0, i_offset=0.0, tau_syn_E=0.3, tau_syn_I=2.0,
                          e_rev_E=0.0, e_rev_I=-75.0),
    "IF_cond_exp": dict(cm=0.25, tau_m=20.0, v_rest=-65.0, v_thresh=-50.0, v_reset=-70.0,
                        tau_refrac=2.0, i_offset=0.0, tau_syn_E=5.0, tau_syn_I=5.0,
                        e_rev_E=0.0, e_rev_I=-75.0),
    "IF_curr_alpha": dict(cm=0.25, tau_m=20.0, v_rest=-65.0, v_thresh=-50.0, v_reset=-70.0,
                          tau_refrac=2.0, i_offset=0.0, tau_syn_E=0.5, tau_syn_I=0.5),
    "IF_curr_exp": dict(cm=0.25, tau_m=20.0, v_rest=-65.0, v_thresh=-50.0, v_reset=-70.0,
                        tau_refrac=2.0, i_offset=0.0, tau_syn_E=5.0, tau_syn_I=5.0),
    "EIF_cond_exp_isfa_ista": dict(cm=0.281, tau_m=9.3667, v_rest=-70.6, v_thresh=-50.4,
                                   v_reset=-70.6, tau_refrac=0.1, i_offset=0.0, tau_syn_E=5.0,
                                   tau_syn_I=5.0, e_rev_E=0.0, e_rev_I=-80.0, a=4.0, b=0.0805,
                                   delta_T=2.0, tau_w=144.0, v_spike=-40.0),
}
#: DC step (nA) per cell type: 10-20 spikes during the step.
DC_AMPLITUDE = {"EIF_cond_exp_isfa_ista": 0.85}
DC_START, DC_STOP, SINGLE_T = 50.0, 650.0, 700.0
#: The scenario's time step (ms); see test_single_cells.py for why it is fine.
SINGLE_DT = 0.01


def _single_cells(simulator, dt=SINGLE_DT):
    """One neuron of each cell type, each with its own DC step from 50 to 650 ms.

    All in one network and one run (the cells are not connected): ANNarchy
    compiles one network instead of five.  Returns, per cell type, the spike
    times (ms) and the V trace.
    """
    sim = pynn(simulator)
    sim.setup(timestep=dt, min_delay=dt)
    try:
        cells = {}
        for celltype, params in CELLS.items():
            cell = sim.Population(1, getattr(sim, celltype)(**params), label=celltype)
            cell.initialize(v=params["v_rest"])
            sim.DCSource(amplitude=DC_AMPLITUDE.get(celltype, 0.22), start=DC_START,
                         stop=DC_STOP).inject_into(cell)
            cell.record(["spikes", "v"])
            cells[celltype] = cell
        sim.run(SINGLE_T)
        out = {}
        for celltype, cell in cells.items():
            segment = cell.get_data().segments[0]
            v = segment.filter(name="v")[0]
            out[celltype] = {"spikes": np.asarray(segment.spiketrains[0].rescale("ms").magnitude),
                             "t": np.asarray(v.times.rescale("ms").magnitude),
                             "v": np.asarray(v.rescale("mV").magnitude).ravel()}
        return out
    finally:
        sim.end()


# ------------------------------------------------------------ scenario 2
POISSON_N = 200            # neurons
POISSON_K = 10             # independent excitatory sources per neuron (and 10 inhibitory)
POISSON_RATE_E = 500.0     # Hz per excitatory source ...
POISSON_RATE_I = 200.0     # ... and per inhibitory source
POISSON_T = 2000.0         # ms
POISSON_DT = 0.025         # ms; see test_poisson_population.py for why not 0.1
POISSON_CELL = dict(cm=0.25, tau_m=20.0, v_rest=-65.0, v_thresh=-50.0, v_reset=-65.0,
                    tau_refrac=2.0, i_offset=0.0, tau_syn_E=2.0, tau_syn_I=5.0,
                    e_rev_E=0.0, e_rev_I=-80.0)
POISSON_W_E, POISSON_W_I = 0.0045, 0.012  # uS: about 9 Hz, CV about 1 on NEST


def _own_sources(sim, n, k, rate, label):
    """k sources per neuron, each connected to its neuron alone."""
    sources = sim.Population(n * k, sim.SpikeSourcePoisson(rate=rate), label=label)
    pairs = [(i * k + j, i) for i in range(n) for j in range(k)]
    return sources, sim.FromListConnector(pairs)


def _poisson_population(simulator, rate_scale=1.0, seed=1):
    """N IF_cond_exp neurons, each with its own excitatory and inhibitory Poisson sources.

    ``rate_scale`` multiplies the excitatory sources' rate (the positive control).

    Returns each neuron's rate (Hz) and ISI CV (NaN under 3 spikes) and
    the total spike count.
    """
    sim = pynn(simulator)
    sim.setup(timestep=POISSON_DT, min_delay=1.0, rng_seed=seed) if simulator in SEEDED_SETUP \
        else sim.setup(timestep=POISSON_DT, min_delay=1.0)
    seed_everything(sim, simulator, seed)
    try:
        from pyNN.random import NumpyRNG

        rng = NumpyRNG(seed=seed)
        cells = sim.Population(POISSON_N, sim.IF_cond_exp(**POISSON_CELL), label="cells")
        cells.initialize(v=sim.RandomDistribution("uniform", (-65.0, -50.0), rng=rng))
        for rate, weight, receptor in ((POISSON_RATE_E * rate_scale, POISSON_W_E, "excitatory"),
                                       (POISSON_RATE_I, POISSON_W_I, "inhibitory")):
            sources, connector = _own_sources(sim, POISSON_N, POISSON_K, rate, receptor)
            sim.Projection(sources, cells, connector,
                           sim.StaticSynapse(weight=weight, delay=1.0), receptor_type=receptor)
        cells.record("spikes")
        sim.run(POISSON_T)
        trains = cells.get_data("spikes").segments[0].spiketrains
        return _rates_and_cvs(trains, POISSON_T)
    finally:
        sim.end()


def _rates_and_cvs(trains, duration):
    rates, cvs, total = [], [], 0
    for st in trains:
        t = np.sort(np.asarray(st.rescale("ms").magnitude))
        total += t.size
        rates.append(1000.0 * t.size / duration)
        isi = np.diff(t)
        cvs.append(isi.std() / isi.mean() if isi.size >= 2 else np.nan)
    return {"rates": np.array(rates), "cvs": np.array(cvs), "n_spikes": total}


def mean_and_sem(values):
    """Mean and standard error of the mean over neurons (NaNs dropped)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


# ------------------------------------------------------------ scenario 3
REGION_T = 1000.0
REGION_SEEDS = (1, 2, 3)


def _ei_region(simulator, seed):
    """The use case's E/I region alone (background input only): per-neuron rates (Hz)."""
    from pyNN.random import NumpyRNG

    from pynn_multiscale.models import red_wong_wang as rww

    sim = pynn(simulator)
    delay = rww.NETWORK_PARAMS["delay"]
    sim.setup(timestep=0.1, min_delay=delay, rng_seed=seed) if simulator in SEEDED_SETUP \
        else sim.setup(timestep=0.1, min_delay=delay)
    seed_everything(sim, simulator, seed)
    try:
        region = rww.build_spiking_region(sim, 0, "region", NumpyRNG(seed=seed))
        for pop in region.populations.values():
            pop.record("spikes")
        sim.run(REGION_T)
        return {name: _rates_and_cvs(pop.get_data("spikes").segments[0].spiketrains,
                                     REGION_T)["rates"]
                for name, pop in region.populations.items()}
    finally:
        sim.end()


# ------------------------------------------------------------ scenario 4
W1_T = 500.0
W1_REGIONS = (31, 65)
W1_SEED = 1


def _w1_tvb():
    from pynn_multiscale.models import red_wong_wang as rww

    return rww.tvb_simulator(nsig=0.0)  # TVB noise off: a deterministic Heun integrator


def _w1_summary(result):
    raw = result.monitor("Raw")
    return {"t": np.asarray(raw["time"].values),
            "S_e": np.asarray(raw.sel(variable="S_e").values)[:, :, 0]}


def _w1(simulator):
    """W1 (regions 31 and 65 spiking, 1000 neurons each) for 500 ms: TVB's S_e and the rates."""
    import pynn_multiscale as pm
    from pynn_multiscale.models import red_wong_wang as rww

    with pm.CoSimulation(_w1_tvb(), pynn(simulator), spiking_regions=list(W1_REGIONS),
                         build_region=rww.build_spiking_region,
                         to_spiking=rww.default_to_spiking(), to_tvb=rww.default_to_tvb(),
                         seed=W1_SEED, progress=False) as cosim:
        result = cosim.run(W1_T)
    out = _w1_summary(result)
    for idx in W1_REGIONS:
        for st in result.spiking[idx].segments[0].spiketrains:
            out[(idx, st.annotations["population"])] = \
                1000.0 * len(st) / (st.annotations["size"] * W1_T)
    return out


def _w1_control():
    """The same TVB model, the spiking regions replaced by a constant rate of 0 Hz."""
    import pynn_multiscale as pm
    from pynn_multiscale.backends.replay import ReplayBackend
    from pynn_multiscale.models import red_wong_wang as rww

    tvb = _w1_tvb()
    steps = int(round(W1_T / tvb.integrator.dt))
    zeros = np.zeros((steps, len(W1_REGIONS)))
    backend = ReplayBackend({"Rin_e": zeros, "Rin_i": zeros})
    with pm.CoSimulation(tvb, backend, spiking_regions=list(W1_REGIONS),
                         to_spiking=rww.default_to_spiking(),
                         to_tvb=[pm.proxies.Replay("Rin_e"), pm.proxies.Replay("Rin_i")],
                         progress=False) as cosim:
        result = cosim.run(W1_T)
    return _w1_summary(result)


def w1_neighbours():
    """Regions that receive a direct connection from a spiking region (not spiking themselves)."""
    from pynn_multiscale.models import red_wong_wang as rww

    weights = rww.tvb_simulator(nsig=0.0).connectivity.weights
    receives = (weights[:, list(W1_REGIONS)] != 0).any(axis=1)
    receives[list(W1_REGIONS)] = False
    return np.flatnonzero(receives)


# ------------------------------------------------- the isolated, cached entry points
_all_single_cells = isolated(_single_cells)


def single_cell(simulator, celltype):
    """One cell type's result of :func:`_single_cells` (one fresh interpreter per simulator)."""
    return _all_single_cells(simulator)[celltype]



poisson_population = isolated(_poisson_population)
ei_region = isolated(_ei_region)
w1 = isolated(_w1)
w1_control = isolated(_w1_control)
