"""The rate variant of reduced Wong-Wang: its spiking-region update is exact."""

import numpy as np
import pytest

from pynn_multiscale.models import red_wong_wang as rww


@pytest.fixture
def model():
    m = rww.ReducedWongWangExcInhRates()
    m.configure()
    return m


def fixed_point_state(n=2):
    return np.array([rww.FIXED_POINT[v] for v in rww.ReducedWongWangExcInhRates.state_variables]
                    )[:, None, None].repeat(n, axis=1)


def test_fixed_point_rates_hold_the_fixed_point(model):
    """Feeding a spiking region the mean-field fixed-point rates keeps S at its fixed point."""
    prev = fixed_point_state()
    n = 500
    inputs = {"Rin_e": np.full((n, 2), rww.FIXED_POINT["R_e"]),
              "Rin_i": np.full((n, 2), rww.FIXED_POINT["R_i"])}
    out = model.spiking_update(prev, inputs, 0.1)
    assert np.allclose(out[-1, :, :, 0], prev[:, :, 0], rtol=1e-4)


def test_update_matches_fine_euler_integration(model):
    """Piecewise-constant rates: the exact step solution equals a 1000x finer Euler scheme."""
    rng = np.random.default_rng(1)
    n, dt, fine = 40, 0.1, 1000
    rates_e = rng.uniform(0, 20, size=(n, 1))
    rates_i = rng.uniform(0, 20, size=(n, 1))
    prev = fixed_point_state(1)
    out = model.spiking_update(prev, {"Rin_e": rates_e, "Rin_i": rates_i}, dt)
    S_e, S_i = prev[0, 0, 0], prev[1, 0, 0]
    Rin_e, Rin_i = prev[4, 0, 0], prev[5, 0, 0]
    h = dt / fine
    tau_rin = float(model.tau_rin[0])
    for k in range(n):
        for _ in range(fine):
            Rin_e += h * (rates_e[k, 0] - Rin_e) / tau_rin
            Rin_i += h * (rates_i[k, 0] - Rin_i) / tau_rin
        for _ in range(fine):  # S sees the step's rate at the step's end (piecewise constant)
            S_e += h * (-S_e / model.tau_e[0] + (1 - S_e) * model.gamma_e[0] * Rin_e)
            S_i += h * (-S_i / model.tau_i[0] + model.gamma_i[0] * Rin_i)
        assert out[k, 4, 0, 0] == pytest.approx(Rin_e, rel=1e-4)
        assert out[k, 0, 0, 0] == pytest.approx(S_e, rel=1e-4)
        assert out[k, 1, 0, 0] == pytest.approx(S_i, rel=1e-4)
    assert np.array_equal(out[:, 2], out[:, 4]) and np.array_equal(out[:, 3], out[:, 5])


def test_mean_field_rates_follow_H(model):
    """In TVB regions, R_e and R_i are the transfer functions of the current inputs."""
    state = fixed_point_state(3)
    c = np.zeros((2, 3, 1))
    model.update_state_variables_before_integration(state, c)
    out = model.update_state_variables_after_integration(state.copy())
    assert np.allclose(out[2], rww.FIXED_POINT["R_e"], rtol=1e-3)
    assert np.allclose(out[3], rww.FIXED_POINT["R_i"], rtol=1e-3)


def test_current_couplings_follow_the_seed():
    """E gets the derived scale, I gets lambda times it (the seed's lamda * N_E / N_I per neuron)."""
    e, i = rww.current_to_spiking("offset", G=1.0, lamda=0.5)
    assert (e.population, i.population) == ("E", "I")
    assert e.weight == pytest.approx(rww.current_scale(1.0))
    assert i.weight == pytest.approx(0.5 * e.weight)
    assert len(rww.current_to_spiking("current", lamda=0.0)) == 1
    assert type(rww.current_to_spiking("current")[0]).__name__ == "CurrentFromCoupling"
