"""A weight means one thing: a proxy's ``synapse_weight`` acts as a PyNN Projection's.

Single cells of every standard cell type, inside a co-simulation.  On NEST,
Brian2 and NEURON: one spike reaches cell "proxy" through a proxy (an
``ElephantTrains`` whose train is that one spike) and cell "proj" through a
``Projection`` with the same weight and delay; the PSP (peak of V minus an
undriven control cell's V) must be equal.  The peak is resolved to one time
step, so the criterion is 2% (the largest change of an alpha or exponential
PSP's peak within 0.1 ms is well below it); the bug it guards against was a
factor of 1000 (Izhikevich on NEST's proxies) and Izhikevich must also give
PyNN's voltage jump, ``weight`` mV.  The ANNarchy adapter has no spike-train
proxy: there, 100 cells get ``RateToPoisson`` input and 100 get their own
``SpikeSourcePoisson`` at the same rate through a Projection, and their
time-averaged depolarisations must agree within 3 standard errors (cells
are independent); the control shows that criterion tells a 10% stronger
weight apart.  There the cells of one type are one population (the proxy's
cells, the projection's and the control are views of it): ANNarchy's compile
grows with the number of populations, and 30 took 241 s from a cold cache.
"""

from dataclasses import dataclass

import numpy as np
import pytest

from isolation import isolated

CELLS = {  # cell type -> weight in PyNN's units
    "IF_cond_alpha": 0.01, "IF_cond_exp": 0.01, "IF_curr_alpha": 0.1, "IF_curr_exp": 0.1,
    "EIF_cond_exp_isfa_ista": 0.01, "HH_cond_exp": 0.01, "Izhikevich": 0.5,
}
ADAPTER_CELLS = [c for c in CELLS if c != "HH_cond_exp"]
T_SPIKE, DT = 10.0, 0.1


def _psps(simulator, celltypes):
    """{cell type: (PSP through the proxy, PSP through the Projection)} in mV."""
    import pynn_multiscale as pm
    from pynn_multiscale.backends import simulator_module
    from tvb_helpers import held_rate_simulator

    @dataclass(frozen=True)
    class OneSpike(pm.proxies.ElephantTrains):
        """Every train is one spike at T_SPIKE."""

        def generate(self, rates, t0, dt, n):
            t1 = t0 + rates.size * dt
            return [np.array([T_SPIKE]) if t0 < T_SPIKE <= t1 + 1e-9 else np.empty(0)] * n

    def build(sim, idx, label, rng):
        # two sources, one silent (PyNN's Brian2 get() fails on a one-connection projection)
        src = sim.Population(2, sim.SpikeSourceArray(
            spike_times=[sim.Sequence([T_SPIKE]), sim.Sequence([])]))
        pops = {"src": src}
        for c in celltypes:
            for role in ("proxy", "proj", "ctrl"):
                pops[f"{c} {role}"] = p = sim.Population(1, getattr(sim, c)())
                p.record("v")
            sim.Projection(src, pops[f"{c} proj"], sim.AllToAllConnector(),
                           sim.StaticSynapse(weight=CELLS[c], delay=1.0),
                           receptor_type="excitatory")
        return pm.SpikingRegion(pops)

    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 1], [1, 0]], [1.0, 0.0], dt=DT)
    proxies = [OneSpike("R", f"{c} proxy", weight=1.0, synapse_weight=CELLS[c], delay=1.0)
               for c in celltypes]
    try:
        cosim = pm.CoSimulation(tvb, simulator_module(simulator), spiking_regions=[1],
                                build_region=build, to_spiking=proxies, max_rate=np.inf,
                                to_tvb=[pm.proxies.SpikeRate("src", "Rin")], min_delay=DT)
    except pm.CapabilityError as exc:
        return {c: str(exc) for c in celltypes}
    with cosim:
        result = cosim.run(40.0)
    v = {s.annotations["population"]: np.asarray(s)[:, 0]
         for s in result.spiking[1].segments[0].analogsignals if s.name == "v"}
    return {c: tuple(float(np.max(v[f"{c} {r}"] - v[f"{c} ctrl"])) for r in ("proxy", "proj"))
            for c in celltypes}


psps = isolated(_psps)


def all_psps(simulator):
    if simulator == "brian2":  # PyNN's Brian2 fails with several cell types in one network
        out = {}
        for c in CELLS:
            out.update(psps(simulator, (c,)))
        return out
    return psps(simulator, tuple(CELLS))


@pytest.mark.parametrize("simulator", ["nest", "brian2", "neuron"])
def test_a_proxy_spike_gives_the_psp_of_a_projection_spike(simulator):
    got = all_psps(simulator)
    if simulator == "brian2":  # refused up front: an upstream defect (docs/backends.md)
        assert "without refractoriness" in got.pop("HH_cond_exp")
    for c, (proxy, proj) in got.items():
        assert proj > 0.05, (c, proj)  # a PSP there is to compare
        assert abs(proxy - proj) <= 0.02 * proj, (simulator, c, proxy, proj)
    # PyNN's voltage jump, in mV (seen at the end of the step: V relaxes by up to 6% in
    # 0.1 ms near rest on NEURON, whose jump comes at the step's start)
    assert abs(got["Izhikevich"][1] - CELLS["Izhikevich"]) <= 0.1 * CELLS["Izhikevich"]


N_ADAPTER, RATE = 100, 500.0
SAMPLE = 0.5  # ms between V samples (time averages need no more)


def _mean_depolarisation(scale):
    """ANNarchy adapter: per-cell mean V - V_ctrl through a rate proxy and a Projection."""
    import pynn_multiscale as pm
    from pynn_multiscale.backends import annarchy as sim
    from tvb_helpers import held_rate_simulator

    def build(sim_, idx, label, rng):
        # one population per cell type (ANNarchy's compile grows with the number of
        # populations): cells [0, N) get the proxy, [N, 2N) the projection, 2N is the control
        pops = {}
        for c in ADAPTER_CELLS:
            pops[c] = p = sim.Population(2 * N_ADAPTER + 1, getattr(sim, c)())
            p.record("v", sampling_interval=SAMPLE)
            pops[f"{c} proxy"], pops[f"{c} proj"] = p[:N_ADAPTER], p[N_ADAPTER:2 * N_ADAPTER]
            src = sim.Population(N_ADAPTER, sim.SpikeSourcePoisson(rate=RATE))
            sim.Projection(src, pops[f"{c} proj"], sim.OneToOneConnector(),
                           sim.StaticSynapse(weight=CELLS[c] * scale / 10, delay=1.0),
                           receptor_type="excitatory")
        return pm.SpikingRegion(pops)

    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, 1], [1, 0]], [RATE, 0.0], dt=DT)
    proxies = [pm.proxies.RateToPoisson("R", f"{c} proxy", weight=1.0,
                                        synapse_weight=CELLS[c] / 10, delay=1.0)
               for c in ADAPTER_CELLS]
    with pm.CoSimulation(tvb, sim, spiking_regions=[1], build_region=build, max_rate=np.inf,
                         to_spiking=proxies, min_delay=DT, seed=2,
                         to_tvb=[pm.proxies.SpikeRate(ADAPTER_CELLS[0], "Rin")]) \
            as cosim:
        result = cosim.run(500.0)
    v = {s.annotations["population"]: np.asarray(s)
         for s in result.spiking[1].segments[0].analogsignals if s.name == "v"}
    skip = int(50.0 / SAMPLE)  # the first 50 ms: the cells settle
    out = {}
    for c in ADAPTER_CELLS:
        trace = v[c][skip:]
        ctrl = trace[:, 2 * N_ADAPTER:2 * N_ADAPTER + 1]
        out[c] = ((trace[:, :N_ADAPTER] - ctrl).mean(axis=0),
                  (trace[:, N_ADAPTER:2 * N_ADAPTER] - ctrl).mean(axis=0))
    return out


depolarisation = isolated(_mean_depolarisation)


def _se_apart(a, b):
    return abs(a.mean() - b.mean()) / np.hypot(a.std(ddof=1) / np.sqrt(a.size),
                                               b.std(ddof=1) / np.sqrt(b.size))


def test_annarchy_a_rate_proxy_depolarises_as_a_projection_of_the_same_weight():
    for c, (proxy, proj) in depolarisation(1.0).items():
        assert proj.mean() > 0.02, (c, proj.mean())
        assert _se_apart(proxy, proj) < 3.0, (c, proxy.mean(), proj.mean())


def test_annarchy_control_a_ten_percent_stronger_projection_is_told_apart():
    for c, (proxy, proj) in depolarisation(1.1).items():
        assert _se_apart(proxy, proj) > 3.0, (c, proxy.mean(), proj.mean())
