"""What every model pair shares: checked numbers and counts, a connectivity, a steady history, Heun.

Kept out of any one pair so that a new pair does not import another pair's
private helpers.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigurationError, bad_value


def check_count(name, value, lo, example, what="neurons"):
    """``value`` must be a whole number >= ``lo`` (a population size, spikes per pulse...)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ConfigurationError(bad_value(name, value, f"a whole number of {what} >= {lo}",
                                           f"pass e.g. {name}={example}"))


def check_known(name, given, table: dict, table_name: str):
    """Every key of ``given`` must be a key of ``table`` (a misspelt parameter is an error)."""
    unknown = set(given or {}) - set(table)
    if unknown:
        raise ConfigurationError(bad_value(name, sorted(unknown),
                                           f"keys of {table_name}: {sorted(table)}",
                                           "fix the spelling"))


def check_range(name, value, lo, hi, strict_lo=False):
    """Stop with a ConfigurationError naming ``name`` unless ``value`` is a finite number in range."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(value) or value < lo or value > hi or (strict_lo and value <= lo):
        span = f"{'>' if strict_lo else '>='} {lo:g}" + (f" and <= {hi:g}" if math.isfinite(hi) else "")
        raise ConfigurationError(bad_value(name, value, f"a finite number {span}",
                                           "pass a value in that range"))


def load_connectivity(connectivity, speed: float):
    """A tvb-data connectivity by name (``"connectivity_68"``) or the object given, at ``speed`` mm/ms."""
    from tvb.datatypes import connectivity as tvb_connectivity

    if isinstance(connectivity, str):
        name = connectivity if connectivity.endswith(".zip") else connectivity + ".zip"
        conn = tvb_connectivity.Connectivity.from_file(name)
    else:
        conn = connectivity
    conn.speed = np.array([float(speed)])
    return conn


def heun(dt: float, nsig, noise_seed: int):
    """TVB's Heun integrator: stochastic with additive noise ``nsig`` (one per variable) if any is > 0."""
    from tvb.simulator import integrators, noise

    nsig = np.asarray(nsig, dtype=float)
    if np.any(nsig > 0):
        return integrators.HeunStochastic(
            dt=dt, noise=noise.Additive(nsig=nsig, noise_seed=noise_seed))
    return integrators.HeunDeterministic(dt=dt)


def constant_history(values, conn, dt):
    """Initial conditions holding ``values`` (one per state variable) in every region.

    TVB pads initial conditions shorter than its history horizon with random
    values from ``model.initial()``; giving the whole horizon avoids that.
    """
    conn.configure()
    conn.set_idelays(dt)
    horizon = int(conn.idelays.max()) + 1
    values = np.asarray(values, dtype=float)
    n = conn.weights.shape[0]
    return np.broadcast_to(values[None, :, None, None], (horizon, values.size, n, 1)).copy()
