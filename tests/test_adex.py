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
from whole_brain import assert_neighbours_respond, split_by_connection

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
    # the transfer check's transient covers two of the slowest time constants
    assert 100.0 < min(taus) and 2 * max(taus) <= TRANSIENT, taus


# --------------------------------------------------------------- whole brain

REGIONS = [31, 65]
#: 400 ms of connectivity_68 with TVB at 0.5 ms (the mass's fastest time scale, T = 20 ms,
#: needs no finer step; 0.1 ms would quintuple TVB's share), 2000 neurons per region
#: whose E cells start at the uncoupled mass's W_e; the first 200 ms (the networks'
#: start from uniform potentials: rates near 3.5 Hz in the first 50 ms) are discarded.
WB_DURATION, WB_DT, WB_N, WB_FROM = 400.0, 0.5, 2000, 200.0


def _whole_brain(G, seed=1):
    """Spiking rates (Hz) of REGIONS after WB_FROM in 50 ms bins, per population, and TVB's E (kHz)."""
    import pyNN.nest as sim

    import pynn_multiscale as pm
    from whole_brain import binned_rates

    tvb = adex.tvb_simulator(G=G, dt=WB_DT)
    build = functools.partial(adex.build_spiking_region, n=WB_N,
                              w_init=adex.steady_state(0.0)[5])
    with pm.CoSimulation(tvb, sim, spiking_regions=REGIONS, build_region=build,
                         to_spiking=adex.default_to_spiking(), to_tvb=adex.default_to_tvb(),
                         seed=seed, spiking_timestep=0.1) as cosim:
        result = cosim.run(WB_DURATION)
    rates = {(region, population): binned_rates(result, region, population, WB_FROM,
                                                WB_DURATION, bin_ms=50.0).tolist()
             for region in REGIONS for population in ("E", "I")}
    tvb_e = result.monitor("Raw").sel(variable="E").isel(mode=0).values
    return rates, tvb_e.tolist()


def _silent_control():
    """The same TVB with both spiking regions replaced by a replay of 0 Hz (E and I)."""
    import pynn_multiscale as pm
    from pynn_multiscale.backends.replay import ReplayBackend

    steps = int(round(WB_DURATION / WB_DT))
    zeros = np.zeros((steps, len(REGIONS)))
    tvb = adex.tvb_simulator(G=adex.G_DEFAULT, dt=WB_DT)
    with pm.CoSimulation(tvb, ReplayBackend({"E": zeros, "I": zeros}), spiking_regions=REGIONS,
                         to_tvb=[pm.proxies.Replay("E"), pm.proxies.Replay("I")],
                         seed=1) as cosim:
        control = cosim.run(WB_DURATION)
        weights = cosim.tvb.connectivity.weights
    return control.monitor("Raw").sel(variable="E").isel(mode=0).values.tolist(), weights.tolist()


whole_brain = isolated(_whole_brain)
silent_control = isolated(_silent_control)


def test_tvb_coupling_raises_the_spiking_rates():
    """G = 5 against G = 0 (same seed): the spiking regions fire more with TVB's input.

    At G = 5 the coupling adds about 0.9 (region 31) and 1.4 Hz (region 65)
    per external synapse to the 2.5 Hz drive, onto E and I; the mass's E
    rises 30-45% and its I 35-50% for such inputs.  I: the paired
    differences of 50 ms bins (4 per region after 200 ms, same seed), pooled
    over the two regions, must be positive by more than 3 SE, and each
    region's I must rise.  E must rise pooled over both regions; its bins are
    too noisy for 3 SE in 200 ms (adaptation makes a 2000-neuron region's E
    wander by 20-30% between 50 ms bins; a first run measured +34% pooled,
    with 0.66 Hz against a 3 SE of 0.71 Hz).
    """
    coupled, _ = whole_brain(adex.G_DEFAULT)
    uncoupled, _ = whole_brain(0.0)
    pooled = {}
    for population, fraction in (("E", 0.8), ("I", 0.2)):
        a = np.concatenate([coupled[r, population] for r in REGIONS])
        b = np.concatenate([uncoupled[r, population] for r in REGIONS])
        # at least 200 spikes per run and population: a rate, not a handful of events
        assert b.mean() * fraction * WB_N * (WB_DURATION - WB_FROM) / 1000.0 > 200, b
        pooled[population] = (a, b, a - b)
    a, b, diff = pooled["I"]
    assert diff.mean() > 3 * diff.std(ddof=1) / np.sqrt(diff.size), (a, b)
    for r in REGIONS:
        assert np.mean(coupled[r, "I"]) > np.mean(uncoupled[r, "I"]), (r, coupled, uncoupled)
    a, b, diff = pooled["E"]
    assert a.mean() > b.mean(), (a, b)


def test_spiking_regions_drive_their_tvb_neighbours():
    """Spiking -> TVB: regions connected to a spiking region differ from a silent-region control.

    TVB is deterministic here (no noise), so every difference between the
    co-simulation and the control (0 Hz replayed for both spiking regions)
    comes from what the networks sent.  As in the use-case test: the mean E
    difference after 200 ms of the directly connected regions is
    positive by more than 3 SE across regions, and larger than that of the
    regions with no direct connection by more than 3 SE.
    """
    _, tvb_e = whole_brain(adex.G_DEFAULT)
    control, weights = silent_control()
    tvb_e, control, weights = np.asarray(tvb_e), np.asarray(control), np.asarray(weights)
    late = slice(int(round(WB_FROM / WB_DT)), None)
    diff = (tvb_e[late] - control[late]).mean(axis=0)
    assert_neighbours_respond(*split_by_connection(diff, weights, REGIONS))


def test_example_runs_at_short_duration_and_small_size(tmp_path):
    """examples/adex.py: red_wong_wang.py's command line, 20 ms with 500 neurons per region."""
    out = tmp_path / "adex"
    done = subprocess.run([sys.executable, os.path.join(HERE, "..", "examples", "adex.py"),
                           "--duration", "20", "--neurons", "500", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("mean rates")]
    assert line and "(nest, 20 ms)" in line[0] and "r_superiortemporal/E" in line[0], done.stdout
    for name in ("tvb.nc", "metadata.json", "summary.png", "spiking_region_65.nix"):
        assert (out / name).exists(), name


# --------------------------------------------------------------- transfer check

def _nest_transfer(levels, n, seed=1, **params):
    """E and I rates (Hz) of one NEST region at each constant coupling, in 100 ms batches.

    The pair's own pieces: ``tvb_simulator`` on a one-region connectivity
    whose coupling is the constant level, ``default_to_spiking`` and
    ``default_to_tvb``.  One network goes through the levels in turn, as
    ``transfer.spiking_transfer`` drives a region (built once: the build of
    4000 AdEx neurons costs more than a level's run); at the start of each
    level the E cells' adaptation current is set to the mass's ``W_e`` for
    that level.  ``params`` change the network and its proxies (a pair built
    with a wrong parameter); the mass stays tvb-library's.  Returns
    ``{level: {"E": [...], "I": [...]}}`` after ``TRANSIENT`` of each level.
    """
    import pyNN.nest as sim

    import pynn_multiscale as pm

    tvb = _make_tvb(transfer.single_region_connectivity(), transfer.constant_coupling(levels[0]))
    build = functools.partial(adex.build_spiking_region, n=n, **params)
    out = {}
    with pm.CoSimulation(tvb, sim, spiking_regions=[0], build_region=build,
                         to_spiking=adex.default_to_spiking(**params),
                         to_tvb=adex.default_to_tvb(), seed=seed, spiking_timestep=0.1) as cosim:
        for i, level in enumerate(levels):
            cosim.tvb.coupling.b = transfer.constant_coupling(level).b
            adex.start_adaptation_at_steady_state(cosim, level)  # the default mass's W_e
            raw = cosim.run(DURATION).monitor("Raw")
            batches = {}
            for name in ("E", "I"):
                series = raw.sel(variable=name).isel(region=0, mode=0)
                late = series.where(series.time > i * DURATION + TRANSIENT, drop=True).values * 1e3
                batches[name] = late.reshape(-1, late.size // N_BATCHES).mean(axis=1).tolist()
            out[level] = batches
    return out


#: The region size of the check: 4000 neurons keep the mass's in-degrees with 12.5% of
#: inputs shared between two E cells (docs/models.md: at level 0 the E cells of 1000 and
#: 2000 neurons fire 31% and 4.5% below the mass, of 4000 0.4% below).
N = 4000
#: Two of the mass's slowest time constants (relaxation_time: 190-280 ms at LEVELS; E cells
#: start at the mass's W_e, so little is left to relax), then 400 ms measured in N_BATCHES
#: batches (the first version used three and 600 ms, 50% more suite time; both versions'
#: figures are in docs/models.md).
TRANSIENT = 2 * 280.0
DURATION, N_BATCHES = TRANSIENT + 400.0, 4
#: What the check allows besides 3 SE, as a fraction of the mass's rate (docs/models.md):
#: no published number for the mean field's error against its network was found to cite;
#: 10% is the size of the errors the check is built to catch (a 10% change of Q_e moves
#: the mass's E by 18-42% and I by 14-27% at these levels).
ALLOWANCE = 0.10


nest_transfer = isolated(_nest_transfer)


def check(measured, levels=LEVELS):
    """Per level and population: (passes, mean, sem, mass, tolerance), rates in Hz."""
    rows = []
    for level in levels:
        mass = 1e3 * adex.steady_state(level)
        for k, name in ((0, "E"), (1, "I")):
            batches = np.asarray(measured[level][name])
            mean, sem = batches.mean(), batches.std(ddof=1) / np.sqrt(batches.size)
            tolerance = 3 * sem + ALLOWANCE * mass[k]
            rows.append((abs(mean - mass[k]) <= tolerance, level, name, mean, sem, mass[k],
                         tolerance))
    return rows


@pytest.mark.slow
def test_transfer_check_on_nest():
    """One region of 4000 AdEx neurons reports the mass's E and I within 3 SE + 10% at five levels.

    The SE is that of the four 100 ms batch means of each level (one seed:
    one network of 4000 AdEx neurons goes through the levels).  Batches are
    correlated through the adaptation, so this SE is a lower bound; the
    allowance dominates the tolerance.
    """
    rows = check(nest_transfer(LEVELS, N))
    save_figure(rows)
    report = "\n".join(f"{lv * 1e3:g} Hz/syn {name}: {mean:.3f} ± {sem:.3f} Hz, mass {mass:.3f}, "
                        f"tolerance {tol:.3f}" for ok, lv, name, mean, sem, mass, tol in rows)
    assert all(row[0] for row in rows), report


@pytest.mark.slow
def test_transfer_check_catches_a_ten_percent_larger_q_e():
    """Q_e 10% larger in the network and its Poisson input (1.65 nS): the check fails at level 0.

    The check passes only if both populations do; here I fails it (measured
    10.16 +- 0.04 Hz against the default mass's 9.00, tolerance 1.03), while
    E alone would pass (1.60 +- 0.02 against 1.41, tolerance 0.21).  (The
    mass with Q_e = 1.65 nS gives E 2.00 Hz instead of 1.41, I 11.5 instead
    of 9.0.)  A 10% larger Q_e on the recurrent synapses only moved the
    network's E from 1.445 to 1.515 Hz (one run each, before the E cells'
    initial adaptation reached NEST): the external drive carries most of
    the excitatory conductance.
    """
    levels = (0.0,)
    rows = check(nest_transfer(levels, N, 1, Q_e=1.1 * adex.tvb_defaults()["Q_e"]), levels)
    assert not all(row[0] for row in rows), rows


def save_figure(rows):
    """The check's own data as JSON and as the figure of docs/models.md, in results/transfer/."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pynn_multiscale import plot

    out = Path(__file__).resolve().parent.parent / "results" / "transfer"
    out.mkdir(parents=True, exist_ok=True)
    keys = ("passes", "level_khz", "population", "mean_hz", "sem_hz", "mass_hz", "tolerance_hz")
    data = {"n": N, "seeds": [1], "duration_ms": DURATION, "transient_ms": TRANSIENT,
            "rows": [dict(zip(keys, (bool(r[0]), float(r[1]), r[2], *map(float, r[3:]))))
                     for r in rows]}
    (out / "adex.json").write_text(json.dumps(data, indent=1))
    fine = np.linspace(0.0, 5e-3, 21)
    curve = 1e3 * np.array([adex.steady_state(x)[:2] for x in fine])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
    for ax, (k, name) in zip(axes, ((0, "E"), (1, "I"))):
        mine = [r for r in rows if r[2] == name]
        ax.fill_between(1e3 * fine, (1 - ALLOWANCE) * curve[:, k], (1 + ALLOWANCE) * curve[:, k],
                        color="0.85", label=f"mean field ± {ALLOWANCE:.0%}")
        plot.transfer(1e3 * np.array([r[1] for r in mine]), [r[3] for r in mine],
                      [r[4] for r in mine], (1e3 * fine, curve[:, k]), ax=ax,
                      xlabel="TVB coupling (Hz per external synapse, + 2.5 Hz drive)",
                      ylabel=f"{name} rate (Hz)",
                      title=f"TVB-AdEx <-> {N} AdEx neurons (NEST): {name}")
    fig.savefig(out / "adex.png", dpi=120)
