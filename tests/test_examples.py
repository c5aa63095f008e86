"""The use-case example runs unchanged on every simulator, selected by --simulator."""

import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "red_wong_wang.py")


@pytest.mark.slow
@pytest.mark.smoke  # on every supported Python: the four simulators work on each
@pytest.mark.parametrize("simulator", ["nest", "brian2", "neuron", "annarchy"])
def test_use_case_example_runs_on(simulator, tmp_path):
    out = tmp_path / simulator
    done = subprocess.run([sys.executable, EXAMPLE, "--simulator", simulator, "--duration", "26",
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("mean rates")]
    assert line and f"({simulator}, 26 ms)" in line[0], done.stdout
    for name in ("tvb.nc", "metadata.json", "summary.png", "spiking_region_31.nix"):
        assert (out / name).exists(), name


@pytest.mark.slow
def test_montbrio_qif_example_runs_on_nest(tmp_path):
    """The MPR <-> QIF example, same command-line contract, 26 ms with 200 neurons per region."""
    out = tmp_path / "mpr"
    example = os.path.join(HERE, "..", "examples", "montbrio_qif.py")
    done = subprocess.run([sys.executable, example, "--duration", "26", "--neurons", "200",
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("mean rates")]
    assert line and "r_superiortemporal/QIF" in line[0], done.stdout
    for name in ("tvb.nc", "metadata.json", "summary.png", "spiking_region_65.nix"):
        assert (out / name).exists(), name


SEEDS, DURATION = (1, 2, 3), 500


def rates(simulator, seed, tmp_path):
    out = tmp_path / f"{simulator}{seed}"
    done = subprocess.run([sys.executable, EXAMPLE, "--simulator", simulator, "--duration",
                           str(DURATION), "--seed", str(seed), "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("mean rates")][0]
    return {part.split()[0]: float(part.split()[1]) for part in line.split(": ", 1)[1].split(", ")}


@pytest.mark.slow
def test_annarchy_use_case_rates_agree_with_nest(tmp_path):
    """The use case on ANNarchy against NEST: scenario 3's criterion, max(10%, 3 SE) over seeds.

    Three seeds of 500 ms each per simulator; the SE is that of the mean over
    seeds, combined for the two simulators.
    """
    got = {s: [rates(s, seed, tmp_path) for seed in SEEDS] for s in ("nest", "annarchy")}
    for key in got["nest"][0]:
        a = np.array([r[key] for r in got["annarchy"]])
        n = np.array([r[key] for r in got["nest"]])
        se = np.hypot(a.std(ddof=1), n.std(ddof=1)) / np.sqrt(len(SEEDS))
        limit = max(0.10 * n.mean(), 3 * se)
        assert abs(a.mean() - n.mean()) <= limit, (key, a, n, limit)


@pytest.mark.slow
def test_deco2014_example_runs_on_nest_and_refuses_brian2(tmp_path):
    """Deco et al. 2014's NESTML regions, same command-line contract, 26 ms; NEST only."""
    example = os.path.join(HERE, "..", "examples", "red_wong_wang_deco2014.py")
    out = tmp_path / "deco"
    done = subprocess.run([sys.executable, example, "--duration", "26", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("mean rates")]
    assert line and "(nest, 26 ms)" in line[0] and "l_superiortemporal/I" in line[0], done.stdout
    for name in ("tvb.nc", "metadata.json", "summary.png", "spiking_region_31.nix"):
        assert (out / name).exists(), name
    refused = subprocess.run([sys.executable, example, "--simulator", "brian2", "--duration", "26",
                              "--out", str(tmp_path / "b")], capture_output=True, text=True,
                             timeout=900)
    assert refused.returncode != 0 and "CapabilityError" in refused.stderr
    assert "custom NEST module" in refused.stderr
