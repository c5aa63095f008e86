"""The use-case example runs unchanged on every simulator, selected by --simulator."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "red_wong_wang.py")


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["nest", "brian2", "neuron"])
def test_use_case_example_runs_on(simulator, tmp_path):
    out = tmp_path / simulator
    done = subprocess.run([sys.executable, EXAMPLE, "--simulator", simulator, "--duration", "26",
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("mean rates")]
    assert line and f"({simulator}, 26 ms)" in line[0], done.stdout
    for name in ("tvb.nc", "metadata.json", "summary.png", "spiking_region_31.nix"):
        assert (out / name).exists(), name
