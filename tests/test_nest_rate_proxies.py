"""Spiking -> TVB proxies beyond the histogram, on NEST, against direct computations."""

import elephant.kernels as ek
import elephant.statistics as es
import neo
import numpy as np
import pytest
import pyNN.nest as sim
import quantities as pq

import pynn_multiscale as pm
from pynn_multiscale.models import red_wong_wang as rww
from tvb_helpers import held_rate_simulator

DT, T, N = 0.1, 40.0, 8


def source_region(times):
    def build(sim, idx, label, rng):
        cells = sim.SpikeSourceArray(spike_times=[sim.Sequence(t) for t in times])
        return pm.SpikingRegion({"E": sim.Population(N, cells, label=label)})
    return build


def known_trains(seed=0):
    rng = np.random.default_rng(seed)
    return [np.unique(np.round(rng.uniform(0.2, T, size=50), 1)) for _ in range(N)]


def received(proxy, build, variable="Rin"):
    tvb = held_rate_simulator([[0, 1], [1, 0]], [[0, 5], [5, 0]], [0.0, 0.0])
    with pm.CoSimulation(tvb, sim, spiking_regions=[1], build_region=build, max_rate=np.inf,
                         to_tvb=[proxy]) as cosim:
        result = cosim.run(T)
    return result.tvb["Raw"].sel(Raw_variable=variable, region="r1").values[:, 0]


@pytest.mark.parametrize("kernel", [ek.ExponentialKernel(sigma=2 * pq.ms),
                                    ek.AlphaKernel(sigma=1 * pq.ms)])
def test_instantaneous_rate_matches_elephant_called_directly(kernel):
    trains = known_trains()
    got = received(pm.proxies.InstantaneousRate("E", "Rin", kernel=kernel), source_region(trains))
    pooled = neo.SpikeTrain(np.sort(np.concatenate(trains)) * pq.ms, t_start=DT / 2 * pq.ms,
                            t_stop=(T + DT / 2) * pq.ms)
    direct = es.instantaneous_rate(pooled, sampling_period=DT * pq.ms, kernel=kernel,
                                   center_kernel=False, t_start=DT / 2 * pq.ms,
                                   t_stop=(T + DT / 2) * pq.ms)
    direct = np.asarray(direct.rescale(pq.Hz)).ravel() / N
    assert got.shape == direct.shape
    assert np.allclose(got, direct, rtol=1e-9, atol=1e-9 * direct.max())
    assert direct.max() > 100  # a real signal


def test_symmetric_kernel_is_refused():
    with pytest.raises(pm.ConfigurationError) as excinfo:
        pm.proxies.InstantaneousRate("E", "Rin", kernel=ek.GaussianKernel(sigma=2 * pq.ms))
    assert "causal" in str(excinfo.value) and "ExponentialKernel" in str(excinfo.value)


def test_smoothing_is_exact_linear_integration():
    """SpikeRate with tau: y[k] = keep * y[k-1] + (1 - keep) * rate[k], keep = exp(-dt/tau)."""
    trains = known_trains(1)
    raw = received(pm.proxies.SpikeRate("E", "Rin"), source_region(trains))
    tau = 3.0
    smoothed = received(pm.proxies.SpikeRate("E", "Rin", tau=tau), source_region(trains))
    keep, y, expected = np.exp(-DT / tau), 0.0, []
    for x in raw:
        y = keep * y + (1 - keep) * x
        expected.append(y)
    assert np.allclose(smoothed, expected, rtol=1e-12, atol=1e-12)
    assert smoothed.std() < 0.5 * raw.std()


def test_mean_membrane_potential_and_conductance():
    """MeanState reads the population mean at each window's end and holds it over the window.

    Cells under constant current without input: V(t) = v_inf + (v0 - v_inf) exp(-t / tau_m)
    (below threshold here), and the excitatory conductance stays 0.
    """
    v0s = np.linspace(-70.0, -66.0, N)

    def build(sim, idx, label, rng):
        pop = sim.Population(N, sim.IF_cond_alpha(**dict(rww.CELL_PARAMS, i_offset=0.1)),
                             label=label)
        pop.initialize(v=v0s)
        return pm.SpikingRegion({"E": pop})

    tvb = held_rate_simulator([[0, 1], [1, 0]], [[0, 5], [5, 0]], [0.0, 0.0])
    with pm.CoSimulation(tvb, sim, spiking_regions=[1], build_region=build,
                         to_tvb=[pm.proxies.MeanState("E", "Rin", "v"),
                                 pm.proxies.MeanState("E", "R", "gsyn_exc")]) as cosim:
        window = cosim.n_sync
        result = cosim.run(T)
    got = result.tvb["Raw"].sel(Raw_variable="Rin", region="r1").values[:, 0]
    g = result.tvb["Raw"].sel(Raw_variable="R", region="r1").values[:, 0]
    v_inf = -70.0 + 0.1 / (0.25 / 15.0)  # mV: v_rest + I / g_L = -64 mV
    ends = np.arange(window, got.size + 1, window)  # steps at which windows end
    for end in ends:
        t = end * DT
        expected = np.mean(v_inf + (v0s - v_inf) * np.exp(-t / 15.0))
        assert np.allclose(got[end - window:end], expected, atol=1e-6)  # held over the window
    assert np.all(g == 0.0)
