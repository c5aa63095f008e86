"""W3-echo: proxy regions that replay a plain run's values reproduce that run.

A plain TVB run records every state variable of every region.  The
co-simulation then makes some regions proxies and a replay backend feeds
them, window by window, exactly the values the plain run computed for them.
If the state, history and coupling updates are right, every region's
trajectory equals the plain run's, bit for bit.
"""

import numpy as np
import pytest
from tvb.datatypes import connectivity
from tvb.simulator import coupling, integrators, models, monitors, noise, simulator

import pynn_multiscale as pm
from pynn_multiscale.backends.replay import ReplayBackend
from pynn_multiscale.models import red_wong_wang as rww

# in the smoke subset that `make test` runs on the other supported Pythons
pytestmark = pytest.mark.smoke


def rww_tvb_library(seed):
    conn = connectivity.Connectivity.from_file("connectivity_76.zip")
    return simulator.Simulator(
        model=models.ReducedWongWangExcInh(), connectivity=conn,
        coupling=coupling.Linear(a=np.array([1.0])),
        integrator=integrators.HeunStochastic(
            dt=0.1, noise=noise.Additive(nsig=np.array([5e-5]), noise_seed=seed)),
        monitors=[monitors.Raw()])


def rww_rates(seed):
    return rww.tvb_simulator(noise_seed=seed)


CASES = {
    # tvb-library's model on connectivity_76 (zero-length self-connections)
    "rww_76": (rww_tvb_library, [10, 50]),
    # our rate variant on connectivity_68, the use case's regions
    "rww_rates_68": (rww_rates, [31, 65]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_echo_reproduces_plain_run(case):
    make, regions = CASES[case]
    duration = 60.0
    plain = make(seed=3)
    # The co-simulation drops the proxies' self-connections; their own state is
    # replayed, so the plain run may keep them.
    plain.configure()
    (t, y), = plain.run(simulation_length=duration)
    state_vars = list(plain.model.state_variables)
    values = {v: y[:, i, regions, 0] for i, v in enumerate(state_vars)}

    cosim_tvb = make(seed=3)
    with pm.CoSimulation(cosim_tvb, ReplayBackend(values), spiking_regions=regions,
                         to_tvb=[pm.proxies.Replay(v) for v in state_vars]) as cosim:
        assert cosim.n_sync > 1
        result = cosim.run(duration)
    got = result.tvb["Raw"].values
    assert got.shape == y.shape
    assert np.abs(got - y).max() == 0.0


def test_echo_detects_a_wrong_replay():
    """Positive control: replaying slightly wrong values changes the other regions."""
    regions = [31, 65]
    plain = rww_rates(seed=3)
    plain.configure()
    (t, y), = plain.run(simulation_length=60.0)
    values = {v: y[:, i, regions, 0] for i, v in enumerate(plain.model.state_variables)}
    values["S_e"] = values["S_e"] * 1.01
    with pm.CoSimulation(rww_rates(seed=3), ReplayBackend(values), spiking_regions=regions,
                         to_tvb=[pm.proxies.Replay(v) for v in values]) as cosim:
        got = cosim.run(60.0).tvb["Raw"].values
    others = np.setdiff1d(np.arange(y.shape[2]), regions)
    assert np.abs(got[:, :, others] - y[:, :, others]).max() > 1e-6
