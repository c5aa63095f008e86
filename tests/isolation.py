"""Run a function in a fresh process, cached per arguments.

Simulators keep global state (NEST's kernel, NEURON's cells, ANNarchy's
network ids, which are part of its compiled code), so each scenario runs in
its own process.

The processes come from a fork server (``multiprocessing``'s "forkserver"
context) that has imported the pure-Python libraries every scenario needs
(:data:`PRELOAD`) and nothing that holds a simulator's state: NEST, NEURON
and ANNarchy are imported by the child, as in a fresh interpreter.  A
spawned interpreter spent 5-8 s importing TVB, Brian2, PyNN, Neo and xarray
before every one of the suite's isolated runs; a forked child has them.
Before it unpickles the task (which imports the function's module) the
child takes what a spawned interpreter would have had from the caller: the
environment variables and the working directory at the time of the call,
and fresh entropy for numpy's global generator (a forked child would
otherwise start from the server's state, the same in every child).
"""

import functools
import multiprocessing
import os

#: Imported once by the fork server; never a simulator with native state (nest, neuron,
#: ANNarchy, pyNN.<backend>): those are imported by each child.
PRELOAD = ["numpy", "scipy.stats", "scipy.sparse", "quantities", "neo", "elephant.spike_train_generation",
           "xarray", "tvb.simulator.lab", "pyNN", "pyNN.common", "brian2", "pynn_multiscale"]


@functools.lru_cache(maxsize=None)
def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _as_if_spawned(environment, directory):
    """The pool worker's initializer: what a spawned child would have had from its caller."""
    import numpy as np

    os.environ.clear()
    os.environ.update(environment)
    os.chdir(directory)
    np.random.seed()  # fresh entropy, as a new interpreter's


def isolated(function):
    """Run ``function(*args)`` in a fresh process, once per arguments (cached)."""
    @functools.lru_cache(maxsize=None)
    def run(*args, **kwargs):
        with _context().Pool(1, initializer=_as_if_spawned,
                             initargs=(dict(os.environ), os.getcwd())) as pool:
            return pool.apply(function, args, kwargs)
    run.__doc__ = function.__doc__
    return run
