"""TVB-AdEx (ZerlautAdaptationSecondOrder) <-> AdEx E/I network: factors, steady states, transfer check, whole brain.

Every interface factor is read from tvb-library's traits (docs/models.md,
"AdEx mean field"); the tests check that the pieces a co-simulation uses are
those numbers, that TVB's own integration sits on the steady states the
transfer check compares with, that one region of AdEx neurons driven through
the pair's own Poisson proxy reports (through its own SpikeRate proxies)
rates near the mass's, and that a whole-brain co-simulation couples both ways.
"""

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from isolation import isolated
from pynn_multiscale.errors import ConfigurationError
from pynn_multiscale.models import adex, transfer

HERE = os.path.dirname(os.path.abspath(__file__))


# ------------------------------------------------------------- derived factors

def test_interface_factors_come_from_tvb_library_defaults():
    """Poisson weight 1000 K_ext_e, synapse Q_e in uS, in-degrees p N (1 - g) and p N g, cells in PyNN units."""
    p = adex.tvb_defaults()
    assert (p["K_ext_e"], p["Q_e"], p["Q_i"], p["N_tot"], p["p_connect_e"], p["g"]) == \
        (400, 1.5, 5.0, 10000, 0.05, 0.2)
    assert adex.poisson_weight() == 1000 * p["K_ext_e"] == 4e5
    assert adex.in_degrees() == (400, 100)
    e, i = adex.cell_parameters(p, "E"), adex.cell_parameters(p, "I")
    assert e["cm"] == pytest.approx(0.2) and e["tau_m"] == pytest.approx(20.0)
    assert (e["a"], e["b"], e["tau_w"]) == (4.0, pytest.approx(0.06), 500.0)
    assert (i["a"], i["b"]) == (0.0, 0.0)
    assert e["v_rest"] == e["v_reset"] == p["E_L_e"] == -65.0
    assert (e["e_rev_E"], e["e_rev_I"], e["tau_syn_E"], e["tau_syn_I"]) == (0.0, -80.0, 5.0, 5.0)
    assert (e["delta_T"], i["delta_T"]) == (2.0, 0.5)
    to_e, to_i = adex.default_to_spiking()
    for proxy, population in ((to_e, "E"), (to_i, "I")):
        assert (proxy.tvb_variable, proxy.population) == ("E", population)
        assert proxy.weight == 4e5 and proxy.synapse_weight == pytest.approx(1.5e-3)
    # the drive is the model's, the clip is the model's clip at 0
    run = to_e.transform.start(0.1, None)
    np.testing.assert_allclose(run(np.array([[0.0], [1e-3], [-1.0]])).ravel(),
                               [adex.DRIVE, adex.DRIVE + 1e-3, 0.0])
    back = adex.default_to_tvb()
    assert [(b.population, b.tvb_variable, b.tau) for b in back] == [("E", "E", 20.0),
                                                                     ("I", "I", 20.0)]
    assert back[0].transform.scale == 1e-3


def test_bad_parameters_are_refused():
    with pytest.raises(ConfigurationError, match="n"):
        adex.build_spiking_region(None, 0, "x", None, n=400)
    with pytest.raises(ConfigurationError, match="trait"):
        adex.tvb_model(not_a_trait=1.0)
    with pytest.raises(ConfigurationError, match="b_e"):
        adex.tvb_model(b_e=-1.0)
    with pytest.raises(ConfigurationError, match="G"):
        adex.tvb_simulator(G=-1.0)


def test_spiking_update_writes_the_rates_and_holds_the_rest():
    model = adex.tvb_model()
    previous = np.arange(8.0)[:, None, None] * np.ones((8, 2, 1))
    rates = {"E": np.array([[1e-3, 2e-3], [3e-3, 4e-3]]), "I": np.full((2, 2), 9e-3)}
    out = model.spiking_update(previous, rates, 0.1)
    assert out.shape == (2, 8, 2, 1)
    np.testing.assert_array_equal(out[:, 0, :, 0], rates["E"])
    np.testing.assert_array_equal(out[:, 1, :, 0], rates["I"])
    np.testing.assert_array_equal(out[:, 2:], np.broadcast_to(previous[2:], (2, 6, 2, 1)))


# ------------------------------------------------------------- mass steady states

#: Constant couplings (kHz per external synapse) on top of the 2.5 Hz drive: the mass's
#: low state from 1.4 to 2.8 Hz (E) and 9 to 22 Hz (I).
LEVELS = (0.0, 1e-3, 2e-3, 3.5e-3, 5e-3)


def _make_tvb(connectivity, coupling, dt=2.0):
    """The pair's simulator for one region at constant coupling, started on its steady state."""
    return adex.tvb_simulator(connectivity=connectivity, coupling=coupling, dt=dt,
                              initial=adex.steady_state(float(coupling.b[0])))


def test_steady_states_are_where_tvb_stays():
    """TVB's own Heun integration (1 s) started on steady_state does not move from it.

    Heun's fixed points are dfun's roots; the root is also stable (all
    eigenvalues of the Jacobian negative: relaxation_time), so a slightly
    wrong root would drift away within the second.
    """
    mass = transfer.mean_field_transfer(_make_tvb, LEVELS, "E", duration=1000.0, settle=1e-9)
    roots = np.array([adex.steady_state(level)[0] for level in LEVELS])
    np.testing.assert_allclose(mass, roots, rtol=1e-8)
    assert np.all(np.diff(mass) > 0)
    taus = [adex.relaxation_time(level) for level in LEVELS]
    assert all(100.0 < tau < 400.0 for tau in taus), taus
