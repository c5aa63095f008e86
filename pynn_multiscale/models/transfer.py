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
  after a discarded transient, once per seed.  One network per seed goes
  through the levels in turn (the network is built once).
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


def constant_coupling(level):
    """TVB's ``Linear(a=0, b=level)``: every region's coupling is ``level``.

    ``level`` is one number for every coupling variable, or one per coupling
    variable (in the model's ``cvar`` order), for a model whose coupling
    variables have different units (reduced Wong-Wang's ``S_e`` and ``R_e``).
    """
    from tvb.simulator.coupling import Linear

    b = np.asarray(level, dtype=float)
    if b.ndim > 1 or not np.all(np.isfinite(b)):
        raise ConfigurationError(bad_value("level", level, "a finite number or one per coupling "
                                           "variable", "pass e.g. 0.5 or [0.1, 3.0]"))
    return Linear(a=np.array([0.0]), b=b.reshape(-1, 1, 1) if b.ndim else b.reshape(1))


def _check_levels(levels) -> np.ndarray:
    levels = np.asarray(levels, dtype=float).ravel()
    if levels.size == 0 or not np.all(np.isfinite(levels)):
        raise ConfigurationError(bad_value("levels", levels, "finite input levels",
                                           "pass e.g. levels=[-4, -2, 0, 2]"))
    return levels


def spiking_transfer(sim, make_tvb, build_region, to_spiking, to_tvb, levels, variable: str,
                     duration: float = 1000.0, transient: float = 200.0, seeds=(1, 2, 3),
                     couple=constant_coupling, measure=None, between=None,
                     one_network: bool = True, **cosim_kwargs) -> np.ndarray:
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
        Time at each level and its discarded beginning (ms).
    seeds : sequence of int
        One network per seed (the co-simulation's one seed).
    couple : callable
        ``couple(level)`` -> the TVB coupling of that level; default
        :func:`constant_coupling` (the level on every coupling variable).
    measure : callable, optional
        ``measure(result, transient=t0, stop=t1)`` -> the value over
        ``t0 < t <= t1`` (ms); default: the mean of ``variable`` there (a pair
        whose measure is not a plain mean, e.g. Jansen-Rit's
        ``measured_potential``, passes its own).
    between : callable, optional
        ``between(cosim, level)``, called before each level's run: e.g. to
        start a slow variable at the level's own steady state (the AdEx pair's
        adaptation current).
    one_network : bool
        True (default): one network per seed, driven through the levels in
        turn: level ``i`` runs from ``i * duration`` to ``(i + 1) * duration``,
        starting from where the previous level left the network, and its
        first ``transient`` ms are discarded.  A network is built once instead
        of once per level (for the AdEx and QIF regions the build costs more
        than a level's run).  False: a new network for every level and seed,
        each starting from the builder's initial state.
    **cosim_kwargs
        Passed to ``CoSimulation`` (``spiking_timestep``, ``max_rate``, ...).
    """
    from ..cosim import CoSimulation

    levels = _check_levels(levels)
    if not 0 <= transient < duration:
        raise ConfigurationError(bad_value("transient", transient, f"in [0, duration={duration})",
                                           "discard less than the run"))
    if one_network and cosim_kwargs.get("pipeline"):
        # the next level's coupling is set on this process's simulator; a pipelined
        # TVB integrates in another process, which would keep the first level
        raise ConfigurationError(bad_value("pipeline", True, "False with one_network=True",
                                           "drop pipeline=True, or pass one_network=False"))

    def cosimulation(level, seed):
        tvb = make_tvb(connectivity=single_region_connectivity(), coupling=couple(level))
        return CoSimulation(tvb, sim, spiking_regions=[0], build_region=build_region,
                            to_spiking=to_spiking, to_tvb=to_tvb, seed=seed, **cosim_kwargs)

    def value(result, start, stop):
        if measure is not None:
            return measure(result, transient=start, stop=stop)
        series = result.monitor("Raw").sel(variable=variable).isel(region=0, mode=0)
        return float(series.where((series.time > start) & (series.time <= stop), drop=True).mean())

    def run_level(cosim, level, start):
        if between is not None:
            between(cosim, level)
        return value(cosim.run(duration), start + transient, start + duration)

    out = np.empty((levels.size, len(seeds)))
    for j, seed in enumerate(seeds):
        if not one_network:
            for i, level in enumerate(levels):
                with cosimulation(level, seed) as cosim:
                    out[i, j] = run_level(cosim, level, 0.0)
            continue
        with cosimulation(levels[0], seed) as cosim:
            for i, level in enumerate(levels):
                # Linear.post reads b at every step: the next window gets the new level
                cosim.tvb.coupling.b = couple(level).b
                out[i, j] = run_level(cosim, level, i * duration)
    return out


def mean_field_transfer(make_tvb, levels, variable: str, duration: float = 2000.0,
                        settle: float = 1e-6, couple=constant_coupling) -> np.ndarray:
    """The TVB model's steady state of ``variable`` at each constant level (TVB alone).

    The simulator is integrated for ``duration`` ms; the last value is the
    steady state if the last tenth of the run stays within ``settle``
    (relative) of it, otherwise :class:`NumericalError` says it did not
    settle (an oscillating or too slow mass has no steady state to compare).
    """
    levels = _check_levels(levels)
    out = np.empty(levels.size)
    for i, level in enumerate(levels):
        tvb = make_tvb(connectivity=single_region_connectivity(), coupling=couple(level))
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
