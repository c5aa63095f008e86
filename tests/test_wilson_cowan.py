"""Wilson-Cowan <-> E/I IF_cond_alpha node: derived factors, the mass, the transfer check, a whole brain.

**What the pair is calibrated to.**  One number is measured, not derived: the
uncoupled node's E rate ``NU_E0`` (background only).  ``NU_MAX = NU_E0 / E0``
makes the uncoupled node report the uncoupled mass's mean E; every interface
factor follows from NU_MAX and the population sizes (module docstring).

**The transfer check** (docs/models.md).  The node alone, driven at constant
couplings c through ``default_to_spiking``, reports E through
``default_to_tvb``; the mass alone (TVB, deterministic Heun) gives its mean E
over the same span (a limit cycle for c < 0.33, a fixed point above).  Two
criteria:

* **the calibration point** c = 0: |spiking - mass| <= 3 SE + 2% of the
  mass.  The 2% bounds NU_E0's rounding (0.1 Hz of 18.9, 0.5%) and the
  difference between the 800 ms spans the two sides average (the mass's
  mean over one span of 17 cycles differs from its long-run mean by < 1%).
  The I population, not used in the calibration, must match the mass's mean
  I there within 3 SE + 10% (the derived part has no allowance for the
  node's I/E rate ratio; measured: -6%).
* **the range of use** 0 <= c <= C_MAX = 0.3 (five levels): |spiking - mass|
  <= 3 SE + 25% of the mass.  The node's f-I curve is not the mass's
  logistic; its shape mismatch, measured, is -0.1% to +19% there (the node
  is steepest near c = 0, the mass near c = 0.3).  The 25% is that
  measured accuracy with a margin, stated in docs/models.md as the pair's
  accuracy; it is not a statistical bound.  Above C_MAX (the mass's high
  state) the errors are reported in the figure, not asserted.

Positive control: the background drive 10% weaker (6300 Hz) in the node
only fails the calibration point (the node sits near threshold, so its rate
falls by far more than 10%).

Statistics: two seeds per level (each seed draws the initial potentials and
every Poisson train); SE over seeds.
"""

import functools
import os
import subprocess
import sys

import numpy as np
import pytest

from isolation import isolated
from pynn_multiscale.errors import ConfigurationError
from pynn_multiscale.models import wilson_cowan as wc
from whole_brain import assert_neighbours_respond, split_by_connection

#: Five levels in the range of use, three above it (the mass's high state).
IN_RANGE = (0.0, 0.075, 0.15, 0.225, 0.3)
ABOVE = (0.5, 2.0)
LEVELS = IN_RANGE + ABOVE
DURATION, TRANSIENT = 1000.0, 200.0
SEEDS = (1, 2)
CALIBRATION_ALLOWANCE = 0.02
I_ALLOWANCE = 0.10
RANGE_ALLOWANCE = 0.25


@functools.lru_cache(maxsize=None)
def mass(levels, variable="E"):
    """The mass's mean ``variable`` at ``levels`` (TVB alone, cached: one TVB run per call)."""
    return wc.mean_field_average(levels, variable)


# ------------------------------------------------------------ derived factors

def test_interface_factors_follow_from_nu_max_and_the_sizes():
    """Poisson rate per unit of coupling = N_E NU_MAX at w_ee / c_ee; rate -> E = / NU_MAX."""
    (poisson,) = wc.default_to_spiking()
    assert poisson.tvb_variable == "E" and poisson.population == "E"
    assert poisson.weight == pytest.approx(wc.N_E * wc.NU_E0 / wc.E0)
    # the unit synapse: c_ee and c_ii of the mass are w_ee and w_ii / 1 nS in the node ...
    for pair in ("ee", "ii"):
        assert wc.NETWORK_PARAMS[f"w_{pair}"] == pytest.approx(
            wc.UNIT_SYNAPSE * wc.WC_PARAMS[f"c_{pair}"])
    # ... but tvb-multiscale's node sets w_ei (E -> I) to c_ei, which in tvb-library's
    # WilsonCowan is the I -> E coefficient, and w_ie (I -> E) to c_ie (E -> I):
    # the cross weights are swapped relative to the mass (kept as specified; docs/models.md)
    assert wc.NETWORK_PARAMS["w_ei"] == pytest.approx(wc.UNIT_SYNAPSE * wc.WC_PARAMS["c_ei"])
    assert wc.NETWORK_PARAMS["w_ie"] == pytest.approx(wc.UNIT_SYNAPSE * wc.WC_PARAMS["c_ie"])
    assert wc.WC_PARAMS["c_ei"] != wc.WC_PARAMS["c_ie"]
    assert poisson.synapse_weight == pytest.approx(0.001)  # 1 nS, the background's weight
    # rate -> activity: a constant NU_MAX Hz settles at E = 1 with time constant tau_e
    step = wc.rate_to_activity().start(0.1, np.zeros(1))
    out = step(np.full((int(10 * wc.WC_PARAMS["tau_e"] / 0.1), 1), wc.NU_MAX))
    assert out[-1, 0] == pytest.approx(1.0, abs=1e-4)
    k = int(wc.WC_PARAMS["tau_e"] / 0.1)
    assert out[k - 1, 0] == pytest.approx(1 - np.exp(-1.0), rel=1e-9)
    # and does not clip the node's bursts at the mass's boundary
    assert step(np.full((1000, 1), 3 * wc.NU_MAX))[-1, 0] > 2.9


def test_model_is_tvb_library_wilson_cowan_with_the_table_1_parameters():
    from tvb.simulator.models.wilson_cowan import WilsonCowan

    model = wc.tvb_model()
    assert isinstance(model, WilsonCowan)
    for name, value in wc.WC_PARAMS.items():
        assert float(getattr(model, name)[0]) == value, name
    assert not bool(model.shift_sigmoid[0])
    assert list(model.cvar) == [0]
    assert {k: list(v) for k, v in model.state_variable_boundaries.items()} == \
        {"E": [0.0, 1.0], "I": [0.0, 1.0]}


def test_bad_parameters_are_refused():
    with pytest.raises(ConfigurationError, match="c_eee"):
        wc.tvb_model(c_eee=1.0)
    with pytest.raises(ConfigurationError, match="tau_e"):
        wc.tvb_model(tau_e=0.0)
    with pytest.raises(ConfigurationError, match="G"):
        wc.tvb_simulator(G=-1.0)
    with pytest.raises(ConfigurationError, match="nu_max"):
        wc.default_to_spiking(nu_max=0.0)
    with pytest.raises(ConfigurationError, match="n_e"):
        wc.build_spiking_region(None, 0, "x", None, n_e=0)
    with pytest.raises(ConfigurationError, match="params"):
        wc.build_spiking_region(None, 0, "x", None, params={"w_xx": 1.0})


def test_spiking_update_writes_what_the_node_reports():
    model = wc.tvb_model()
    previous = np.array([[[0.3], [0.4]], [[0.5], [0.6]]])  # (var, proxy, mode)
    out = model.spiking_update(previous, {"E": np.array([[0.1, 0.2], [0.7, 0.8]])}, 0.1)
    assert out.shape == (2, 2, 2, 1)
    np.testing.assert_array_equal(out[:, 0, :, 0], [[0.1, 0.2], [0.7, 0.8]])
    np.testing.assert_array_equal(out[:, 1, :, 0], [[0.5, 0.6], [0.5, 0.6]])  # I kept


# -------------------------------------------------------------- the mass alone

def _ode_mean(c, variable):
    """The same equations integrated by scipy (1e-9 relative), mean over 500-2000 ms."""
    from scipy.integrate import solve_ivp

    p = wc.WC_PARAMS

    def rhs(t, y):
        e, i = y
        s_e = 1 / (1 + np.exp(-p["alpha_e"] * (p["c_ee"] * e - p["c_ei"] * i + p["P"]
                                                  - p["theta_e"] + c)))
        s_i = 1 / (1 + np.exp(-p["alpha_i"] * (p["c_ie"] * e - p["c_ii"] * i + p["Q"]
                                                  - p["theta_i"])))
        return [(-e + s_e) / p["tau_e"], (-i + s_i) / p["tau_i"]]

    t = np.arange(500.0, 2000.0, 0.1)
    sol = solve_ivp(rhs, (0, 2000), [0.0, 0.0], t_eval=t, rtol=1e-9, atol=1e-12, max_step=0.5)
    return sol.y[0 if variable == "E" else 1].mean()


def test_mass_averages_and_steady_states():
    """TVB's Heun (dt 0.1) gives the mass's mean E within 1% of an accurate ODE solution.

    Below c = 0.33 that is the mean over the limit cycle; above, the fixed point,
    where the mean field has settled (last tenth of the run constant to 1e-6).
    """
    from pynn_multiscale.models import transfer

    tvb = mass(LEVELS)
    ode = np.array([_ode_mean(c, "E") for c in LEVELS])
    np.testing.assert_allclose(tvb, ode, rtol=0.01)
    assert tvb[0] == pytest.approx(wc.E0, abs=5e-5)  # the calibration's E0
    deterministic = functools.partial(wc.tvb_simulator, nsig=0.0)
    # near c = 0.33 the mass lingers on the vanished cycle's ghost: 4 s to settle
    fixed = transfer.mean_field_transfer(deterministic, ABOVE, "E", duration=4000.0)
    np.testing.assert_allclose(fixed, tvb[len(IN_RANGE):], rtol=1e-4)
    with pytest.raises(Exception, match="still moves"):  # the limit cycle has no steady state
        transfer.mean_field_transfer(deterministic, [0.0], "E")


# ------------------------------------------------------ the transfer check, NEST

def _nest_transfer(levels, variable="E", bg_scale=1.0):
    import functools

    import pyNN.nest as sim
    from pynn_multiscale.models import transfer

    build = functools.partial(wc.build_spiking_region,
                              params={"bg_rate": wc.NETWORK_PARAMS["bg_rate"] * bg_scale})
    values = transfer.spiking_transfer(
        sim, wc.tvb_simulator, build, wc.default_to_spiking(), wc.default_to_tvb(), levels,
        variable, DURATION, TRANSIENT, SEEDS)
    return values.tolist()


nest_transfer = isolated(_nest_transfer)


def check(measured, expected, allowance):
    """Per level: (passes, mean, sem, mass, tolerance)."""
    rows = []
    for values, m in zip(np.asarray(measured), expected):
        mean, sem = values.mean(), values.std(ddof=1) / np.sqrt(values.size)
        tolerance = 3 * sem + allowance * m
        rows.append((abs(mean - m) <= tolerance, mean, sem, m, tolerance))
    return rows


@pytest.fixture(scope="module")
def transfer_rows():
    rows = check(nest_transfer(LEVELS), mass(LEVELS), RANGE_ALLOWANCE)
    save_figure(rows)
    return rows


def test_calibration_point_on_nest(transfer_rows):
    ok, mean, sem, mass, _ = transfer_rows[0]
    assert abs(mean - mass) <= 3 * sem + CALIBRATION_ALLOWANCE * mass, (mean, sem, mass)
    # at least 1000 E spikes per seed in the measured span
    assert mean * wc.NU_MAX * wc.N_E * (DURATION - TRANSIENT) / 1000 > 1000


def test_inhibitory_activity_at_the_calibration_point_on_nest():
    """I is not calibrated: with the same NU_MAX it must still report the mass's mean I."""
    (row,) = check(nest_transfer((0.0,), "I"), mass((0.0,), "I"), I_ALLOWANCE)
    assert row[0], row


def test_transfer_check_in_the_range_of_use_on_nest(transfer_rows):
    report = "\n".join(f"c={lv:g}: {mean:.3f} ± {sem:.3f}, mass {m:.3f}, tolerance {tol:.3f}"
                       for lv, (ok, mean, sem, m, tol) in zip(LEVELS, transfer_rows))
    assert all(row[0] for row in transfer_rows[:len(IN_RANGE)]), report
    # the node's E grows with the coupling over the whole range, as the mass's does
    means = [row[1] for row in transfer_rows]
    assert all(np.diff(means) > 0), report


def test_transfer_check_catches_a_ten_percent_weaker_drive():
    """Background 10% weaker in the node only: the calibration point fails."""
    (row,) = check(nest_transfer((0.0,), "E", 0.9), mass((0.0,)), CALIBRATION_ALLOWANCE)
    assert not row[0], row


def save_figure(rows):
    """The check's own data, as JSON and as the figure of docs/models.md, in results/transfer/."""
    import json
    from pathlib import Path

    import matplotlib
    matplotlib.use("Agg")
    from pynn_multiscale import plot

    out = Path(__file__).resolve().parent.parent / "results" / "transfer"
    out.mkdir(parents=True, exist_ok=True)
    keys = ("passes", "mean", "sem", "mean_field", "tolerance")
    data = {"levels": list(LEVELS), "in_range": list(IN_RANGE), "seeds": list(SEEDS),
            "duration_ms": DURATION, "transient_ms": TRANSIENT, "nu_max_hz": wc.NU_MAX,
            **{k: [bool(r[i]) if i == 0 else float(r[i]) for r in rows] for i, k in enumerate(keys)}}
    data["relative_error"] = [(r[1] - r[3]) / r[3] for r in rows]
    (out / "wilson_cowan.json").write_text(json.dumps(data, indent=1))
    fine = np.linspace(0.0, 2.0, 41)
    curve = wc.mean_field_average(fine)  # one TVB run
    ax = plot.transfer(LEVELS, data["mean"], data["sem"], (fine, curve),
                       xlabel="coupling c (TVB units)", ylabel="mean E (activity)",
                       title="Wilson-Cowan <-> 100 E + 100 I IF_cond_alpha (NEST)")
    ax.axvspan(0.0, wc.C_MAX, color="0.9", zorder=0, label="range of use")
    for lv, r in zip(LEVELS, rows):
        ax.annotate(f"{100 * (r[1] - r[3]) / r[3]:+.0f}%", (lv, r[1]), textcoords="offset points",
                    xytext=(4, -12), fontsize=7)
    ax.legend(fontsize=7, loc="lower right")
    ax.figure.savefig(out / "wilson_cowan.png", dpi=120)


# ------------------------------------------------------------ the whole brain

REGIONS = [31, 65]
WB_DURATION, WB_TRANSIENT = 300.0, 100.0


def _whole_brain(G, seed=1):
    """E rates (Hz) of the two nodes in 20 ms bins after the transient."""
    import pyNN.nest as sim

    import pynn_multiscale as pm
    from whole_brain import binned_rates

    tvb = wc.tvb_simulator(G=G)
    with pm.CoSimulation(tvb, sim, spiking_regions=REGIONS, build_region=wc.build_spiking_region,
                         to_spiking=wc.default_to_spiking(), to_tvb=wc.default_to_tvb(),
                         seed=seed) as cosim:
        result = cosim.run(WB_DURATION)
    return {region: binned_rates(result, region, "E", WB_TRANSIENT, WB_DURATION).tolist()
            for region in REGIONS}


run_whole_brain = isolated(_whole_brain)


#: The whole-brain tests' coupling: at G = 2 the nodes' rate rises by ~4 Hz (c ~ 0.1), less
#: than their bursts (one every 50-70 ms, ~70 Hz in a 20 ms bin) let 300 ms resolve.
#: G = 10 gives the two nodes c ~ 0.4-0.7.
G_WB = 10.0
WB_SEEDS = (1, 2)


def test_whole_brain_tvb_coupling_drives_the_nodes():
    """G = G_WB against G = 0: the nodes' E rate rises (pooled over nodes and seeds, and per node).

    One sample per node and seed: its mean E rate after 100 ms.  SE over
    those samples (the nodes' bursts make 20 ms bins far from independent).
    """
    coupled = [run_whole_brain(G_WB, seed) for seed in WB_SEEDS]
    uncoupled = [run_whole_brain(0.0, seed) for seed in WB_SEEDS]
    a = np.array([np.mean(run[r]) for run in coupled for r in REGIONS])
    b = np.array([np.mean(run[r]) for run in uncoupled for r in REGIONS])
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert a.mean() - b.mean() > 3 * se, (a, b, se)
    for r in REGIONS:
        assert np.mean([run[r] for run in coupled]) > np.mean([run[r] for run in uncoupled]), r


def _nodes_to_tvb(G):
    """RMS difference of every region's E from a silent-node control, deterministic TVB."""
    import pyNN.nest as sim

    import pynn_multiscale as pm
    from whole_brain import replayed_control, rms_difference

    with pm.CoSimulation(wc.tvb_simulator(G=G, nsig=0.0), sim, spiking_regions=REGIONS,
                         build_region=wc.build_spiking_region, to_spiking=wc.default_to_spiking(),
                         to_tvb=wc.default_to_tvb(), seed=1) as cosim:
        result = cosim.run(WB_DURATION)
    control, weights = replayed_control(wc.tvb_simulator(G=G, nsig=0.0), REGIONS,
                                        {"E": 0.0, "I": 0.0}, WB_DURATION)
    return rms_difference(result, control, "E", WB_TRANSIENT), weights


nodes_to_tvb = isolated(_nodes_to_tvb)


def test_whole_brain_nodes_drive_their_tvb_neighbours():
    """The co-simulation against a control whose nodes are silent, both with TVB's noise off.

    Every difference then comes from what the nodes sent.  Most regions sit on
    the mass's limit cycle at G = 2 (the example's coupling), where an input
    shifts the cycle's phase more than its time average: the measure is each
    region's root-mean-square difference of E after 100 ms.  Directly
    connected regions must differ by more than 3 SE across regions, and by
    more than the regions reached only through others.  (The mean difference
    was too weak a measure: 7e-4 +- 3e-4 at G = 10, where most regions sit
    in the high state; at G = 2 the RMS gives 0.082 +- 0.019 against
    0.0076 +- 0.0056, 3.9 SE.)
    """
    rms, weights = nodes_to_tvb(wc.G_DEFAULT)
    assert_neighbours_respond(*split_by_connection(rms, weights, REGIONS))


# ------------------------------------------------------------------ the example

HERE = os.path.dirname(os.path.abspath(__file__))


def test_example_runs_on_nest(tmp_path):
    """The example, same command-line contract as red_wong_wang.py, 26 ms."""
    out = tmp_path / "wc"
    example = os.path.join(HERE, "..", "examples", "wilson_cowan.py")
    done = subprocess.run([sys.executable, example, "--duration", "26", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("mean rates")]
    assert line and "(nest, 26 ms)" in line[0] and "r_superiortemporal/E" in line[0], done.stdout
    for name in ("tvb.nc", "metadata.json", "summary.png", "spiking_region_65.nix"):
        assert (out / name).exists(), name
