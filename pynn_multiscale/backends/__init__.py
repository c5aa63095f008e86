"""Simulator backends.

:func:`get_backend` turns what the user passes as ``sim`` (a PyNN module such
as ``pyNN.nest``, or a backend instance) into a :class:`~.base.Backend`.
"""

from __future__ import annotations

from types import ModuleType

from ..errors import CapabilityError, ConfigurationTypeError, bad_value, simulator_not_installed
from .base import CAPABILITIES, Backend, capabilities_of

#: PyNN module name -> backend module within this package.
_BACKENDS = {"pyNN.nest": "nest", "pyNN.brian2": "brian2", "pyNN.neuron": "neuron",
             "pynn_multiscale.backends.annarchy": "annarchy.cosim"}


#: Simulator name -> the PyNN(-like) module a script imports for it.  PyNN has no ANNarchy
#: backend: ``pynn_multiscale.backends.annarchy`` speaks PyNN's API for it.
SIMULATORS = {"nest": "pyNN.nest", "brian2": "pyNN.brian2", "neuron": "pyNN.neuron",
              "annarchy": "pynn_multiscale.backends.annarchy"}


#: Simulator name -> the top-level packages whose absence means "not installed".
_PACKAGES = {"nest": ("nest", "pyNN"), "brian2": ("brian2", "pyNN"), "neuron": ("neuron", "pyNN"),
             "annarchy": ("ANNarchy",)}


def simulator_module(name: str):
    """Import the PyNN(-like) module of a simulator by name (``"nest"``, ... ``"annarchy"``)."""
    from importlib import import_module

    if name not in SIMULATORS:
        raise ConfigurationTypeError(bad_value("simulator", name, f"one of {sorted(SIMULATORS)}",
                                               "pass e.g. 'nest'"))
    try:
        return import_module(SIMULATORS[name])
    except ImportError as exc:
        error = simulator_not_installed(name, exc, _PACKAGES[name], ", or pick an installed "
                                        "simulator (pynn-multiscale info --check lists them).")
        if error is None:
            raise
        raise error from None


def get_backend(sim) -> Backend:
    """The backend for ``sim``: a PyNN simulator module or a backend instance."""
    if isinstance(sim, Backend) and not isinstance(sim, ModuleType):
        return sim
    if not isinstance(sim, ModuleType):
        raise ConfigurationTypeError(bad_value(
            "sim", type(sim).__name__, "a PyNN simulator module (e.g. pyNN.nest) or a backend "
            "instance", "import pyNN.nest as sim and pass sim"))
    name = sim.__name__
    if name not in _BACKENDS:
        if name.startswith("pyNN."):
            raise CapabilityError(
                f"sim={name} is not supported yet: the backends available are "
                f"{sorted(_BACKENDS)}. Fix: import one of them, e.g. import pyNN.nest as sim.")
        raise ConfigurationTypeError(bad_value(
            "sim", name, "a PyNN simulator module (e.g. pyNN.nest)", "import pyNN.nest as sim"))
    from importlib import import_module

    module = import_module(f"{__name__}.{_BACKENDS[name]}")
    return module.make_backend(sim)


def backends_with(capability: str) -> list[str]:
    """PyNN modules whose backend has ``capability`` (imports no simulator).

    E.g. ``backends_with("offset_current")`` gives ``['pyNN.brian2',
    'pyNN.nest', 'pyNN.neuron']``.  (Not a doctest: importing Brian2 replaces
    pytest's doctest collector with one that fails on a package's
    ``__init__``.)
    """
    from importlib import import_module

    found = []
    for pynn_name, module_name in sorted(_BACKENDS.items()):
        module = import_module(f"{__name__}.{module_name}")
        classes = [c for c in vars(module).values()
                   if isinstance(c, type) and c.__module__ == module.__name__
                   and all(callable(getattr(c, m, None)) for m in ("setup", "run_windows"))]
        if any(capability in capabilities_of(c) for c in classes):
            found.append(pynn_name)
    return found


#: The module that implements a population's PyNN API -> this package's backend module.
_STATE_SETTERS = {"pyNN.nest": "nest", "pyNN.neuron": "neuron"}


def set_state(population, **values) -> None:
    """Set state variables of ``population`` (PyNN's names and units), now, on every backend.

    Before the first run this is PyNN's ``population.initialize(**values)``,
    corrected where a PyNN backend gets it wrong; after a run (e.g. in the
    ``between`` hook of :func:`~pynn_multiscale.models.transfer.spiking_transfer`)
    it sets the simulator's current state.  Measured on PyNN 0.12 (an
    ``EIF_cond_exp_isfa_ista`` cell given ``w = 0.0741`` nA, read 1 ms later):

    * ``pyNN.nest`` sets an initial value under NEST's name but without the
      unit factor it applies when recording: ``w`` in nA arrives as pA
      (7.4e-05 nA), ``gsyn_*`` in uS as nS.  Here values are divided by the
      cell type's ``scale_factors``.
    * ``pyNN.neuron`` sets the AdEx mechanism's ``w`` before the mechanism's
      own initialisation, which resets it to ``winit`` (0 nA).  Here ``winit``
      is set too, and after a run ``w`` itself (``initialize`` only takes
      effect at NEURON's next initialisation).
    * ``pyNN.brian2`` and the ANNarchy adapter apply ``initialize`` as given
      (0.07396 and 0.07398 nA).

    ``tests/test_set_state.py`` checks every backend, and fails on the day
    PyNN fixes either defect (then this correction must go).
    """
    from importlib import import_module

    module = type(population).__module__.rsplit(".", 1)[0]
    if module in _STATE_SETTERS:
        import_module(f"{__name__}.{_STATE_SETTERS[module]}").set_state(population, values)
    else:
        population.initialize(**values)


__all__ = ["Backend", "CAPABILITIES", "SIMULATORS", "backends_with", "capabilities_of", "set_state",
           "get_backend", "simulator_module"]
