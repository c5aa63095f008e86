"""A sweep's folder: what it asked for (``sweep.json``), each point's state, and the summary.

::

    <out>/
        sweep.json          the grid or points, the seeds, the duration, the functions,
                            the versions, and every point's state
        summary.nc          the gathered summary (xarray; one entry per point and seed)
        points/<key>/       one folder per point (:mod:`pynn_multiscale.sweep.point`)

Each point's own ``point.json`` is the truth about it (a worker writes it
while the point runs); ``sweep.json`` is the client's copy, rewritten as
points finish, for a reader who wants one file.  Both are JSON, written
through temporary names: a kill never leaves half a file, and reading a
sweep folder never runs code.
"""

from __future__ import annotations

import datetime
import hashlib
import inspect
import json
import os
import platform
from pathlib import Path

import numpy as np

from ..errors import ConfigurationError
from .point import SUMMARY_FILE, read_point, write_json
from .points import Point, grid_points

__all__ = ["SweepFolder", "SWEEP_FILE", "describe_function", "versions"]

SWEEP_FILE = "sweep.json"
#: The module name under which ``pynn-multiscale sweep`` runs a script.
SCRIPT_RUN_NAME = "pynn_multiscale_sweep_script"
POINTS_DIR = "points"
FORMAT = "pynn-multiscale sweep"
FORMAT_VERSION = 1
#: Every state a point can be in, in the order ``show`` lists them.
STATES = ("done", "failed", "interrupted", "running", "pending")


def describe_function(function) -> dict:
    """A function's name and a hash of its source (None where Python cannot see it).

    A function of a script (``__main__``) is named by the script's file name,
    so a sweep started as ``python SCRIPT`` and resumed with
    ``pynn-multiscale sweep SCRIPT`` is one sweep.
    """
    module = getattr(function, "__module__", None) or "?"
    if module == "__main__" or module == SCRIPT_RUN_NAME:
        # a script's function, run as a program or by 'pynn-multiscale sweep': the script's
        # name; a notebook cell's (a file in a kernel's temporary folder, renamed in every
        # session) stays __main__
        try:
            source = Path(inspect.getsourcefile(function))
        except TypeError:
            source = None
        if source is not None and source.suffix == ".py" and \
                not source.parent.name.startswith("ipykernel_"):
            module = source.stem
        else:
            module = "__main__"
    name = f"{module}.{getattr(function, '__qualname__', repr(function))}"
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        source = None
    digest = None if source is None else hashlib.sha256(source.encode()).hexdigest()[:16]
    return {"name": name, "source_sha256": digest}


def versions() -> dict:
    """This package's, Python's, the simulators' and Dask's versions (what is installed here)."""
    from .. import __version__
    from ..cli import PACKAGES, _version

    out = {"pynn-multiscale": __version__, "python": platform.python_version()}
    for _, distribution, _ in PACKAGES:
        out[distribution] = _version(distribution)
    for distribution in ("dask", "distributed", "numpy"):
        out[distribution] = _version(distribution)
    return out


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _same_function(old, new) -> bool:
    if old["name"] != new["name"]:
        return False
    return old["source_sha256"] is None or new["source_sha256"] is None or \
        old["source_sha256"] == new["source_sha256"]


class SweepFolder:
    """One sweep's folder (see the module docstring).

    Parameters
    ----------
    path : str or Path
    spec : dict
        ``grid`` (name -> values) or ``points`` (list of dicts), ``seeds``,
        ``duration_ms``, ``function`` and ``reducer`` (:func:`describe_function`).
    """

    def __init__(self, path, spec):
        self.path = Path(path)
        self.spec = spec
        self.created = _now()

    # ------------------------------------------------------------- opening
    @classmethod
    def read(cls, path) -> "SweepFolder":
        """An existing sweep folder (for show, plot and the summary)."""
        path = Path(path)
        stored = _read_sweep_json(path)
        if stored is None:
            raise FileNotFoundError(f"{path} is not a sweep folder: it has no {SWEEP_FILE}")
        folder = cls(path, stored["spec"])
        folder.created = stored.get("created", folder.created)
        return folder

    @classmethod
    def prepare(cls, path, spec, extend=False) -> "SweepFolder":
        """Create the folder, or reopen it for the same sweep (or, with ``extend``, a larger one).

        A folder that holds a different sweep is refused, so results of two
        grids never mix; ``extend=True`` adds the new grid's points to the
        old ones when everything else (parameters, duration, functions) is
        the same.
        """
        path = Path(path)
        stored = _read_sweep_json(path)
        if stored is None:
            if path.exists() and (not path.is_dir() or any(path.iterdir())):
                raise ConfigurationError(
                    f"out={str(path)!r} is invalid: it exists and is not a sweep folder (no "
                    f"{SWEEP_FILE}). Fix: pass a new or empty folder.")
            path.mkdir(parents=True, exist_ok=True)
            return cls(path, spec)
        old = stored["spec"]
        where = f"out={str(path)!r} holds another sweep"
        for field in ("duration_ms", "mode"):
            if old[field] != spec[field]:
                raise ConfigurationError(
                    f"{where}: its {field} is {old[field]!r}, this one's {spec[field]!r}. Fix: "
                    "pass a new out folder (results of different sweeps never share one).")
        for field in ("function", "reducer"):
            if not _same_function(old[field], spec[field]):
                raise ConfigurationError(
                    f"{where}: its points were made by {field} {old[field]['name']} (source "
                    f"{old[field]['source_sha256']}), this sweep's is {spec[field]['name']} "
                    f"(source {spec[field]['source_sha256']}). Fix: pass a new out folder, or "
                    "restore the function the folder's points were made with.")
        if _parameter_names(old) != _parameter_names(spec):
            raise ConfigurationError(
                f"{where}: its parameters are {_parameter_names(old)}, this sweep's "
                f"{_parameter_names(spec)}. Fix: pass a new out folder.")
        merged = _union(old, spec)
        if merged != old and not extend:
            raise ConfigurationError(
                f"{where}: its grid is {_grid_text(old)}, this one's {_grid_text(spec)}. Fix: "
                "pass a new out folder, or extend=True (--extend) to add this sweep's points "
                "to it.")
        folder = cls(path, merged)
        folder.created = stored.get("created", folder.created)
        return folder

    # -------------------------------------------------------------- points
    def points(self, spec=None) -> list[Point]:
        """Every point of ``spec`` (default the folder's), in order (seeds innermost)."""
        spec = spec or self.spec
        if spec["mode"] == "grid":
            return grid_points(spec["grid"], spec["seeds"])
        return [Point(p, s) for p in spec["points"] for s in spec["seeds"]]

    def directory(self, point) -> Path:
        return self.path / POINTS_DIR / point["key"]

    def state(self, point) -> dict:
        """The point's ``point.json`` (state "pending" if it never started)."""
        record = read_point(self.directory(point))
        if record is None:
            return {"params": point["params"], "seed": point["seed"], "key": point["key"],
                    "state": "pending", "runs": 0}
        return record

    def write(self, states: dict, versions_now: dict) -> None:
        """Rewrite ``sweep.json``: the spec and each point's state (``states``: key -> record)."""
        rows = []
        for p in self.points():
            record = states.get(p.key) or self.state(p)
            rows.append({k: record.get(k) for k in
                         ("key", "params", "seed", "state", "runs", "wall_s", "error_type",
                          "error", "finished", "peak_rss_mb", "worker_pid",
                          "wall_s_with_startup")} | {"key": p.key, "params": p.params,
                                                    "seed": p.seed})
        write_json(self.path / SWEEP_FILE,
                   {"format": FORMAT, "format_version": FORMAT_VERSION, "created": self.created,
                    "updated": _now(), "spec": self.spec, "versions": versions_now,
                    "points": rows})

    # ------------------------------------------------------------- summary
    def summary(self):
        """Every point's summary in one xarray Dataset, indexed by the parameters and the seed.

        A grid sweep has one dimension per parameter and ``seed``; a sweep
        of explicit points has ``point`` and ``seed``, with the parameters as
        coordinates along ``point``.  Points that are not done are NaN, and
        ``state`` says why.  ``wall_s`` is each point's run time (s).
        """
        import xarray as xr

        spec = self.spec
        points = self.points()
        index = {p.key: i for i, p in enumerate(self._point_rows())}
        pieces, states, walls = [], [], []
        for p in points:
            record = self.state(p)
            states.append(record["state"])
            walls.append(record.get("wall_s", np.nan) if record["state"] == "done" else np.nan)
            if record["state"] != "done":
                continue
            piece = xr.load_dataset(self.directory(p) / SUMMARY_FILE, engine="h5netcdf")
            piece.attrs = {}
            pieces.append(piece.expand_dims(self._coords(p, index)))
        data = xr.merge(pieces, join="outer", compat="no_conflicts") if pieces else xr.Dataset()
        dims = self._dims()
        full = {name: values for name, values in dims}
        data = data.reindex(full) if pieces else data.assign_coords(full)
        shape = tuple(len(v) for _, v in dims)
        data["state"] = (tuple(full), np.array(states, dtype=str).reshape(shape))
        data["wall_s"] = (tuple(full), np.array(walls, dtype=float).reshape(shape))
        data["wall_s"].attrs["units"] = "s"
        if spec["mode"] == "points":
            rows = self._point_rows()
            data = data.assign_coords({name: ("point", [r.params[name] for r in rows])
                                       for name in _parameter_names(spec)})
        data.attrs.update({"pynn_multiscale_sweep": json.dumps(spec, sort_keys=True),
                           "duration_ms": float(spec["duration_ms"]),
                           "point_function": spec["function"]["name"],
                           "reducer": spec["reducer"]["name"]})
        return data

    def _point_rows(self):
        if self.spec["mode"] == "grid":
            return []
        return [Point(p, 0) for p in self.spec["points"]]

    def _dims(self):
        spec = self.spec
        if spec["mode"] == "grid":
            dims = [(name, list(values)) for name, values in spec["grid"].items()]
        else:
            dims = [("point", list(range(len(spec["points"]))))]
        return dims + [("seed", list(spec["seeds"]))]

    def _coords(self, p, index):
        if self.spec["mode"] == "grid":
            out = {name: [p.params[name]] for name in self.spec["grid"]}
        else:
            out = {"point": [index[Point(p.params, 0).key]]}
        out["seed"] = [p.seed]
        return out

    def write_summary(self):
        """Write ``summary.nc`` (through a temporary name) and return the Dataset."""
        data = self.summary()
        temp = self.path / f".{SUMMARY_FILE}.tmp"
        data.to_netcdf(temp, engine="h5netcdf")
        os.replace(temp, self.path / SUMMARY_FILE)
        return data


def _read_sweep_json(path: Path):
    try:
        stored = json.loads((path / SWEEP_FILE).read_text())
    except FileNotFoundError:
        return None
    if stored.get("format") != FORMAT:
        raise ConfigurationError(f"{path / SWEEP_FILE} is not a pynn-multiscale sweep file "
                                 f"(format {stored.get('format')!r}). Fix: pass a sweep folder.")
    return stored


def _parameter_names(spec):
    if spec["mode"] == "grid":
        return sorted(spec["grid"])
    return sorted(spec["points"][0])


def _grid_text(spec):
    if spec["mode"] == "grid":
        text = ", ".join(f"{k}={v}" for k, v in spec["grid"].items())
    else:
        text = f"{len(spec['points'])} points"
    return f"{text}, seeds {spec['seeds']}"


def _append_new(old, new, key=lambda v: json.dumps(v, sort_keys=True)):
    seen = {key(v) for v in old}
    return list(old) + [v for v in new if key(v) not in seen]


def _union(old, new):
    """``old`` spec with ``new``'s values, points and seeds appended (old order first)."""
    from .points import _canonical

    merged = dict(old)
    if old["mode"] == "grid":
        merged["grid"] = {name: _append_new(values, new["grid"][name], _canonical)
                          for name, values in old["grid"].items()}
    else:
        merged["points"] = _append_new(
            old["points"], new["points"],
            lambda p: json.dumps({k: _canonical(v) for k, v in p.items()}, sort_keys=True))
    merged["seeds"] = _append_new(old["seeds"], new["seeds"], int)
    return merged
