"""One small network that uses every call of the ANNarchy adapter's PyNN subset.

:func:`build_and_run` is plain PyNN: it runs unchanged on ``pyNN.nest`` (the
reference) and on ``pynn_multiscale.backends.annarchy``, and returns plain
data (spike times, traces, parameters read back, connections, the Neo
layout) for ``test_annarchy_adapter.py`` to compare.  Everything is
deterministic (spike-train and current inputs, no Poisson source) except
the connectivity, which comes from a seeded ``NumpyRNG``.

One network, so that ANNarchy compiles it once (about a minute, then cached).
"""


import numpy as np

from crosssim.scenarios import CELLS

DT, T = 0.1, 200.0

#: Every parameter set explicitly (the libraries' defaults differ): scenario 1's cells,
#: except IF_cond_alpha, which takes the use case's membrane with a 0.3 ms synapse.
PARAMS = {
    "IF_cond_exp": CELLS["IF_cond_exp"],
    "IF_cond_alpha": dict(cm=0.25, tau_m=15.0, v_rest=-70.0, v_thresh=-55.0, v_reset=-60.0,
                          tau_refrac=2.0, i_offset=0.0, tau_syn_E=0.3, tau_syn_I=2.0,
                          e_rev_E=0.0, e_rev_I=-85.0),
    "IF_curr_exp": CELLS["IF_curr_exp"],
    "IF_curr_alpha": CELLS["IF_curr_alpha"],
    "EIF_cond_exp_isfa_ista": CELLS["EIF_cond_exp_isfa_ista"],
    "Izhikevich": dict(a=0.02, b=0.2, c=-65.0, d=6.0, i_offset=0.0),
}
INPUT_TIMES = [[10.0, 30.0, 31.0, 32.0, 33.0, 34.0, 120.0], [15.0, 50.0, 51.0, 52.0, 53.0],
               [20.0, 60.0, 61.0, 62.0, 63.0, 64.0, 65.0]]


def build_and_run(simulator):
    from pyNN.random import NumpyRNG

    from pynn_multiscale.backends import simulator_module

    sim = simulator_module(simulator)
    # NEST on the time grid, as ANNarchy (PyNN's default on NEST is off-grid, precise
    # spike times for the current-based models)
    extra = {"spike_precision": "on_grid"} if simulator == "nest" else {}
    sim.setup(timestep=DT, min_delay=0.5, max_delay=20.0, **extra)
    out = {"simulator": simulator}
    try:
        rng = NumpyRNG(seed=11)
        pops = {name: sim.Population(4, getattr(sim, name)(**p), label=name)
                for name, p in PARAMS.items()}
        # per-neuron parameters: arrays, a RandomDistribution, a view
        pops["IF_cond_exp"].set(tau_m=[18.0, 19.0, 20.0, 21.0])
        pops["IF_curr_exp"].set(v_thresh=sim.RandomDistribution("uniform", (-52.0, -48.0),
                                                                rng=NumpyRNG(seed=12)))
        pops["IF_cond_alpha"][2:].set(tau_refrac=3.0)
        for name, p in pops.items():
            p.initialize(v=PARAMS[name].get("v_rest", -70.0))
        pops["IF_cond_exp"].initialize(v=[-60.0, -60.0, -65.0, -65.0])
        # currents: a DC step into a view, a step current into a population
        sim.DCSource(amplitude=0.5, start=20.0, stop=150.0).inject_into(pops["IF_cond_exp"][0:2])
        sim.StepCurrentSource(times=[10.0, 60.0, 110.0], amplitudes=[0.45, 0.0, 0.6]) \
            .inject_into(pops["IF_curr_exp"])
        sim.DCSource(amplitude=0.9, start=5.0, stop=190.0).inject_into(pops["EIF_cond_exp_isfa_ista"])
        sim.DCSource(amplitude=0.012, start=5.0, stop=190.0).inject_into(pops["Izhikevich"])
        # spike-train input through each connector
        source = sim.Population(3, sim.SpikeSourceArray(spike_times=INPUT_TIMES), label="src")
        projections = {
            "all_to_all": sim.Projection(source, pops["IF_cond_alpha"], sim.AllToAllConnector(),
                                         sim.StaticSynapse(weight=0.01, delay=1.0),
                                         receptor_type="excitatory"),
            "one_to_one": sim.Projection(source, pops["IF_curr_alpha"][0:3],
                                         sim.OneToOneConnector(),
                                         sim.StaticSynapse(weight=2.0, delay=1.5)),
            "inhibitory": sim.Projection(source, pops["IF_curr_alpha"][1:4],
                                         sim.OneToOneConnector(),
                                         sim.StaticSynapse(weight=-0.5, delay=0.5),
                                         receptor_type="inhibitory"),
            "probability": sim.Projection(pops["IF_curr_exp"], pops["IF_cond_exp"],
                                          sim.FixedProbabilityConnector(0.5, rng=rng),
                                          sim.StaticSynapse(weight=0.0004, delay=2.0)),
            "from_list": sim.Projection(source, pops["IF_cond_exp"], sim.FromListConnector(
                [(0, 3, 0.02, 1.0), (1, 3, 0.03, 2.5), (2, 2, 0.01, 4.0)],
                column_names=["weight", "delay"]), sim.StaticSynapse()),
            "assembly": sim.Projection(source, pops["IF_cond_alpha"] + pops["IF_cond_exp"],
                                       sim.AllToAllConnector(),
                                       sim.StaticSynapse(weight=0.002, delay=0.5),
                                       receptor_type="inhibitory"),
            "fixed_number": sim.Projection(source, pops["Izhikevich"],
                                           sim.FixedNumberPreConnector(2, rng=NumpyRNG(seed=13)),
                                           sim.StaticSynapse(weight=0.002, delay=1.0)),
        }
        for p in pops.values():
            p.record(["spikes", "v"])
        pops["IF_cond_exp"].record("gsyn_exc")
        out["parameters"] = {name: {k: np.asarray(p.get(k)).tolist() for k in PARAMS[name]}
                             for name, p in pops.items()}
        out["view_get"] = np.asarray(pops["IF_cond_alpha"][1:3].get("tau_refrac")).tolist()
        out["connections"] = {name: sorted(tuple(round(x, 9) for x in c)
                                           for c in proj.get(["weight", "delay"], format="list"))
                              for name, proj in projections.items()}
        out["sizes"] = {name: len(proj) for name, proj in projections.items() if name != "assembly"}
        out["weight_array"] = np.asarray(projections["from_list"].get("weight", format="array"))
        out["delays_plain"] = projections["from_list"].get("delay", format="list",
                                                           with_address=False)
        sim.run(T / 2)
        if simulator == "annarchy":  # the compiled library the run loaded, and when it was built
            (library,) = sim.state.cache_dir.glob("ANNarchyWrapper*.so")
            out["library"] = (str(library), library.stat().st_mtime_ns)
        out["t_half"] = sim.get_current_time()
        sim.run_until(T)
        out["t_end"] = sim.get_current_time()
        out["spikes"], out["v"], out["neo"] = {}, {}, {}
        for name, p in pops.items():
            block = p.get_data()
            segment = block.segments[0]
            out["spikes"][name] = [np.asarray(st.magnitude) for st in segment.spiketrains]
            signals = {s.name: s for s in segment.analogsignals}
            out["v"][name] = np.asarray(signals["v"].magnitude)
            out["neo"][name] = {
                "block": {k: block.annotations[k] for k in ("size", "label")},
                "n_segments": len(block.segments),
                "trains": [(float(st.t_start), float(st.t_stop), str(st.units.dimensionality),
                            st.annotations["source_index"]) for st in segment.spiketrains],
                "signals": {s.name: (s.shape[1], float(s.t_start), float(s.sampling_period),
                                     str(s.units.dimensionality)) for s in segment.analogsignals},
            }
        gsyn = [s for s in pops["IF_cond_exp"].get_data("gsyn_exc").segments[0].analogsignals]
        out["gsyn_exc"] = np.asarray(gsyn[0].magnitude)
        view = pops["IF_cond_exp"][2:4].get_data("spikes").segments[0].spiketrains
        out["view_spikes"] = [np.asarray(st.magnitude) for st in view]
    finally:
        sim.end()
    return out
