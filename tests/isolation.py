"""Run a function in a fresh interpreter (spawned), cached per arguments.

Simulators keep global state (NEST's kernel, NEURON's cells, ANNarchy's
network ids, which are part of its compiled code), so each scenario runs in
its own process.
"""

import functools


def isolated(function):
    """Run ``function(*args)`` in a fresh interpreter, once per arguments (cached)."""
    @functools.lru_cache(maxsize=None)
    def run(*args, **kwargs):
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(1) as pool:
            return pool.apply(function, args, kwargs)
    run.__doc__ = function.__doc__
    return run
