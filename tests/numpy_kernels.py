"""NumPy's and OpenBLAS's AVX2 kernels on every x86-64 machine, for outputs compared to the bit.

NumPy picks its exp/log kernels, and OpenBLAS its BLAS kernels, by the CPU. On
a machine with AVX-512 they differ from the AVX2 ones in the last bit (up to
4.4e-14 in a W1 run's rates; 1.8e-15 through Elephant's instantaneous rate),
and the outputs recorded in ``tests/reference/`` came from the AVX2 kernels.
Both settings are environment variables read when the libraries load, so they
must come before numpy is imported; child processes (the fork servers,
notebooks' kernels, sweep workers) inherit them.
"""

import os
import platform

#: NumPy's AVX-512 feature groups (a machine that lacks one ignores it).
AVX512 = ["AVX512F", "AVX512CD", "AVX512_KNL", "AVX512_KNM", "AVX512_SKX", "AVX512_CLX",
          "AVX512_CNL", "AVX512_ICL", "AVX512_SPR"]


def _has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return " avx2" in f.read()
    except OSError:
        return False


def use_avx2_kernels():
    """Set NumPy's and OpenBLAS's kernel choice to AVX2 (x86-64 with AVX2 only), unless set."""
    if platform.machine() in ("x86_64", "AMD64"):
        os.environ.setdefault("NPY_DISABLE_CPU_FEATURES", " ".join(AVX512))
        if _has_avx2():  # forcing Haswell's kernels on a CPU without AVX2 would crash
            os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
