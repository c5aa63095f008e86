"""Jansen-Rit <-> three spiking populations: factors, mass steady states, transfer check, whole brain.

The transfer check (docs/models.md): one spiking column alone, driven at
constant long-range inputs ``c`` through the pair's current proxy, sends its
pyramidal pulse density through the pair's SpikeRate proxy; the pair's
``spiking_update`` writes ``y1 - y2 = S^-1(density)``.  The measured value is
``S^-1`` of the time-averaged density the rest of a brain would receive,
``mean_t S(y1 - y2)`` after a 300 ms transient (the mean of ``y1 - y2``
itself is biased by the sigmoid's curvature: 10.26 mV against 9.27 mV at
c = 0.28).  It must equal the mass's stable fixed point ``v_P`` at
``p = mu + c`` within

    3 SE (over two seeds) + 0.25 mV.

The 0.25 mV is not derived: it is calibrated on the measured deviation of
the 100-neuron node inside the range the pair is meant for, p = mu + c in
[0.35, 0.50] /ms (measured +0.015, +0.008, -0.002, -0.059 and -0.28 +- 0.20
mV at the five levels), where the shot noise of the node's inputs (n k =
2000 inputs per neuron) barely smooths the sigmoid.  Above it the deviation grows
(-1.1 mV at p = 0.6, -2.0 at 0.7, n = 100): that is where the pair must not
be used.  Below p = 0.315 the mass oscillates (alpha), and below about 0.11
it is bistable: no steady state to compare.  Positive control: the
inhibitory gain B 10% larger in the network only fails the check.
"""

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from isolation import isolated
from pynn_multiscale.errors import ConfigurationError
from pynn_multiscale.models import jansen_rit as jr
from pynn_multiscale.models import transfer
from whole_brain import (assert_neighbours_respond, mean_and_se, replayed_control,
                         split_by_connection)

#: Long-range inputs c (1/ms): p = mu + c from 0.35 to 0.50 /ms.
LEVELS = (0.13, 0.16, 0.19, 0.23, 0.28)
N = 100
DURATION, TRANSIENT = 800.0, 300.0
SEEDS = (1, 2)
#: The calibrated allowance (mV), see above.
ALLOWANCE = 0.25


def test_tvb_library_defaults_are_the_pairs():
    """Every parameter the pair takes from tvb-library is tvb-library's default (v0 aside)."""
    from tvb.simulator.coupling import SigmoidalJansenRit
    from tvb.simulator.models.jansen_rit import JansenRit

    m = JansenRit()
    for name, value in (("A", jr.A), ("B", jr.B), ("a", jr.a), ("b", jr.b), ("J", jr.J),
                        ("nu_max", jr.E0), ("r", jr.R), ("mu", jr.MU)):
        assert float(getattr(m, name)[0]) == value, name
    assert tuple(float(getattr(m, f"a_{i}")[0]) for i in range(1, 5)) == jr.ALPHA
    c = SigmoidalJansenRit()
    assert (float(c.midpoint[0]), float(c.cmax[0]), float(c.r[0])) == (jr.V0, 2 * jr.E0, jr.R)
    assert float(m.v0[0]) == 5.52  # tvb-library's model default, which the pair replaces by 6


def test_derived_factors():
    """The weights give JR's mean potentials; thresholds give the sigmoid; the dead time its maximum."""
    w = jr.weights(n=100, k=20)
    C1, C2, C3, C4 = jr.c_constants()
    # mean free potential of n presynaptic neurons at k nu: n k nu w tau_s tau_m / C_m
    nu = 0.003
    tau_m = 1 / jr.a
    tau_e = jr.TAU_SYN_E_FACTOR / jr.a
    for key, C, gain, tau_s in (("PE", C1, jr.A / jr.a, tau_e), ("EP", C2, jr.A / jr.a, tau_e),
                                ("PI", C3, jr.A / jr.a, tau_e), ("IP", C4, jr.B / jr.b, 1 / jr.b)):
        assert np.isclose(100 * 20 * nu * w[key] * tau_s * tau_m / jr.CM, C * gain * nu), key
    theta = jr.logistic_thresholds(2000)
    for v in (0.0, 4.0, 6.0, 9.0):
        assert abs(np.mean(theta < v) - jr.sigmoid(v) / (2 * jr.E0)) <= 1 / 2000
    assert np.isclose(1 / (jr.dead_time(20, h=0.1) + 0.1), 2 * jr.E0 * 20)
    # the current proxy: c moves the pyramidal potential by (A / a) c
    weight = jr.default_to_spiking()[0].weight
    assert np.isclose(weight * 0.2 * tau_m / jr.CM, jr.A / jr.a * 0.2)


def test_steady_states_are_where_tvb_settles():
    """TVB's own integration of the mass ends on the computed stable fixed points.

    3 s runs: the slowest mode decays in about 200 ms at p = 0.5 (an
    eigenvalue of -0.005 /ms), 100 ms at p = 0.6.
    """
    for c in (0.28, 0.38):
        tvb = jr.tvb_simulator(connectivity=transfer.single_region_connectivity(),
                               coupling=transfer.constant_coupling(c))
        tvb.simulation_length = 3000.0
        tvb.configure()
        (time, data), = tvb.run()
        v = data[:, 1, 0, 0] - data[:, 2, 0, 0]
        tail = v[time > 2700.0]
        assert np.ptp(tail) < 1e-5 * abs(v[-1])
        assert np.isclose(v[-1], jr.stable_potential(jr.MU + c), rtol=1e-5)


def test_oscillating_and_bistable_inputs_are_refused():
    with pytest.raises(ConfigurationError, match="oscillates"):
        jr.stable_potential(0.22)  # tvb-library's mu: the alpha limit cycle
    with pytest.raises(ConfigurationError):
        jr.stable_potential(0.05)  # low and high fixed points


def test_spiking_update_gives_the_coupling_the_measured_density():
    """S(y1 - y2) after spiking_update is the low-passed density; y0 follows JR's kernel."""
    model = jr.tvb_model(tau_out=0.0)
    previous = np.array(jr.fixed_state(model, 0.4))[:, None, None]
    nu = np.full((20000, 1), 0.004)
    out = model.spiking_update(previous, {"y1": nu}, 0.1)
    np.testing.assert_allclose(jr.sigmoid(out[:, 1, 0, 0] - out[:, 2, 0, 0]), 0.004, rtol=1e-9)
    assert np.isclose(out[-1, 0, 0, 0], jr.A / jr.a * 0.004, rtol=1e-6)  # y0's steady state
    filtered = jr.tvb_model().spiking_update(previous, {"y1": nu[:50]}, 0.1)
    s = jr.sigmoid(filtered[:, 1, 0, 0])
    assert np.all(np.diff(s) != 0) and abs(s[-1] - 0.004) < abs(s[0] - 0.004)


def test_bad_parameters_are_refused():
    with pytest.raises(ConfigurationError, match="n="):
        jr.build_spiking_region(None, 0, "x", None, n=1)
    with pytest.raises(ConfigurationError, match="G="):
        jr.tvb_simulator(G=-1.0)
    with pytest.raises(ConfigurationError, match="tau_out="):
        jr.tvb_model(tau_out=-1.0)


# ------------------------------------------------------------------ NEST

def _nest_transfer(B_scale=1.0, levels=LEVELS):
    """A fresh network per level and seed (``one_network=False``).

    Driven through the levels in turn, one network per seed ended at
    8.63 mV at c = 0.28 coming from c = 0.23 (mass 9.29 mV; a fresh network:
    9.01 mV): the node's state there depends on where it comes from.  Its
    100-neuron networks build in a second, so nothing is saved by sharing one.
    """
    import pyNN.nest as sim

    build = functools.partial(jr.build_spiking_region, n=N, B=jr.B * B_scale)
    return transfer.spiking_transfer(
        sim, jr.tvb_simulator, build, jr.default_to_spiking(), jr.default_to_tvb(), levels, "y1",
        DURATION, TRANSIENT, SEEDS, measure=jr.measured_potential, spiking_timestep=0.1,
        one_network=False).tolist()


nest_transfer = isolated(_nest_transfer)


def check(measured, levels=LEVELS):
    """Per level: (passes, mean, sem, mass v_P, tolerance), in mV."""
    rows = []
    for level, values in zip(levels, np.asarray(measured)):
        mean, sem = values.mean(), values.std(ddof=1) / np.sqrt(values.size)
        mass = jr.stable_potential(jr.MU + level)
        tolerance = 3 * sem + ALLOWANCE
        rows.append((abs(mean - mass) <= tolerance, mean, sem, mass, tolerance))
    return rows


def test_transfer_check_on_nest():
    rows = check(nest_transfer())
    save_figure(rows)
    report = "\n".join(f"c={lv:g}: {m:.3f} ± {s:.3f} mV, mass {v:.3f}, tolerance {t:.3f}"
                       for lv, (ok, m, s, v, t) in zip(LEVELS, rows))
    assert all(row[0] for row in rows), report


def test_transfer_check_catches_a_ten_percent_larger_inhibitory_gain():
    """B 10% larger in the network only (the mass keeps 22 mV): the check fails."""
    levels = (0.23,)
    rows = check(nest_transfer(1.1, levels), levels)
    assert not rows[0][0], rows


def save_figure(rows):
    """The check's data (JSON) and the figure of docs/models.md, in results/transfer/."""
    import matplotlib
    matplotlib.use("Agg")
    from pynn_multiscale import plot

    out = Path(__file__).resolve().parent.parent / "results" / "transfer"
    out.mkdir(parents=True, exist_ok=True)
    keys = ("passes", "mean_mv", "sem_mv", "mass_mv", "tolerance_mv")
    data = {"levels": list(LEVELS), "n": N, "seeds": list(SEEDS), "duration_ms": DURATION,
            "transient_ms": TRANSIENT,
            **{k: [bool(r[i]) if i == 0 else float(r[i]) for r in rows] for i, k in enumerate(keys)}}
    (out / "jansen_rit.json").write_text(json.dumps(data, indent=1))
    fine = np.linspace(0.0, 0.6, 121)
    curve = np.array([jr.stable_potential(jr.MU + c) if jr.MU + c > 0.315 else np.nan
                      for c in fine])
    ax = plot.transfer(LEVELS, data["mean_mv"], data["sem_mv"], (fine, curve),
                       xlabel="long-range input c (1/ms); p = 0.22 + c",
                       ylabel="pyramidal potential y1 - y2 (mV)",
                       title=f"Jansen-Rit <-> 3 x {N} IF_curr_exp (NEST)")
    ax.axvspan(0.13, 0.28, color="C2", alpha=0.1, label="calibrated range")
    ax.legend(fontsize=7)
    ax.figure.savefig(out / "jansen_rit.png", dpi=120)


# ------------------------------------------------------------ whole brain

REGION, WB_DURATION, WB_N = 31, 300.0, 100


def _whole_brain(G):
    """P's rate in pulses (Hz / k) in 20 ms bins after 50 ms, and every region's mean v_P (mV)."""
    import pyNN.nest as sim

    import pynn_multiscale as pm
    from whole_brain import binned_rates

    tvb = jr.tvb_simulator(G=G)
    with pm.CoSimulation(tvb, sim, spiking_regions=[REGION], seed=1,
                         build_region=functools.partial(jr.build_spiking_region, n=WB_N),
                         to_spiking=jr.default_to_spiking(), to_tvb=jr.default_to_tvb(),
                         spiking_timestep=0.1) as cosim:
        result = cosim.run(WB_DURATION)
    rates = binned_rates(result, REGION, "P", 50.0, WB_DURATION) / jr.SPIKES_PER_PULSE
    return rates, potential_after(result, 100.0)


def potential_after(result, start):
    """Every region's mean pyramidal potential y1 - y2 after ``start`` ms."""
    from whole_brain import late_mean

    return late_mean(result, "y1", start) - late_mean(result, "y2", start)


run_whole_brain = isolated(_whole_brain)


def test_whole_brain_tvb_coupling_drives_the_spiking_region():
    """TVB -> spiking: the P rate with G = G_DEFAULT exceeds the one with G = 0 by > 3 SE."""
    (m1, se1), (m0, se0) = (mean_and_se(run_whole_brain(G)[0]) for G in (jr.G_DEFAULT, 0.0))
    assert m1 - m0 > 3 * np.hypot(se1, se0), (m1, m0, se1, se0)


def test_whole_brain_spiking_region_drives_its_tvb_neighbours():
    """Spiking -> TVB: regions connected to it rise above a silent-region control, the others less.

    The control replays a pulse density of 0 with the same (deterministic)
    TVB, so every difference comes from what the spiking region sent.  The
    size of the difference is compared, not its sign: many regions sit in or
    near JR's alpha cycle, where more input can lower a time-averaged
    potential (signed, the 19 connected regions' mean change was +0.04 mV
    at 2.6 SE).  What must hold is that connected regions move more than
    the regions reached only through the coupling of others.
    """
    _, v = run_whole_brain(jr.G_DEFAULT)
    control, weights = replayed_control(jr.tvb_simulator(G=jr.G_DEFAULT), [REGION], {"y1": 0.0},
                                        WB_DURATION)
    diff = np.abs(v - potential_after(control, 100.0))
    assert_neighbours_respond(*split_by_connection(diff, weights, [REGION]))


# ---------------------------------------------------------------- example

@pytest.mark.slow
def test_example_runs_on_nest(tmp_path):
    """The example, red_wong_wang.py's command line, 26 ms with 100 neurons per population."""
    import subprocess
    import sys

    out = tmp_path / "jr"
    example = Path(__file__).resolve().parent.parent / "examples" / "jansen_rit.py"
    done = subprocess.run([sys.executable, str(example), "--duration", "26", "--neurons", "100",
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("mean rates")]
    assert line and "r_superiortemporal/P" in line[0], done.stdout
    for name in ("tvb.nc", "metadata.json", "summary.png", "spiking_region_65.nix"):
        assert (out / name).exists(), name
