"""W3: with no spiking regions the windowed loop reproduces Simulator.run() exactly.

The co-simulation goes through the same window loop as a real one (the test
counts the windows); only TVB's own numbers are compared, so the tolerance is
exact equality: the engine makes the same floating-point operations in the
same order, with the same noise stream.
"""

import numpy as np
import pytest
from tvb.datatypes import connectivity
from tvb.simulator import coupling, integrators, models, monitors, noise, simulator

import pynn_multiscale as pm
from pynn_multiscale.backends.replay import ReplayBackend

# in the smoke subset that `make test` runs on the other supported Pythons
pytestmark = pytest.mark.smoke

MODELS = {
    "ReducedWongWangExcInh": lambda: models.ReducedWongWangExcInh(),
    "Generic2dOscillator": lambda: models.Generic2dOscillator(),
}


def make_simulator(model_name, conn_name, seed=7):
    conn = connectivity.Connectivity.from_file(conn_name + ".zip")
    model = MODELS[model_name]()
    nsig = np.full(len(model.state_variables), 1e-4)
    return simulator.Simulator(
        model=model, connectivity=conn, coupling=coupling.Linear(a=np.array([0.01])),
        integrator=integrators.HeunStochastic(dt=0.1, noise=noise.Additive(nsig=nsig, noise_seed=seed)),
        monitors=[monitors.Raw(), monitors.TemporalAverage(period=1.0)])


@pytest.mark.parametrize("conn_name", ["connectivity_76", "connectivity_68"])
@pytest.mark.parametrize("model_name", sorted(MODELS))
@pytest.mark.parametrize("sync_interval", [None, 2.5])
def test_no_spiking_regions_reproduces_tvb(model_name, conn_name, sync_interval, monkeypatch):
    duration = 101.3  # not a multiple of either interval: the last window is partial
    reference = make_simulator(model_name, conn_name)
    reference.configure()
    expected = reference.run(simulation_length=duration)

    windows = []
    original = pm.CoSimulation._begin_window
    monkeypatch.setattr(pm.CoSimulation, "_begin_window",
                        lambda self, n, ahead=None: (windows.append(n), original(self, n, ahead))[1])
    with pm.CoSimulation(make_simulator(model_name, conn_name), ReplayBackend(),
                         sync_interval=sync_interval) as cosim:
        result = cosim.run(duration)
    n_sync = 10 if sync_interval is None else 25  # default 1 ms without spiking regions
    assert windows[0] == n_sync and len(windows) == int(np.ceil(1013 / n_sync)) > 1
    for name, (t, y) in zip(["Raw", "TemporalAverage"], expected):
        got = result.monitor(name) if hasattr(result, "monitor") else result.tvb[name]
        assert got.shape == y.shape
        assert np.array_equal(np.asarray(got[got.dims[0]]), t)
        assert np.abs(got.values - y).max() == 0.0


def test_run_continues_where_it_stopped():
    """Two calls of run() equal one call of the summed duration."""
    reference = make_simulator("ReducedWongWangExcInh", "connectivity_68")
    reference.configure()
    (t, y), _ = reference.run(simulation_length=20.0)
    with pm.CoSimulation(make_simulator("ReducedWongWangExcInh", "connectivity_68"),
                         ReplayBackend()) as cosim:
        cosim.run(7.3)
        result = cosim.run(12.7)
    assert np.abs(result.tvb["Raw"].values - y).max() == 0.0
