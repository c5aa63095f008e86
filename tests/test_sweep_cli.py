"""The sweep example and the command line, through the installed ``pynn-multiscale`` script.

The example sweeps the use case at n_e = 160 (a fifth of its size) for 30 ms;
the command line then extends the same folder with the example's own
``point`` function, shows it and plots it.  Each starts its own local
cluster of 2 worker processes.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest
import xarray as xr

EXAMPLE = Path(__file__).parent.parent / "examples" / "sweep_red_wong_wang.py"


def _exe():
    exe = shutil.which("pynn-multiscale", path=os.path.dirname(sys.executable))
    assert exe, "pip install should have created the pynn-multiscale script beside python"
    return exe


@pytest.mark.slow
def test_the_example_then_the_command_line_extend_show_and_plot_one_sweep(tmp_path):
    out = tmp_path / "rww"
    done = subprocess.run([sys.executable, str(EXAMPLE), "--out", str(out), "--G", "1",
                           "--lamda", "0,1", "--seeds", "1", "--duration", "30", "--n-e", "160",
                           "--workers", "2"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dashboard: http://127.0.0.1:" in done.stderr  # the local cluster says where
    lines = [x for x in done.stdout.splitlines() if "(Hz, mean over seeds)" in x]
    assert len(lines) == 4 and lines[0].startswith("r_superiortemporal/E") and \
        "G=1/lamda=0:" in lines[0], done.stdout
    assert (out / "summary.png").exists()
    first = {p.name: json.loads((p / "point.json").read_text())["finished"]
             for p in (out / "points").iterdir()}
    assert len(first) == 2

    command = [_exe(), "sweep", str(EXAMPLE), "--grid", "G=1,2", "--grid", "lamda=0,1",
               "--grid", "n_e=160", "--seeds", "1", "--duration", "30", "--out", str(out),
               "--workers", "2", "--no-progress"]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert refused.returncode == 2 and "holds another sweep" in refused.stderr and \
        "--extend" in refused.stderr, refused.stderr[-2000:]
    done = subprocess.run(command + ["--extend"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    records = {p.name: json.loads((p / "point.json").read_text())
               for p in (out / "points").iterdir()}
    assert len(records) == 4 and all(r["state"] == "done" for r in records.values())
    assert all(records[k]["finished"] == t and records[k]["runs"] == 1
               for k, t in first.items())  # the example's points were not run again
    assert "4 done" in done.stdout  # it ends with the table of 'show'

    shown = subprocess.run([_exe(), "show", str(out)], capture_output=True, text=True,
                           check=True).stdout
    assert "sweep of 4 points (sweep_red_wong_wang.point, 30 ms each): 4 done" in shown
    rows = [line.split() for line in shown.splitlines()[2:]]
    assert sorted((r[0], r[1]) for r in rows) == [("1", "0"), ("1", "1"), ("2", "0"), ("2", "1")]
    assert all(r[4] == "done" for r in rows)

    with xr.open_dataset(out / "summary.nc") as summary:
        assert summary["G"].values.tolist() == [1.0, 2.0]
        assert summary["lamda"].values.tolist() == [0.0, 1.0]
        assert int(summary["rate_hz"].notnull().sum()) == 16  # 4 points x 4 populations

    heat = tmp_path / "heat.png"
    subprocess.run([_exe(), "plot", str(out), "--select", "population=r_superiortemporal/E",
                    "--out", str(heat)], check=True, capture_output=True)
    line = tmp_path / "line.png"
    subprocess.run([_exe(), "plot", str(out), "--measure", "fc_sc", "--x", "G", "--select",
                    "lamda=0", "--out", str(line)], check=True, capture_output=True)
    for path in (heat, line):
        assert matplotlib.image.imread(path).std() > 0.05  # drawn, not blank
    bad = subprocess.run([_exe(), "plot", str(out), "--measure", "nope"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "measure='nope' is invalid" in bad.stderr
