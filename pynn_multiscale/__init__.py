"""pynn-multiscale: TVB whole-brain models with spiking regions written once in PyNN.

The public API::

    import pyNN.nest as sim
    import pynn_multiscale as pm

    cosim = pm.CoSimulation(tvb, sim, spiking_regions=[31, 65], build_region=build,
                            to_spiking=[pm.proxies.RateToPoisson("R_e", "E", weight=800,
                                                                 synapse_weight=0.001)],
                            to_tvb=[pm.proxies.SpikeRate("E", "Rin_e")], seed=42)
    result = cosim.run(1000.0)

and ``pm.sweep.run(point, grid=..., seeds=..., duration=..., out=...)`` for
parameter sweeps of co-simulations on Dask (:mod:`pynn_multiscale.sweep`).
"""

from . import plot, proxies, sweep
from .cosim import CoSimulation, derive_seeds
from .links import RegionLink
from .errors import (CapabilityError, ConfigurationError, ConfigurationTypeError,
                     KernelInUseError, MissingDependency, NumericalError, PynnMultiscaleError,
                     SequentialLoopNote, StaleCoSimulationWarning)
from .region import SpikingRegion
from .results import Result
from .units import quick_unit_lookups

quick_unit_lookups()  # quantities parses "dimensionless" at every hash (pynn_multiscale/units.py)

__version__ = "0.1.0"

__all__ = ["CoSimulation", "sweep", "plot", "RegionLink", "SpikingRegion", "Result", "proxies", "derive_seeds",
           "PynnMultiscaleError", "ConfigurationError", "ConfigurationTypeError",
           "CapabilityError", "NumericalError", "KernelInUseError", "MissingDependency",
           "SequentialLoopNote", "StaleCoSimulationWarning",
           "__version__"]
