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
