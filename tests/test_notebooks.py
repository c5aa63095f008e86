"""The teaching notebooks (examples/notebooks/) run top to bottom, and are stored clean.

Each runs in its own Jupyter kernel (nbclient), in a temporary copy of its
directory so that the files it writes stay out of the clone.  A cell that
raises fails the test with the cell's traceback.
"""

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "examples" / "notebooks").glob("*.ipynb"))
EXAMPLES = Path(__file__).parent.parent / "examples"


def test_there_are_the_six_teaching_notebooks():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (path.name, cell.source[:60])


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work, ignore=shutil.ignore_patterns("__pycache__"))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(work / "notebooks")}})
    client.execute()
    images = sum(1 for cell in notebook.cells if cell.cell_type == "code"
                 for out in cell.outputs if "image/png" in out.get("data", {}))
    assert images >= 1, f"{path.name} drew no figure"
