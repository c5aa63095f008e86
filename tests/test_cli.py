"""The ``pynn-multiscale`` command: installed, documented, and each subcommand does its job."""

import os
import shutil
import subprocess
import sys
from importlib import metadata

import matplotlib.pyplot as plt
import pytest

from pynn_multiscale import cli
from pynn_multiscale.analysis import population_summary
from pynn_multiscale.results import Result
from test_plot import result  # noqa: F401  (a small result with one spiking region)

# in the smoke subset that `make test` runs on the other supported Pythons
pytestmark = pytest.mark.smoke


def test_console_script_is_installed_and_help_lists_every_command():
    exe = shutil.which("pynn-multiscale", path=os.path.dirname(sys.executable))
    assert exe, "pip install should have created the pynn-multiscale script beside python"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("info", "run", "show", "plot", "sweep"):
        assert command in out
    for command in ("info", "run", "show", "plot", "sweep"):
        sub = subprocess.run([exe, command, "--help"], capture_output=True, text=True,
                             check=True).stdout
        assert sub.startswith(f"usage: pynn-multiscale {command}")


def test_info_reports_installed_versions(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"NEST (spiking simulator)      {metadata.version('nest-simulator')}" in out
    assert f"PyNN                          {metadata.version('PyNN')}" in out
    assert "ANNarchy (spiking simulator)" in out


def test_run_passes_arguments_and_exit_code(tmp_path, capsys, monkeypatch):
    script = tmp_path / "job.py"
    script.write_text("import sys\nprint('argv', sys.argv[1:])\n"
                      "sys.exit(3 if '--fail' in sys.argv else 0)\n")
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # run() replaces sys.argv
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert cli.main(["run", str(script), "--duration", "5", "--out", "x"]) == 0
    assert "argv ['--duration', '5', '--out', 'x']" in capsys.readouterr().out
    assert cli.main(["run", str(script), "--fail"]) == 3


def test_run_of_a_missing_script_names_it(tmp_path, capsys):
    assert cli.main(["run", str(tmp_path / "nope.py")]) == 2
    assert "SCRIPT=" in capsys.readouterr().err


def test_show_prints_the_population_summary(result, tmp_path, capsys):  # noqa: F811
    result.save(tmp_path / "r")
    assert cli.main(["show", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "simulator: nest" in out and "sync_interval_ms: 2.6" in out
    for row in population_summary(Result.load(tmp_path / "r")):
        assert f"{row['rate_hz']:>9.3f}" in out


def test_plot_writes_the_summary_png(result, tmp_path, capsys):  # noqa: F811
    result.save(tmp_path / "r")
    assert cli.main(["plot", str(tmp_path / "r")]) == 0
    assert plt.imread(tmp_path / "r" / "summary.png").shape[1] == 1100
    assert cli.main(["plot", str(tmp_path / "r"), "--out", str(tmp_path / "x.png"),
                     "--variable", "S_i"]) == 0
    assert (tmp_path / "x.png").is_file()


@pytest.mark.parametrize("command", ["show", "plot"])
def test_a_directory_without_a_result_is_a_clear_error(command, tmp_path, capsys):
    assert cli.main([command, str(tmp_path)]) == 2
    assert "has no tvb.nc" in capsys.readouterr().err
