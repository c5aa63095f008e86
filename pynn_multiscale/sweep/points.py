"""The points of a sweep: plain data that can be recorded, hashed and sent to a worker.

A point is a dict of parameters (name -> bool, int, float or str) and one
seed (int).  Its folder is named by :func:`point_key`, a hash of its
canonical JSON, so the same point always lands in the same folder, in any
process, on any machine, in any order of the grid.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from numbers import Integral, Real

from ..errors import ConfigurationError, ConfigurationTypeError, bad_value

__all__ = ["Point", "point_key", "grid_points", "check_grid", "check_points", "check_seeds",
           "parse_grid_option", "parse_value"]

#: The characters of a point's hash used in its folder name (64 bits).
KEY_LENGTH = 16


def _canonical(value):
    """A parameter value as hashed: numbers by their float value (1 and 1.0 are one point)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, Real):
        return repr(float(value))
    return value


def point_key(params: dict, seed: int) -> str:
    """The stable hash that names a point's folder.

    Examples
    --------
    >>> point_key({"G": 1, "lambda": 0.5}, 3) == point_key({"lambda": 0.5, "G": 1.0}, 3)
    True
    >>> point_key({"G": 1.0}, 3) == point_key({"G": 1.0}, 4)
    False
    """
    text = json.dumps({"params": {k: _canonical(v) for k, v in params.items()},
                       "seed": int(seed)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


class Point(dict):
    """One co-simulation of a sweep: ``params``, ``seed`` and the folder ``key``."""

    def __init__(self, params, seed):
        super().__init__(params=dict(params), seed=int(seed), key=point_key(params, seed))

    @property
    def params(self) -> dict:
        return self["params"]

    @property
    def seed(self) -> int:
        return self["seed"]

    @property
    def key(self) -> str:
        return self["key"]


def _check_value(name, value, where):
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        if not math.isfinite(float(value)):
            raise ConfigurationError(bad_value(
                where, f"{name}={value!r}", "finite numbers", "remove the value"))
        return float(value)
    raise ConfigurationTypeError(bad_value(
        where, f"{name}={value!r} ({type(value).__name__})",
        "plain values (bool, int, float or str) that can be recorded and hashed",
        "pass numbers or names, and build objects from them inside the point function"))


def _check_name(name, where):
    if not isinstance(name, str) or not name.isidentifier() or name == "seed":
        raise ConfigurationError(bad_value(
            where, repr(name), "a parameter name that is a Python identifier other than 'seed'",
            "rename the parameter (the seed is given to the point function separately)"))


def check_grid(grid) -> dict:
    """The grid as ``{name: [values]}``, checked: names, plain values, no repeats."""
    if not isinstance(grid, dict) or not grid:
        raise ConfigurationTypeError(bad_value(
            "grid", grid, "a non-empty dict of parameter name -> list of values",
            'pass e.g. grid={"G": [0.5, 1.0], "lambda": [0.0, 1.0]}'))
    out = {}
    for name, values in grid.items():
        _check_name(name, "grid")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = [values]
        values = [_check_value(name, v, "grid") for v in values]
        if not values:
            raise ConfigurationError(bad_value(
                "grid", f"{name}=[]", "at least one value per parameter",
                f"give {name} a value, or leave it out of the grid"))
        keys = [_canonical(v) for v in values]
        if len(set(keys)) != len(keys):
            raise ConfigurationError(bad_value(
                "grid", f"{name}={values}", "distinct values", "remove the repeated value"))
        out[name] = values
    return out


def check_points(points) -> list[dict]:
    """An explicit list of points (dicts with the same parameter names), checked."""
    if isinstance(points, dict) or not hasattr(points, "__iter__"):
        raise ConfigurationTypeError(bad_value(
            "points", points, "a list of dicts of parameter name -> value",
            'pass e.g. points=[{"G": 0.5}, {"G": 2.0}]'))
    out = []
    for p in points:
        if not isinstance(p, dict) or not p:
            raise ConfigurationTypeError(bad_value(
                "points", p, "each point a non-empty dict of parameter name -> value",
                'pass e.g. points=[{"G": 0.5}, {"G": 2.0}]'))
        for name in p:
            _check_name(name, "points")
        out.append({name: _check_value(name, v, "points") for name, v in p.items()})
    if not out:
        raise ConfigurationError(bad_value("points", points, "at least one point",
                                           "pass a non-empty list"))
    names = set(out[0])
    for p in out:
        if set(p) != names:
            raise ConfigurationError(bad_value(
                "points", p, f"the same parameters in every point ({sorted(names)})",
                "give every point a value for each parameter"))
    keys = [point_key(p, 0) for p in out]
    if len(set(keys)) != len(keys):
        raise ConfigurationError(bad_value("points", points, "distinct points",
                                           "remove the repeated point"))
    return out


def check_seeds(seeds) -> list[int]:
    """The seeds as a list of distinct ints; an int n means the seeds 0 .. n-1."""
    if isinstance(seeds, Integral) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigurationError(bad_value("seeds", seeds, "at least 1 seed",
                                               "pass a positive count or a list of seeds"))
        return list(range(int(seeds)))
    try:
        out = [int(s) for s in seeds]
    except (TypeError, ValueError):
        raise ConfigurationTypeError(bad_value(
            "seeds", seeds, "a count (int) or a list of int seeds",
            "pass e.g. seeds=3 (0, 1, 2) or seeds=[11, 12]")) from None
    if not out or len(set(out)) != len(out) or any(s < 0 for s in out):
        raise ConfigurationError(bad_value("seeds", seeds, "distinct non-negative ints",
                                           "remove repeated or negative seeds"))
    return out


def grid_points(grid: dict, seeds: list) -> list[Point]:
    """Every combination of the grid's values, times every seed, in grid order (seed last)."""
    names = list(grid)
    return [Point(dict(zip(names, combo)), seed)
            for combo in itertools.product(*grid.values()) for seed in seeds]


def parse_value(text: str):
    """A grid value from the command line: int, then float, then true/false, else the text.

    Examples
    --------
    >>> [parse_value(t) for t in ["2", "0.5", "1e-3", "true", "rSTS"]]
    [2, 0.5, 0.001, True, 'rSTS']
    """
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_grid_option(text: str):
    """``NAME=V1,V2,...`` (the ``--grid`` option) -> ``(name, [values])``.

    Examples
    --------
    >>> parse_grid_option("G=0.5,1.0,1.5")
    ('G', [0.5, 1.0, 1.5])
    """
    name, sep, values = text.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise ConfigurationError(bad_value(
            "--grid", text, "NAME=V1,V2,... (a parameter name and its values)",
            "write e.g. --grid G=0.5,1.0,1.5"))
    return name.strip(), [parse_value(v.strip()) for v in values.split(",") if v.strip()]
