"""The cross-simulator scenarios: the same PyNN code, run on any simulator.

Each function takes a simulator name ("nest", "brian2", "neuron", "annarchy"), imports
``pyNN.<name>``, runs one scenario and returns plain numpy results, cached
per process so that a scenario runs once per simulator however many tests
look at it.  Each run happens in a fresh process (``isolated``): the
simulators' global state stays apart, and PyNN never frees a NEURON network
(its cells would run on in every later scenario, see
``pynn_multiscale/backends/neuron.py``).  The acceptance criteria live in the test modules; the table in
``docs/validation.md`` comes from :mod:`report`, which calls these same
functions.
"""

from __future__ import annotations


import functools

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
        from pynn_multiscale.backends.brian2 import (apply_codegen_target, cache_exact_integration,
                                                     quick_current_sources)

        apply_codegen_target()
        cache_exact_integration()  # IF_curr_alpha's update step: 25-50 s of SymPy per process
        quick_current_sources()  # PyNN's DCSource: 0.6 ms per step
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


# ------------------------------------------------------------ scenario 5
#: Scenario 5: each model pair's transfer check in short (tests/crosssim/model_pairs.py, test_pair_<name>.py).
#: Per pair: the constant inputs (two levels), the replicates per level, run length and
#: discarded transient (ms), and the builder's size arguments.  A new pair (e.g. ``adex``)
#: needs an entry here and a branch in :func:`_own_pair_pieces`.
PAIR_SCENARIOS = {
    # g = G W: the uncoupled node and the edge of its range of use (test_red_wong_wang_transfer.py)
    "red_wong_wang": dict(levels=(0.0, 0.3), replicates=3, duration=450.0, transient=200.0,
                          size=dict(n_e=400, n_i=100)),
    # I: the low and the high state, outside the bistable range (test_montbrio_qif.py)
    "montbrio_qif": dict(levels=(-4.0, 6.0), replicates=3, duration=500.0, transient=300.0,
                         size=dict(n=100)),
    # c: p = mu + c = 0.35 and 0.60 /ms, stable fixed points of the mass (test_jansen_rit.py);
    # the pulse density saturates, so levels closer than this differ by less than 10%
    "jansen_rit": dict(levels=(0.13, 0.38), replicates=3, duration=500.0, transient=250.0,
                       size=dict(n=100)),
    # c: the calibration point (limit cycle of the mass) and the top of the range of use
    "wilson_cowan": dict(levels=(0.0, 0.3), replicates=3, duration=500.0, transient=200.0,
                         size={}),
    # c (kHz per external synapse): the uncoupled region and the top of the check's range
    # (test_adex.py); 600 neurons keep the in-degrees (400 E, 100 I), E cells start at the
    # uncoupled mass's W_e; both levels fire well below the mass at this size (docs/models.md),
    # the same on every backend
    "adex": dict(levels=(0.0, 5e-3), replicates=3, duration=400.0, transient=200.0,
                 size=dict(n=600)),
}
PAIR_SEED = 1
#: The loop's synchronisation interval (ms).  No connection touches the regions and their
#: input is constant, so the interval changes nothing but the loop's overhead (1 ms, the
#: default without connections, spent 20 s of a 56 s NEST run in per-window work).
PAIR_SYNC_INTERVAL = 10.0


#: Builder arguments a backend needs for a pair (the same model, built another way):
#: Brian2's one-spike-per-step Poisson sources silence the uncoupled Wilson-Cowan node
#: with one 7000 Hz background source per cell; ten of 700 Hz are the same Poisson
#: process (wilson_cowan.NETWORK_PARAMS).  On ANNarchy, ten sources gave E 12% above
#: NEST's at c = 0.3 (0.751 against 0.668) where one source agrees: not investigated.
PAIR_BACKEND_SIZE = {("wilson_cowan", "brian2"): {"params": {"bg_sources": 10}}}

#: Co-simulation keywords a backend needs for a pair.  PyNN's Brian2 integrates the
#: conductance-based IF cells with explicit Euler (Brian2's choice when 'exact' does not
#: apply), and its first-order error raises Wong-Wang's E rate at c = 0.3 by 10% at 0.1 ms
#: (10.07 Hz against NEST's 9.14, three seeds each, SE 0.03 and 0.08) and by 4.5% at 0.05 ms
#: (9.66 against NEST's 9.24 at 0.05 ms): the scenario runs that pair on Brian2 at 0.05 ms.
PAIR_BACKEND_KWARGS = {("red_wong_wang", "brian2"): {"spiking_timestep": 0.05}}

#: Backend settings a pair needs (attributes of the backend's class, set in the replicate's
#: process).  The AdEx pair sends 3000 Hz per E cell at c = 5 Hz; one ANNarchy Poisson source
#: per neuron fires at most once per step, 0.70 of a Poisson input's variance there (the
#: backend warns), which silenced the fluctuation-driven E cells (0.83 Hz against NEST's
#: 1.23-1.41); ten sources of a tenth of the rate keep 0.99 of it.
PAIR_BACKEND_SETTINGS = {("adex", "annarchy"): {"poisson_sources_per_neuron": 10}}


def pair_pieces(pair, simulator="nest"):
    """``(make_tvb, build_region, to_spiking, to_tvb, couple, readout, cosim_kwargs)`` of a pair.

    The pair's own pieces, as its tests/test_<pair>.py gives them to
    ``spiking_transfer``; ``readout(raw_region, transient)`` turns the Raw
    monitor's series of one region (an xarray over time and variable) into
    the transfer check's value.  A backend's entries in
    :data:`PAIR_BACKEND_SIZE` and :data:`PAIR_BACKEND_KWARGS` are applied.
    """
    *pieces, kwargs = _own_pair_pieces(
        pair, dict(PAIR_SCENARIOS[pair]["size"], **PAIR_BACKEND_SIZE.get((pair, simulator), {})))
    return (*pieces, dict(kwargs, **PAIR_BACKEND_KWARGS.get((pair, simulator), {})))


def _own_pair_pieces(pair, size):
    """:func:`pair_pieces` before the backend's keywords, with the builder's ``size`` arguments."""
    from pynn_multiscale.models import transfer

    def mean_of(variable):
        def readout(raw, transient):
            series = raw.sel(variable=variable)
            return float(series.where(series.time > transient, drop=True).mean())
        return readout

    if pair == "red_wong_wang":
        from pynn_multiscale.models import red_wong_wang as m

        return (functools.partial(m.tvb_simulator, nsig=0.0),
                functools.partial(m.build_spiking_region, **size), m.default_to_spiking(G=1.0),
                m.default_to_tvb(), m.long_range_input, mean_of("Rin_e"), {})
    if pair == "montbrio_qif":
        from pynn_multiscale.models import montbrio_qif as m

        return (m.tvb_simulator, functools.partial(m.build_spiking_region, **size),
                m.default_to_spiking(), m.default_to_tvb(), transfer.constant_coupling,
                mean_of("r"), dict(spiking_timestep=0.05, max_rate=2000.0))
    if pair == "jansen_rit":
        from pynn_multiscale.models import jansen_rit as m

        def density(raw, transient):
            """The mean pulse density S(y1 - y2) (1/ms) the rest of a brain would receive."""
            v = raw.sel(variable="y1") - raw.sel(variable="y2")
            return float(m.sigmoid(v.where(v.time > transient, drop=True).values).mean())

        return (m.tvb_simulator, functools.partial(m.build_spiking_region, **size),
                m.default_to_spiking(), m.default_to_tvb(), transfer.constant_coupling, density,
                dict(spiking_timestep=0.1))
    if pair == "wilson_cowan":
        from pynn_multiscale.models import wilson_cowan as m

        return (m.tvb_simulator, functools.partial(m.build_spiking_region, **size),
                m.default_to_spiking(), m.default_to_tvb(), transfer.constant_coupling,
                mean_of("E"), {})
    if pair == "adex":
        from pynn_multiscale.models import adex as m

        # TVB at the spiking step: ANNarchy's Poisson rates change every spiking step
        step = size.pop("spiking_timestep", 0.1)
        return (functools.partial(m.tvb_simulator, dt=step),
                functools.partial(m.build_spiking_region, w_init=m.steady_state(0.0)[5], **size),
                m.default_to_spiking(), m.default_to_tvb(), transfer.constant_coupling,
                mean_of("E"), dict(spiking_timestep=step))
    raise ValueError(f"no scenario for the pair {pair!r}; add it to PAIR_SCENARIOS")


def unconnected_connectivity(n):
    """A TVB connectivity of ``n`` regions and no connection."""
    from tvb.datatypes.connectivity import Connectivity

    conn = Connectivity(weights=np.zeros((n, n)), tract_lengths=np.zeros((n, n)),
                        centres=np.zeros((n, 3)),
                        region_labels=np.array([f"node{i}" for i in range(n)]),
                        speed=np.array([3.0]))
    conn.configure()
    return conn


def per_region_coupling(couple, levels):
    """TVB's ``Linear(a=0, b)`` with region i's ``b`` that of ``couple(levels[i])``.

    ``couple(level)`` is a pair's constant coupling (``Linear(a=0, b=level)``,
    one ``b`` per coupling variable or one for all); stacking their ``b``
    along the region axis gives every region its own constant input.
    """
    from tvb.simulator.coupling import Linear

    bs = [np.asarray(couple(level).b, dtype=float).reshape(-1, 1) for level in levels]
    return Linear(a=np.array([0.0]), b=np.stack(bs, axis=1))  # (n_cvar or 1, n_region, 1)


def _pair_replicate(simulator, pair, replicate):
    """One replicate of a pair's transfer check in short: every level in one network.

    ``len(levels)`` unconnected regions, each a spiking region of the pair,
    region ``i`` at the constant input ``levels[i]`` (the pair's own constant
    coupling, as ``spiking_transfer`` gives one region), seeded by
    ``PAIR_SEED + replicate``.  Returns the transfer check's value per level
    and every population's mean rate (Hz) after the transient, per level.
    """
    import pynn_multiscale as pm

    cfg = PAIR_SCENARIOS[pair]
    make_tvb, build, to_spiking, to_tvb, couple, readout, kwargs = pair_pieces(pair, simulator)
    levels = cfg["levels"]
    n = len(levels)
    tvb = make_tvb(connectivity=unconnected_connectivity(n),
                   coupling=per_region_coupling(couple, levels))
    duration, transient = cfg["duration"], cfg["transient"]
    sim = pynn(simulator)
    for name, value in PAIR_BACKEND_SETTINGS.get((pair, simulator), {}).items():
        setattr(type(pm.backends.get_backend(sim)), name, value)  # this process only
    with pm.CoSimulation(tvb, sim, spiking_regions=list(range(n)),
                         build_region=build, to_spiking=to_spiking, to_tvb=to_tvb,
                         seed=PAIR_SEED + replicate, sync_interval=PAIR_SYNC_INTERVAL,
                         progress=False, **kwargs) as cosim:
        result = cosim.run(duration)
    raw = result.monitor("Raw")
    values = np.array([readout(raw.isel(region=i, mode=0), transient) for i in range(n)])
    rates = {}
    for i in range(n):
        for st in result.spiking[i].segments[0].spiketrains:  # one train per population
            t = np.asarray(st.rescale("ms").magnitude)
            rates.setdefault(st.annotations["population"], np.zeros(n))[i] = \
                1000.0 * np.count_nonzero(t > transient) / (st.annotations["size"]
                                                             * (duration - transient))
    return {"values": values, "rates": rates}


pair_replicate = isolated(_pair_replicate)


@functools.lru_cache(maxsize=None)
def pair_transfer(simulator, pair):
    """A pair's transfer check in short: ``replicates`` independent networks of every level.

    Each replicate is its own network in its own process
    (:func:`_pair_replicate`, seeded ``PAIR_SEED + replicate``): a replicate
    is a sample of the whole node, connectivity included.  The replicates'
    networks have the same structure, so Brian2 and ANNarchy compile the
    first and load it for the others.  (One network holding every replicate
    had three times the populations, and ANNarchy's compile grows with them:
    Wong-Wang's 30 populations took 368 s from a cold cache.)  Returns the transfer check's value, ``(n_levels,
    replicates)``, and every population's mean rate, same shape, per population.
    """
    runs = [pair_replicate(simulator, pair, r) for r in range(PAIR_SCENARIOS[pair]["replicates"])]
    return {"values": np.stack([run["values"] for run in runs], axis=1),
            "rates": {name: np.stack([run["rates"][name] for run in runs], axis=1)
                      for name in runs[0]["rates"]}}


# ------------------------------------------------- the isolated, cached entry points
_all_single_cells = isolated(_single_cells)


def single_cell(simulator, celltype):
    """One cell type's result of :func:`_single_cells` (one fresh interpreter per simulator)."""
    return _all_single_cells(simulator)[celltype]



poisson_population = isolated(_poisson_population)
ei_region = isolated(_ei_region)
w1 = isolated(_w1)
w1_control = isolated(_w1_control)
