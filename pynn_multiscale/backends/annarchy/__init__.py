"""ANNarchy through the PyNN API: ``import pynn_multiscale.backends.annarchy as sim``.

PyNN has no ANNarchy backend; this module speaks the part of PyNN that
region builders use, so the same builder runs on ANNarchy unchanged:

* **setup and control**: ``setup(timestep, min_delay, max_delay, rng_seed)``,
  ``run``, ``run_until``, ``end``, ``get_current_time``, ``get_time_step``,
  ``get_min_delay``, ``get_max_delay``;
* **cells**: ``IF_cond_alpha``, ``IF_cond_exp``, ``IF_curr_alpha``,
  ``IF_curr_exp``, ``EIF_cond_exp_isfa_ista``, ``Izhikevich``,
  ``SpikeSourcePoisson``, ``SpikeSourceArray``, with PyNN's names, units
  and defaults (translation table in :mod:`._cells`);
* **populations**: ``Population``, ``PopulationView`` (``pop[i:j]``, index
  arrays), ``Assembly`` (``e + i``), with ``set``, ``get``, ``initialize``,
  ``record`` and ``get_data`` (a ``neo.Block`` laid out as PyNN's);
* **projections**: ``Projection`` with ``AllToAllConnector``,
  ``OneToOneConnector``, ``FixedProbabilityConnector``,
  ``FixedNumberPreConnector``, ``FromListConnector``, ``StaticSynapse``,
  receptors ``excitatory``/``inhibitory``;
* **currents**: ``DCSource``, ``StepCurrentSource``;
* **random numbers**: PyNN's own ``RandomDistribution`` and ``NumpyRNG``.

Anything else of PyNN's API raises ``NotImplementedError`` naming the
feature; in particular, outside the subset on purpose: ``structure=`` and
``pyNN.space`` with the distance-dependent connectors, ``HH_cond_exp``,
``native_cell_type`` and ``native_synapse_type`` (NEST's own models), and
plasticity (``STDPMechanism``: ANNarchy's STDP synapse has additive weight
dependence only and its own update timing; see docs/backends.md).  The network is compiled at the first ``run`` and the compiled code
is cached (see :mod:`._simulator`); populations and projections cannot be
added after that.

Differences from ``pyNN.nest`` that the adapter does not hide:

* ANNarchy integrates the IF models with exponential Euler (exact for a
  linear membrane with the conductances held over a step), the EIF and
  Izhikevich models with explicit Euler.
* Recorded ``gsyn`` of the exponential models has one sample fewer than
  ``v`` (ANNarchy samples it before the step's decay: sample k is the value
  at k dt, so the value at the run's end is not known yet).
* Poisson sources fire at most one spike per time step (a co-simulation's
  rate proxies can use several sources per neuron, and warn when they should:
  ``cosim.py``).
"""

from __future__ import annotations

from pyNN.random import NumpyRNG, RandomDistribution

from ._cells import (EIF_cond_exp_isfa_ista, IF_cond_alpha, IF_cond_exp, IF_curr_alpha,
                     IF_curr_exp, Izhikevich, SpikeSourceArray, SpikeSourcePoisson)
from ._currents import DCSource, StepCurrentSource
from ._populations import Assembly, Population, PopulationView
from ._projections import (AllToAllConnector, FixedNumberPreConnector, FixedProbabilityConnector,
                           FromListConnector, OneToOneConnector, Projection, StaticSynapse)
from ._simulator import annarchy, state
from ...errors import ConfigurationError, bad_value

simulator = state  # as pyNN.<simulator>.simulator.state, for code that inspects it

__all__ = ["setup", "end", "run", "run_until", "run_for", "get_current_time", "get_time_step",
           "get_min_delay", "get_max_delay", "Population", "PopulationView", "Assembly",
           "Projection", "AllToAllConnector", "OneToOneConnector", "FixedProbabilityConnector",
           "FixedNumberPreConnector", "FromListConnector", "StaticSynapse", "DCSource",
           "StepCurrentSource", "RandomDistribution", "NumpyRNG", "IF_cond_alpha", "IF_cond_exp",
           "IF_curr_alpha", "IF_curr_exp", "EIF_cond_exp_isfa_ista", "Izhikevich",
           "SpikeSourcePoisson", "SpikeSourceArray"]


def setup(timestep=0.1, min_delay="auto", max_delay=None, rng_seed=None, **extra_params):
    """Start a new network (the previous one, if any, is dropped).

    ``rng_seed`` seeds ANNarchy's generators (Poisson sources); without it a
    fixed default makes runs reproducible.  Connectors and
    ``RandomDistribution`` use the PyNN ``rng`` they are given.
    """
    if extra_params:
        raise NotImplementedError(
            f"setup({', '.join(sorted(extra_params))}=...) is outside the ANNarchy adapter's "
            "PyNN subset: it takes timestep, min_delay, max_delay and rng_seed")
    if not isinstance(timestep, (int, float)) or isinstance(timestep, bool) or timestep <= 0:
        raise ConfigurationError(bad_value("timestep", timestep, "a positive time step in ms",
                                           "pass e.g. timestep=0.1"))
    if min_delay not in (None, "auto") and float(min_delay) < timestep - 1e-12:
        raise ConfigurationError(bad_value("min_delay", min_delay, f"at least the time step "
                                           f"({timestep} ms)", "pass min_delay >= timestep"))
    state.setup(timestep, min_delay, max_delay, rng_seed)
    return 0


def end():
    """Release the network (compiled code stays in the cache)."""
    for population in state.populations:
        population._monitors = {}
    state.net = None
    state.populations, state.projections, state.current_sources = [], [], []
    state.compiled = False


def run_until(tstop, callbacks=None):
    """Simulate up to ``tstop`` ms; returns the time reached."""
    if callbacks:
        raise NotImplementedError("run(callbacks=...) is outside the ANNarchy adapter's PyNN "
                                  "subset")
    return state.run_until(tstop)


def run(simtime, callbacks=None):
    """Simulate for ``simtime`` ms more; returns the time reached."""
    return run_until(state.t + float(simtime), callbacks)


run_for = run


def get_current_time():
    return state.t


def get_time_step():
    return state.dt


def get_min_delay():
    return state.min_delay


def get_max_delay():
    return state.max_delay


def version():
    return annarchy().__version__


#: PyNN functions of a simulator module that the subset leaves out.
_PYNN_FUNCTIONS = {"reset", "record", "record_v", "record_gsyn", "initialize", "create", "connect",
                   "set", "build_record", "num_processes", "rank", "list_standard_models",
                   "Space", "Structure", "Line", "Grid2D", "Grid3D", "Sphere", "Cuboid",
                   "RandomStructure", "SpikeSourceInhGamma", "SpikeSourceGamma",
                   # grids and distance-dependent connectivity, simulator-native models
                   "space", "native_cell_type", "native_synapse_type", "native_electrode_type"}


def _pynn_api():
    import pyNN.connectors
    from pyNN.standardmodels import cells, electrodes, synapses

    names = set(_PYNN_FUNCTIONS)
    for module in (pyNN.connectors, cells, electrodes, synapses):
        names.update(n for n in dir(module) if not n.startswith("_"))
    return names


def __getattr__(name):
    if not name.startswith("_") and name in _pynn_api():
        raise NotImplementedError(
            f"{name} is outside the ANNarchy adapter's PyNN subset "
            "(pynn_multiscale.backends.annarchy); the subset is listed in its docstring")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
