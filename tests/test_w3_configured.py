"""W3 and W3-echo on simulators the user configured before the co-simulation.

TVB's idiom is ``Simulator(...).configure()``; configuring draws the initial
history (from the noise stream), and with ``initial_conditions`` shorter
than the history it counts their steps.  The co-simulation must keep what
the user configured: its output equals ``run()`` of an identically
configured simulator, bit for bit, for deterministic and stochastic
integrators, with and without given initial conditions.

Models and connectivities are other than test_w3_pure_tvb's: Jansen-Rit
and Kuramoto, on connectivity_96 (zero-length self-connections) and
connectivity_66 (self-connections with a tract length).
"""

import numpy as np
import pytest
from tvb.datatypes import connectivity
from tvb.simulator import coupling, integrators, models, monitors, noise, simulator

import pynn_multiscale as pm
from pynn_multiscale.backends.replay import ReplayBackend

pytestmark = pytest.mark.smoke

MODELS = {
    "JansenRit": (models.JansenRit, lambda: coupling.SigmoidalJansenRit(a=np.array([1.0])), 1e-4),
    "Kuramoto": (models.Kuramoto, lambda: coupling.Kuramoto(a=np.array([0.5])), 1e-3),
}
CONNECTIVITIES = ["connectivity_96", "connectivity_66"]


def make(model_name, conn_name, stochastic, initial_steps=0, seed=11):
    model_cls, make_coupling, nsig = MODELS[model_name]
    model = model_cls(variables_of_interest=model_cls.state_variables)  # Raw records them all
    conn = connectivity.Connectivity.from_file(conn_name + ".zip")
    if stochastic:
        integrator = integrators.HeunStochastic(
            dt=0.1, noise=noise.Additive(nsig=np.full(len(model.state_variables), nsig),
                                         noise_seed=seed))
    else:
        integrator = integrators.HeunDeterministic(dt=0.1)
    sim = simulator.Simulator(model=model, connectivity=conn, coupling=make_coupling(),
                              integrator=integrator,
                              monitors=[monitors.Raw(), monitors.TemporalAverage(period=1.0)])
    if initial_steps:
        # fewer steps than the history holds: TVB pads them and counts them in current_step
        rng = np.random.default_rng(seed)
        lo, hi = zip(*(model.state_variable_range[v] for v in model.state_variables))
        shape = (initial_steps, len(lo), conn.weights.shape[0], 1)
        sim.initial_conditions = rng.uniform(np.array(lo)[None, :, None, None],
                                             np.array(hi)[None, :, None, None], size=shape)
    return sim


def configure(sim, seed=11):
    # a deterministic integrator has no noise stream: TVB draws its initial history
    # from numpy's global generator
    np.random.seed(seed)
    return sim.configure()


def reference_run(duration, **kwargs):
    return configure(make(**kwargs)).run(simulation_length=duration)


CASES = [(m, c, s, i) for m in sorted(MODELS) for c in CONNECTIVITIES for s in (False, True)
         for i in (0, 5)]


@pytest.mark.parametrize("model_name,conn_name,stochastic,initial_steps", CASES)
def test_configured_simulator_reproduces_tvb(model_name, conn_name, stochastic, initial_steps):
    kwargs = dict(model_name=model_name, conn_name=conn_name, stochastic=stochastic,
                  initial_steps=initial_steps)
    duration = 30.7
    expected = reference_run(duration, **kwargs)
    for configured in (True, False):
        tvb = make(**kwargs)
        if configured:
            configure(tvb)
        else:
            np.random.seed(11)  # the co-simulation configures it
        with pm.CoSimulation(tvb, ReplayBackend()) as cosim:
            result = cosim.run(duration)
        for name, (t, y) in zip(["Raw", "TemporalAverage"], expected):
            got = result.tvb[name]
            assert got.shape == y.shape
            # co-simulation time starts after the given initial steps
            offset = (initial_steps - 1) * 0.1 if initial_steps else 0.0
            assert np.allclose(got[got.dims[0]].values + offset, t, rtol=0, atol=1e-9)
            assert np.abs(got.values - y).max() == 0.0, (configured, name)


def test_configuring_twice_is_detected():
    """Positive control: a second configure() draws another history, and W3 sees it."""
    kwargs = dict(model_name="JansenRit", conn_name="connectivity_96", stochastic=True)
    (t, y), _ = reference_run(10.0, **kwargs)
    tvb = configure(make(**kwargs))
    tvb.configure()
    with pm.CoSimulation(tvb, ReplayBackend()) as cosim:
        got = cosim.run(10.0).tvb["Raw"].values
    assert np.abs(got - y).max() > 1e-3


ECHO = {
    # model, connectivity, proxy regions
    "jansen_rit_96": ("JansenRit", "connectivity_96", [10, 50]),
    "kuramoto_66": ("Kuramoto", "connectivity_66", [5, 40]),
}


@pytest.mark.parametrize("case", sorted(ECHO))
@pytest.mark.parametrize("stochastic", [False, True])
def test_echo_on_configured_simulator(case, stochastic):
    """Proxies replaying a plain run of a configured simulator reproduce that run."""
    model_name, conn_name, regions = ECHO[case]
    kwargs = dict(model_name=model_name, conn_name=conn_name, stochastic=stochastic,
                  initial_steps=5)
    (t, y), _ = reference_run(40.0, **kwargs)
    state_vars = list(MODELS[model_name][0]().state_variables)
    values = {v: y[:, i, regions, 0] for i, v in enumerate(state_vars)}
    tvb = configure(make(**kwargs))
    with pm.CoSimulation(tvb, ReplayBackend(values), spiking_regions=regions,
                         to_tvb=[pm.proxies.Replay(v) for v in state_vars]) as cosim:
        assert cosim.n_sync > 1
        got = cosim.run(40.0).tvb["Raw"].values
    assert got.shape == y.shape
    assert np.abs(got - y).max() == 0.0
    # the proxies' self-connections were dropped after configure(): the history was
    # rebuilt, not drawn again (else the other regions would differ from the first step)
    assert tvb.connectivity.weights[regions, regions].tolist() == [0.0, 0.0]
