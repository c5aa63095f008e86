"""The documentation builds with Sphinx without a single warning, API reference included."""

import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).parent.parent / "docs"


def test_docs_build_without_warnings(tmp_path):
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                          "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    api = (tmp_path / "html" / "api.html").read_text()
    for name in ("CoSimulation", "RateToPoisson", "population_rate", "fc_sc_correlation",
                 "Result.load", "Brian2Backend", "local_cluster", "point_summary"):
        assert name in api, f"{name} missing from the API reference"
    for page in ("installation", "tutorial", "concepts", "cli", "proxies", "validation",
                 "performance", "sweeps"):
        assert (tmp_path / "html" / f"{page}.html").is_file()
    assert (tmp_path / "html" / "_images" / "cosim_loop.svg").is_file()  # the loop diagram
