"""The transfer check of a model pair: the spiking region alone against the neural mass alone.

A pair is trustworthy where its spiking region, driven at a constant input
through the pair's own to-spiking proxy, reports (through its own to-TVB
proxy) what the neural mass's steady state is for the same input.

Both sides are run here with the pair's own pieces and nothing else:

* :func:`spiking_transfer`: one spiking region in a one-region TVB
  connectivity (no long-range connection) whose coupling is the constant
  ``level`` (TVB's ``Linear(a=0, b=level)``), so the to-spiking proxy sends
  ``weight * transform(level)`` exactly as it would send a whole brain's
  coupling; the value the to-TVB proxy writes into ``variable`` is averaged
  after a discarded transient, once per seed.
* :func:`mean_field_transfer`: the same one-region TVB simulator alone
  (no spiking region), integrated until the variable settles.

``make_tvb(connectivity=..., coupling=...)`` is the pair's ``tvb_simulator``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigurationError, NumericalError, bad_value


def single_region_connectivity(label: str = "node"):
    """A TVB connectivity of one region and no connection."""
    from tvb.datatypes.connectivity import Connectivity

    conn = Connectivity(weights=np.zeros((1, 1)), tract_lengths=np.zeros((1, 1)),
                        centres=np.zeros((1, 3)), region_labels=np.array([label]),
                        speed=np.array([3.0]))
    conn.configure()
    return conn


def constant_coupling(level: float):
    """TVB's ``Linear(a=0, b=level)``: every region's coupling is ``level``."""
    from tvb.simulator.coupling import Linear

    return Linear(a=np.array([0.0]), b=np.array([float(level)]))


def _check_levels(levels) -> np.ndarray:
    levels = np.asarray(levels, dtype=float).ravel()
    if levels.size == 0 or not np.all(np.isfinite(levels)):
        raise ConfigurationError(bad_value("levels", levels, "finite input levels",
                                           "pass e.g. levels=[-4, -2, 0, 2]"))
    return levels


def spiking_transfer(sim, make_tvb, build_region, to_spiking, to_tvb, levels, variable: str,
                     duration: float = 1000.0, transient: float = 200.0, seeds=(1, 2, 3),
                     **cosim_kwargs) -> np.ndarray:
    """The to-TVB value of one spiking region at constant input levels, ``(n_levels, n_seeds)``.

    Parameters
    ----------
    sim : module or Backend
        The PyNN simulator.
    make_tvb : callable
        The pair's ``tvb_simulator`` (called with ``connectivity`` and ``coupling``).
    build_region, to_spiking, to_tvb
        The pair's builder and proxies, as given to ``CoSimulation``.
    levels : sequence of float
        The constant couplings.
    variable : str
        The TVB variable a ``to_tvb`` proxy writes.
    duration, transient : float
        Run length and the discarded beginning (ms).
    seeds : sequence of int
        One run per seed and level (the co-simulation's one seed).
    **cosim_kwargs
        Passed to ``CoSimulation`` (``spiking_timestep``, ``max_rate``, ...).
    """
    from ..cosim import CoSimulation

    levels = _check_levels(levels)
    if not 0 <= transient < duration:
        raise ConfigurationError(bad_value("transient", transient, f"in [0, duration={duration})",
                                           "discard less than the run"))
    out = np.empty((levels.size, len(seeds)))
    for i, level in enumerate(levels):
        for j, seed in enumerate(seeds):
            tvb = make_tvb(connectivity=single_region_connectivity(),
                           coupling=constant_coupling(level))
            with CoSimulation(tvb, sim, spiking_regions=[0], build_region=build_region,
                              to_spiking=to_spiking, to_tvb=to_tvb, seed=seed,
                              **cosim_kwargs) as cosim:
                result = cosim.run(duration)
            raw = result.monitor("Raw")
            series = raw.sel(variable=variable).isel(region=0, mode=0)
            out[i, j] = float(series.where(series.time > transient, drop=True).mean())
    return out


def mean_field_transfer(make_tvb, levels, variable: str, duration: float = 2000.0,
                        settle: float = 1e-6) -> np.ndarray:
    """The TVB model's steady state of ``variable`` at each constant level (TVB alone).

    The simulator is integrated for ``duration`` ms; the last value is the
    steady state if the last tenth of the run stays within ``settle``
    (relative) of it, otherwise :class:`NumericalError` says it did not
    settle (an oscillating or too slow mass has no steady state to compare).
    """
    levels = _check_levels(levels)
    out = np.empty(levels.size)
    for i, level in enumerate(levels):
        tvb = make_tvb(connectivity=single_region_connectivity(), coupling=constant_coupling(level))
        tvb.simulation_length = duration
        tvb.configure()
        var = tvb.model.variables_of_interest.index(variable)
        (time, data), = tvb.run()
        values = data[:, var, 0, 0]
        tail = values[time > 0.9 * duration]
        last = values[-1]
        if np.max(np.abs(tail - last)) > settle * max(abs(last), 1e-12):
            raise NumericalError(
                f"mean_field_transfer: {variable} at level {level:g} still moves by "
                f"{np.max(np.abs(tail - last)):.3g} over the last tenth of {duration:g} ms; "
                "Fix: pass a longer duration, or a level where the mass has a stable steady state")
        out[i] = last
    return out
