"""``backends.set_state`` sets a state variable in PyNN's units on every backend, before and after a run.

Two ``EIF_cond_exp_isfa_ista`` cells (the AdEx pair's E cells, at rest, no
input): one given ``w = W0`` nA by ``set_state`` before the first run and
``w = W1`` after 2 ms, one given ``W0`` by PyNN's plain ``initialize``.
With ``v`` at rest, ``w`` only relaxes (``tau_w`` = 500 ms), so 1 ms after
each setting it must be within 0.3% of what was set.

The plain ``initialize`` cell shows the PyNN defects ``set_state`` corrects
(its docstring): on NEST it starts 1000 times too small, on NEURON at 0.
Those assertions fail on the day PyNN fixes them; then the correction in
``set_state`` must go.
"""

import numpy as np
import pytest

from isolation import isolated

SIMULATORS = ["nest", "brian2", "neuron", "annarchy"]
W0, W1 = 0.0741, 0.05  # nA


def _w_trace(simulator):
    from pynn_multiscale.backends import set_state, simulator_module
    from pynn_multiscale.models import adex

    sim = simulator_module(simulator)
    sim.setup(timestep=0.1, min_delay=0.1)
    try:
        params = adex.cell_parameters(None, "E")
        corrected = sim.Population(1, sim.EIF_cond_exp_isfa_ista(**params))
        plain = sim.Population(1, sim.EIF_cond_exp_isfa_ista(**params))
        set_state(corrected, v=params["v_rest"], w=W0)
        plain.initialize(v=params["v_rest"], w=W0)
        for pop in (corrected, plain):
            pop.record("w")
        sim.run(2.0)
        set_state(corrected, w=W1)
        sim.run(4.0)
        out = {}
        for name, pop in (("corrected", corrected), ("plain", plain)):
            signal = pop.get_data().segments[0].filter(name="w")[0]
            t = np.asarray(signal.times.rescale("ms").magnitude)
            w = np.asarray(signal.rescale("nA").magnitude).ravel()
            out[name] = {when: float(w[np.argmin(np.abs(t - when))]) for when in (1.0, 3.0)}
        return out
    finally:
        sim.end()


w_trace = isolated(_w_trace)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_set_state_sets_adaptation_before_and_after_a_run(simulator):
    got = w_trace(simulator)["corrected"]
    assert got[1.0] == pytest.approx(W0, rel=3e-3), got
    assert got[3.0] == pytest.approx(W1, rel=3e-3), got


@pytest.mark.parametrize("simulator, expected", [("nest", W0 * 1e-3), ("neuron", 0.0),
                                                 ("brian2", W0), ("annarchy", W0)])
def test_pynns_own_initialize_still_has_the_defects_set_state_corrects(simulator, expected):
    got = w_trace(simulator)["plain"][1.0]
    assert got == pytest.approx(expected, rel=3e-3, abs=1e-7), (
        f"PyNN's initialize(w=...) on {simulator} now gives {got} nA 1 ms later (was "
        f"{expected}): if PyNN fixed it, remove the correction in backends.set_state")


def _nest_warnings():
    import warnings

    import pyNN.nest as sim

    from pynn_multiscale.backends import nest as nest_backend
    from pynn_multiscale.backends import set_state

    sim.setup(timestep=0.1)
    cell = sim.EIF_cond_exp_isfa_ista()
    plain = sim.Population(2, cell, label="plain")
    corrected = sim.Population(2, cell, label="corrected")
    untouched = sim.Population(2, cell, label="untouched")
    plain.initialize(w=W0)
    set_state(corrected, w=W0)
    untouched.initialize(v=-60.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nest_backend._warn_unscaled_initial_values(sim)
    sim.end()
    return [str(w.message) for w in caught]


def test_nest_backend_warns_of_a_plain_initialize_that_loses_the_unit_factor():
    messages = isolated(_nest_warnings)()
    assert len(messages) == 1, messages
    assert messages[0].startswith("plain: initialize(w=...)") and "set_state" in messages[0]
