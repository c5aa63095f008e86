import os
import sys

# Tests import small helpers that live beside them.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Brian2's Cython cache is keyed by the interpreter's path, so a clean clone's
# new venv would compile every code object again (minutes); the suite runs
# Brian2's numpy target instead.  Child processes inherit the setting.
os.environ.setdefault("PYNN_MULTISCALE_BRIAN2_TARGET", "numpy")
# bit-exact comparisons with recorded outputs: AVX2 kernels on any CPU (before numpy loads)
from numpy_kernels import use_avx2_kernels  # noqa: E402

use_avx2_kernels()

#: The suite's longest files, longest first (seconds of test time in one full run on two
#: workers, cold compile caches: test_adex 590, test_notebooks 351, test_sweep 312, ...).
#: With ``--dist loadfile`` a file runs on one worker; xdist hands out files in collection
#: order (the Makefile turns off its reordering by test count, which put the three-test
#: test_red_wong_wang_transfer.py, 120 s, last: it ran alone while the other worker idled).
#: Long files first, short ones after, leaves both workers busy to the end.  A file not
#: listed keeps its place after these.
LONGEST_FIRST = [
    "tests/test_adex.py", "tests/test_notebooks.py", "tests/test_sweep.py",
    "tests/test_montbrio_qif.py", "tests/test_reference_outputs.py",
    "tests/crosssim/test_pair_adex.py", "tests/crosssim/test_features.py",
    "tests/crosssim/test_ei_region.py", "tests/test_wilson_cowan.py",
    "tests/crosssim/test_pair_red_wong_wang.py", "tests/crosssim/test_pair_wilson_cowan.py",
    "tests/test_use_case.py", "tests/test_brian2_backend.py", "tests/test_examples.py",
    "tests/test_red_wong_wang_transfer.py", "tests/test_jansen_rit.py",
    "tests/test_nestml.py", "tests/test_kill.py", "tests/test_set_state.py",
    "tests/test_benchmark_models.py",
    "tests/crosssim/test_pair_jansen_rit.py", "tests/crosssim/test_single_cells.py",
]


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
