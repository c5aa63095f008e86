"""Compile ANNarchy's Python bindings without optimisation; leave the simulation kernel alone.

ANNarchy builds each network as two pieces: the simulation kernel
(``ANNarchyCore<N>.cpp``, the populations' and projections' update code,
compiled with ANNarchy's ``-O3 -march=native``) and its nanobind bindings
(``ANNarchyWrapper<N>.cpp``: a getter and a setter per attribute of every
population and projection, also at ``-O3``).  The bindings are most of a
first compile, and their share grows with the number of populations:
``-O3`` spends its time inlining nanobind's templates, which run once per
attribute access from Python.  ``-O0`` on the bindings alone halved the
compile of a seven-population network (43.6 s to 19.5 s; docs/backends.md).

ANNarchy runs ``cmake`` and ``make`` itself and resets every flag it does
not set, so the only documented way in is CMake's compiler launcher
(``CMAKE_CXX_COMPILER_LAUNCHER``, read from the environment since CMake
3.17; ccache uses it).  This file is that launcher: run as a script with
the compiler's command line after it, it appends
``-O0`` (the last ``-O`` wins in GCC and Clang) when the command compiles
an ``ANNarchyWrapper*.cpp`` and runs every other command unchanged.  A
launcher the user set already (e.g. ccache) is kept: it runs next.
"""

from __future__ import annotations

import contextlib
import os
import sys

ENV = "CMAKE_CXX_COMPILER_LAUNCHER"
#: What the bindings are compiled with (appended after ANNarchy's flags).
WRAPPER_FLAGS = ("-O0",)
#: This file, which CMake runs in front of the compiler.
LAUNCHER = os.path.abspath(__file__)


def command(argv: list[str]) -> list[str]:
    """The compiler command to run for ``argv`` (the compiler and its arguments)."""
    compiles_wrapper = "-c" in argv and any(
        os.path.basename(arg).startswith("ANNarchyWrapper") and arg.endswith(".cpp")
        for arg in argv)
    return list(argv) + list(WRAPPER_FLAGS) if compiles_wrapper else list(argv)


@contextlib.contextmanager
def unoptimised_bindings():
    """Within the block, CMake configures new builds with this launcher in front of the compiler."""
    saved = os.environ.get(ENV)
    os.environ[ENV] = ";".join([sys.executable, LAUNCHER]
                               + ([saved] if saved else []))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = saved


if __name__ == "__main__":
    args = command(sys.argv[1:])
    os.execvp(args[0], args)
