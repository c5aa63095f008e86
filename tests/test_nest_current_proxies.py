"""State -> current and state -> parameter proxies on NEST, against exactly known inputs.

Region 0 is spiking: spike sources with known times, so the rate TVB holds
for it, R_0[n] = 1000 * count[n] / (dt * N), is exact (test_nest_interfaces
checks that).  Region 1 reads it through the connectome with weight 1 and
delay D: its coupling at TVB step n is R_0[n - 1 - D/dt].
"""

import numpy as np
import pytest
import pyNN.nest as sim

import pynn_multiscale as pm
from tvb_helpers import held_rate_simulator, known_source_region

DT, D, N_SRC, T = 0.1, 2.0, 10, 30.0


def known_rates(rng):
    times = [np.unique(np.round(rng.uniform(0.3, T, size=60), 1)) for _ in range(N_SRC)]
    counts = np.bincount(np.round(np.concatenate(times) / DT).astype(int) - 1,
                         minlength=int(round(T / DT)))
    return times, 1000.0 * counts / (DT * N_SRC)


def coupling_into_region_1(r0):
    # TVB integrates step n with the coupling of the state at step n - 1 - D/dt
    # (the state at the step's start, delayed)
    lag = int(round(D / DT)) + 1
    return np.concatenate([np.zeros(lag), r0[:-lag]])


def integrator_cell(sim):
    """V integrates current exactly: dV/dt = I / C (no leak to speak of, no threshold)."""
    return sim.IF_curr_exp(cm=1.0, tau_m=1e9, v_rest=0.0, v_reset=0.0, v_thresh=1e9,
                           tau_refrac=0.1, tau_syn_E=1.0, tau_syn_I=1.0, i_offset=0.0)


def run(proxy, record_v=False):
    times, r0 = known_rates(np.random.default_rng(3))
    tvb = held_rate_simulator([[0, 0], [1, 0]], [[0, D], [D, 0]], [0.0, 0.0])

    # "src": the known spike trains (silent in region 1); "cell": an integrator cell
    build = known_source_region(times, integrator_cell, record_v)

    with pm.CoSimulation(tvb, sim, spiking_regions=[0, 1], build_region=build, max_rate=np.inf,
                         to_spiking=[proxy], to_tvb=[pm.proxies.SpikeRate("src", "R")],
                         min_delay=DT) as cosim:
        offsets = []
        original = cosim.backend.set_offset
        cosim.backend.set_offset = lambda h, v: (offsets.append(v), original(h, v))[1]
        result = cosim.run(T)
        window = cosim.n_sync
        final_i_e = cosim.regions[1].populations["cell"].node_collection.get("I_e")
    return result, coupling_into_region_1(r0), offsets, window, final_i_e


def test_injected_current_is_the_tvb_value_times_weight_step_by_step():
    """I(t) = weight * c(t) sample by sample, from V's slope: I = C dV/dt.

    The amplitude of TVB step n (covering (t_{n-1}, t_n]) starts at t_n and
    reaches the cell one min_delay (0.1 ms) later: V's increment over
    (t_{m-1}, t_m] carries step m - 2's value.
    """
    weight = 0.002  # nA per Hz
    result, c, _, _, _ = run(pm.proxies.CurrentFromCoupling("R", "cell", weight=weight), record_v=True)
    (v,) = [s for s in result.spiking[1].segments[0].analogsignals
            if s.name == "v" and s.annotations["population"] == "cell"]
    v = np.asarray(v)[:, 0]  # mV, sampled at 0, 0.1, ...
    current = 1.0 * np.diff(v) / DT  # nA = nF * mV / ms; entry m-1 covers (t_{m-1}, t_m]
    expected = weight * c
    m = np.arange(3, current.size + 1)  # steps whose current is defined
    assert np.abs(current[m - 1] - expected[m - 3]).max() < 1e-6 * max(1.0, expected.max())
    assert expected.max() > 0 and np.count_nonzero(np.diff(expected)) > 20  # a varying signal


def test_offset_current_is_set_to_the_exact_value():
    """i_offset = weight * the window's mean coupling, window by window, in NEST's I_e."""
    weight = 0.003
    _, c, offsets, window, final_i_e = run(pm.proxies.OffsetFromCoupling("R", "cell", weight=weight))
    steps = c.size
    bounds = list(range(0, steps, window)) + [steps]
    expected = [weight * c[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:])]
    region1 = offsets[1::2]  # set for region 0, then region 1, every window
    assert np.allclose(region1, expected, rtol=0, atol=1e-12)
    assert final_i_e == pytest.approx(1000.0 * expected[-1], abs=1e-9)  # pA
    assert max(expected) > 0
