"""Results of a multiscale (TVB + spiking network) simulation, and their files.

A :class:`Result` holds everything a run produced: the TVB monitor traces as
an :class:`xarray.Dataset`, the spiking data of each spiking region as a
:class:`neo.Block`, the run's metadata, and whether the run completed.

:meth:`Result.save` writes a directory that plain xarray and neo can read::

    <path>/
        tvb.nc                    TVB monitors (netCDF4, written with h5netcdf)
        spiking_region_<i>.nix    one NIX file per spiking region
        spiking_region_<i>.pkl    (only if NIX cannot store that region's data)
        connectivity.nc           structural connectivity (weights, tract lengths), if known
        metadata.json             human-readable copy of metadata and file list

TVB dataset layout
------------------
One data variable per monitor ("Raw", "TemporalAverage", "Raw_1", ...), with
dims ``("<monitor>_time", "<monitor>_variable", "region", "mode")``. Time and
variable axes are per monitor because monitors sample at different periods
and record different variables (TVB's Raw monitor records every state
variable, the others only the model's variables of interest). The time
coordinate is in ms (``attrs["units"] == "ms"``); "variable" and "region" hold
names (str), "mode" holds ints. :func:`tvb_dataset` builds such a Dataset and
:meth:`Result.monitor` returns one monitor with plain dims
``("time", "variable", "region", "mode")``.
"""

from __future__ import annotations

import datetime
import json
import os
import uuid
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

import neo
import numpy as np
import quantities as pq
import xarray as xr
from neo.io import NixIO

from .errors import PynnMultiscaleError

__all__ = ["FORMAT_VERSION", "Result", "ResultIOError", "connectivity_dataset", "tvb_dataset"]

FORMAT_VERSION = 1
TVB_FILE = "tvb.nc"
METADATA_FILE = "metadata.json"
CONNECTIVITY_FILE = "connectivity.nc"

PathLike = Union[str, "os.PathLike[str]"]

# Keys of the tvb.nc global attributes owned by this module.
_ATTR_METADATA = "pynn_multiscale_metadata"
_ATTR_COMPLETE = "pynn_multiscale_complete"
_ATTR_REASON = "pynn_multiscale_reason"
_ATTR_SPIKING = "pynn_multiscale_spiking_files"
_ATTR_VERSION = "pynn_multiscale_format_version"
_OWN_ATTRS = (_ATTR_METADATA, _ATTR_COMPLETE, _ATTR_REASON, _ATTR_SPIKING, _ATTR_VERSION)
# Optional (absent from files written before the connectome was saved).
_ATTR_CONNECTIVITY = "pynn_multiscale_connectivity_file"

# Annotation added to neo objects in NIX files, recording what NIX alters.
_ENCODING_KEY = "pynn_multiscale_encoding"
_INT64 = np.iinfo(np.int64)
_NIX_ARRAY_DTYPES = ("<i8", "<f8", "|b1")  # array-annotation dtypes NIX keeps
_JSON_SCALARS = (bool, int, float, str, np.bool_, np.integer, np.floating)


class ResultIOError(PynnMultiscaleError, OSError):
    """A :class:`Result` could not be written to, or read from, a directory."""


class _NixUnsupported(Exception):
    """Raised when a value cannot be stored exactly in a NIX file."""


# --------------------------------------------------------------------------
# TVB dataset helpers
# --------------------------------------------------------------------------


def tvb_dataset(
    monitors: Iterable[tuple[str, Any, Any, Sequence[str]]],
    region_labels: Sequence[str],
) -> xr.Dataset:
    """Build the TVB Dataset stored in :attr:`Result.tvb`.

    Parameters
    ----------
    monitors
        One ``(name, time, data, variables)`` tuple per monitor: its name
        (e.g. ``"Raw"``), sample times in ms, data of shape
        ``(n_time, n_variable, n_region, n_mode)`` and the variable names.
        A repeated name gets a suffix: ``"Raw"``, ``"Raw_1"``, ``"Raw_2"``.
    region_labels
        Name of each region, in region-index order.

    Returns
    -------
    xarray.Dataset
        One data variable per monitor, laid out as described in the module
        docstring.

    Examples
    --------
    >>> import numpy as np
    >>> ds = tvb_dataset(
    ...     [("Raw", [0.0, 0.1], np.zeros((2, 1, 3, 1)), ["V"])],
    ...     region_labels=["A", "B", "C"],
    ... )
    >>> ds["Raw"].dims
    ('Raw_time', 'Raw_variable', 'region', 'mode')
    """
    labels = [str(label) for label in region_labels]
    data_vars: dict[str, xr.DataArray] = {}
    n_mode = None
    for name, time, data, variables in monitors:
        name = _unique_name(str(name), data_vars)
        time = np.asarray(time, dtype=float)
        data = np.asarray(data)
        variables = [str(v) for v in variables]
        expected = (time.size, len(variables), len(labels))
        if data.ndim != 4 or data.shape[:3] != expected:
            raise ValueError(
                f"monitor {name!r}: data has shape {data.shape}, expected "
                f"(n_time, n_variable, n_region, n_mode) = {expected[:3] + ('n_mode',)}; "
                "pass one time per sample, one name per variable and one label per region"
            )
        if n_mode is not None and data.shape[3] != n_mode:
            raise ValueError(
                f"monitor {name!r} has {data.shape[3]} modes but an earlier monitor has "
                f"{n_mode}; all monitors of one simulation must have the same modes"
            )
        n_mode = data.shape[3]
        t_dim, v_dim = f"{name}_time", f"{name}_variable"
        data_vars[name] = xr.DataArray(
            data,
            dims=(t_dim, v_dim, "region", "mode"),
            coords={
                t_dim: (t_dim, time, {"units": "ms"}),
                v_dim: variables,
                "region": labels,
                "mode": np.arange(n_mode),
            },
        )
    return xr.Dataset(data_vars)


def connectivity_dataset(weights, tract_lengths, region_labels) -> xr.Dataset:
    """The structural connectivity stored with a result (``connectivity.nc``).

    Parameters
    ----------
    weights, tract_lengths
        ``(n_region, n_region)`` arrays in TVB's convention: entry ``[i, j]``
        is the connection from region ``j`` to region ``i``.  Tract lengths
        in mm.
    region_labels
        Name of each region, in region-index order.

    Returns
    -------
    xarray.Dataset
        Data variables ``weights`` and ``tract_lengths`` with dims
        ``("target", "source")``, both labelled with the region names.

    Examples
    --------
    >>> ds = connectivity_dataset([[0, 1], [2, 0]], [[0, 10], [10, 0]], ["A", "B"])
    >>> float(ds["weights"].sel(target="B", source="A"))
    2.0
    """
    labels = [str(label) for label in region_labels]
    n = len(labels)
    arrays = {}
    for name, value in (("weights", weights), ("tract_lengths", tract_lengths)):
        value = np.asarray(value, dtype=float)
        if value.shape != (n, n):
            raise ValueError(f"connectivity_dataset: {name} has shape {value.shape}, expected "
                             f"({n}, {n}) for {n} region labels; pass square matrices")
        arrays[name] = (("target", "source"), value)
    dataset = xr.Dataset(arrays, coords={"target": labels, "source": labels})
    dataset["weights"].attrs["description"] = "connection strength from source to target (TVB)"
    dataset["tract_lengths"].attrs["units"] = "mm"
    return dataset


def _unique_name(name: str, taken: Mapping[str, Any]) -> str:
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


# --------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------


@dataclass(eq=False)
class Result:
    """Everything one multiscale simulation run produced.

    Parameters
    ----------
    tvb
        TVB monitor output, one data variable per monitor (see
        :func:`tvb_dataset` for the layout).
    spiking
        Region index -> :class:`neo.Block` with the spiking data recorded in
        that region. Neo objects are expected to carry the annotations
        ``region`` (int), ``region_label`` (str), ``population`` (str) and
        ``simulator`` (str).
    metadata
        JSON-compatible description of the run (simulator name and version,
        seeds, synchronisation interval, parameters...): ``None``, bool,
        int, float, str, list and dict with str keys, so that it loads back
        exactly. The constructor stores a converted copy in which tuples and
        numpy arrays are lists and numpy scalars are Python scalars.
    complete
        False if the run was interrupted before its end.
    reason
        Why the run is incomplete (None for a complete run).
    connectivity
        The TVB structural connectivity (see :func:`connectivity_dataset`),
        or None.

    Examples
    --------
    >>> import numpy as np
    >>> tvb = tvb_dataset([("Raw", [0.0], np.zeros((1, 1, 2, 1)), ["V"])], ["A", "B"])
    >>> result = Result(tvb, metadata={"seed": 42}, complete=False, reason="stopped")
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "run1")
    >>> result.save(path).name
    'run1'
    >>> Result.load(path).metadata, Result.load(path).complete
    ({'seed': 42}, False)
    """

    tvb: xr.Dataset
    spiking: dict[int, neo.Block] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    complete: bool = True
    reason: str | None = None
    connectivity: xr.Dataset | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.tvb, xr.Dataset):
            raise TypeError(f"Result: tvb must be an xarray.Dataset, got {type(self.tvb).__name__}")
        if not isinstance(self.spiking, Mapping):
            raise TypeError(
                f"Result: spiking must be a dict of region index -> neo.Block, "
                f"got {type(self.spiking).__name__}"
            )
        spiking = {}
        for index, block in self.spiking.items():
            if not isinstance(index, Integral) or isinstance(index, bool):
                raise TypeError(f"Result: spiking keys must be int region indices, got {index!r}")
            if not isinstance(block, neo.Block):
                raise TypeError(
                    f"Result: spiking[{index}] must be a neo.Block, got {type(block).__name__}"
                )
            spiking[int(index)] = block
        self.spiking = spiking
        if not isinstance(self.complete, (bool, np.bool_)):
            raise TypeError(f"Result: complete must be True or False, got {self.complete!r}")
        self.complete = bool(self.complete)
        if self.reason is not None and not isinstance(self.reason, str):
            raise TypeError(f"Result: reason must be a str or None, got {self.reason!r}")
        if not isinstance(self.metadata, dict):
            raise TypeError(f"Result: metadata must be a dict, got {type(self.metadata).__name__}")
        if self.connectivity is not None and not isinstance(self.connectivity, xr.Dataset):
            raise TypeError("Result: connectivity must be an xarray.Dataset (see "
                            f"connectivity_dataset) or None, got {type(self.connectivity).__name__}")
        self.metadata = _plain_json(self.metadata, "metadata")

    def __repr__(self) -> str:
        return (
            f"Result(complete={self.complete}, reason={self.reason!r}, "
            f"monitors={list(self.tvb.data_vars)}, spiking_regions={sorted(self.spiking)}, "
            f"metadata_keys={list(self.metadata)})"
        )

    def monitor(self, name: str) -> xr.DataArray:
        """Return one TVB monitor with dims ``("time", "variable", "region", "mode")``.

        Parameters
        ----------
        name
            Monitor name, i.e. a data variable of :attr:`tvb`.

        Returns
        -------
        xarray.DataArray
            The monitor's data with its per-monitor dims renamed.

        Examples
        --------
        >>> import numpy as np
        >>> tvb = tvb_dataset([("Raw", [0.0], np.zeros((1, 1, 2, 1)), ["V"])], ["A", "B"])
        >>> Result(tvb).monitor("Raw").dims
        ('time', 'variable', 'region', 'mode')
        """
        if name not in self.tvb.data_vars:
            raise KeyError(f"no TVB monitor {name!r}; available: {list(self.tvb.data_vars)}")
        renames = {f"{name}_time": "time", f"{name}_variable": "variable"}
        data = self.tvb[name]
        return data.rename({old: new for old, new in renames.items() if old in data.dims})

    def spiketrains(self, region: int, population: str) -> list[neo.SpikeTrain]:
        """One SpikeTrain per neuron of a population, in neuron order.

        Co-simulation results store one train per population, with each
        spike's neuron in the array annotation ``source_index`` (compact and
        fast to save); this splits it the way Elephant's per-neuron
        functions expect.

        Examples
        --------
        >>> import numpy as np
        >>> tvb = tvb_dataset([("Raw", [0.0], np.zeros((1, 1, 1, 1)), ["V"])], ["A"])
        >>> st = neo.SpikeTrain([1.0, 2.0, 3.0], units="ms", t_stop=10.0, population="E",
        ...                     size=2, array_annotations={"source_index": np.array([1, 0, 1])})
        >>> block = neo.Block(); block.segments.append(neo.Segment())
        >>> block.segments[0].spiketrains = [st]
        >>> [t.magnitude.tolist() for t in Result(tvb, {0: block}).spiketrains(0, "E")]
        [[2.0], [1.0, 3.0]]
        """
        if region not in self.spiking:
            raise KeyError(f"no spiking region {region!r}; available: {sorted(self.spiking)}")
        matches = [st for seg in self.spiking[region].segments for st in seg.spiketrains
                   if st.annotations.get("population") == population]
        if len(matches) != 1 or "source_index" not in matches[0].array_annotations:
            names = sorted({st.annotations.get("population") for seg in self.spiking[region].segments
                            for st in seg.spiketrains})
            raise KeyError(f"region {region} has no population train {population!r}; "
                           f"available: {names}")
        train = matches[0]
        index = np.asarray(train.array_annotations["source_index"])
        size = int(train.annotations.get("size", index.max() + 1 if index.size else 0))
        times = train.magnitude
        out = []
        for i in range(size):
            out.append(neo.SpikeTrain(times[index == i], units=train.units, t_start=train.t_start,
                                      t_stop=train.t_stop, name=f"{population}[{i}]",
                                      source_index=i, **{k: v for k, v in train.annotations.items()
                                                         if k != "size"}))
        return out

    # ------------------------------------------------------------------ save

    def save(self, path: PathLike) -> Path:
        """Write the result to the directory ``path`` (created if missing).

        Every file is first written under a temporary name in ``path`` and
        only renamed to its final name once all files are written, so an
        interrupted save never leaves a truncated file under a final name.
        ``tvb.nc`` is renamed last. Other files already in ``path`` are left
        alone; :meth:`load` reads only the files listed in ``tvb.nc``.

        Parameters
        ----------
        path
            Directory to write to.

        Returns
        -------
        pathlib.Path
            The directory written.

        Raises
        ------
        ResultIOError
            If ``path`` is an existing file, or cannot be created or written.
        TypeError
            If :attr:`metadata` does not round-trip through JSON.

        Examples
        --------
        >>> import tempfile, os, numpy as np
        >>> result = Result(tvb_dataset([("Raw", [0.0], np.zeros((1, 1, 1, 1)), ["V"])], ["A"]))
        >>> saved = result.save(os.path.join(tempfile.mkdtemp(), "run_001"))
        >>> sorted(p.name for p in saved.iterdir())
        ['metadata.json', 'tvb.nc']
        """
        directory = _prepare_directory(path)
        _check_metadata(self.metadata)
        staging = _Staging(directory)
        try:
            spiking_files = {}
            for index, block in sorted(self.spiking.items()):
                spiking_files[str(index)] = _stage_spiking(staging, block, index)
            connectivity_file = _stage_connectivity(staging, self.connectivity)
            summary = {
                "format": "pynn_multiscale.Result",
                "format_version": FORMAT_VERSION,
                "complete": self.complete,
                "reason": self.reason,
                "tvb_file": TVB_FILE,
                "tvb_monitors": [str(name) for name in self.tvb.data_vars],
                "spiking_files": spiking_files,
                "connectivity_file": connectivity_file,
                "metadata": self.metadata,
            }
            with open(staging.path(directory / METADATA_FILE), "w", encoding="utf-8") as f:
                f.write(_to_json(summary, indent=2) + "\n")

            dataset = self.tvb.copy(deep=False)
            dataset.attrs = {
                **self.tvb.attrs,
                _ATTR_METADATA: _to_json(self.metadata),
                _ATTR_COMPLETE: _to_json(self.complete),
                _ATTR_REASON: _to_json(self.reason),
                _ATTR_SPIKING: _to_json(spiking_files),
                _ATTR_VERSION: FORMAT_VERSION,
                _ATTR_CONNECTIVITY: _to_json(connectivity_file),
            }
            dataset.to_netcdf(staging.path(directory / TVB_FILE), engine="h5netcdf")
            staging.commit()
        finally:
            staging.discard_all()
        return directory

    # ------------------------------------------------------------------ load

    @classmethod
    def load(cls, path: PathLike) -> "Result":
        """Read a result written by :meth:`save`.

        All data are read into memory and the files are closed; the neo
        objects returned are ordinary neo objects.

        Parameters
        ----------
        path
            Directory given to :meth:`save`.

        Returns
        -------
        Result

        Raises
        ------
        FileNotFoundError
            If ``path`` has no ``tvb.nc`` or a listed spiking file is missing.
        ResultIOError
            If ``tvb.nc`` was not written by :meth:`save`.

        Examples
        --------
        >>> import tempfile, os, numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "run_001")
        >>> _ = Result(tvb_dataset([("Raw", [0.0], np.zeros((1, 1, 1, 1)), ["V"])], ["A"])).save(path)
        >>> result = Result.load(path)
        >>> result.complete, sorted(result.spiking)
        (True, [])
        """
        directory = Path(path)
        tvb_file = directory / TVB_FILE
        for name in sorted(directory.glob("*")) if directory.is_dir() else ():
            if name.suffix.lower() in _PICKLE_SUFFIXES:
                _refuse_pickle(name)
        if not tvb_file.is_file():
            raise FileNotFoundError(
                f"Result.load: path={str(path)!r} has no {TVB_FILE}: expected a directory "
                f"written by Result.save(), containing {TVB_FILE}, {METADATA_FILE} and "
                "spiking_region_<index>.nix files. Fix: pass the directory given to Result.save()."
            )
        with xr.open_dataset(tvb_file, engine="h5netcdf") as dataset:
            tvb = dataset.load()
        attrs = dict(tvb.attrs)
        missing = [key for key in _OWN_ATTRS if key not in attrs]
        if missing:
            raise ResultIOError(
                f"Result.load(path={str(path)!r}): {tvb_file} lacks the attributes {missing}, "
                "so it was not written by Result.save(); open it with xarray.open_dataset instead"
            )
        if int(attrs[_ATTR_VERSION]) > FORMAT_VERSION:
            raise ResultIOError(
                f"Result.load(path={str(path)!r}): format version {attrs[_ATTR_VERSION]} is newer "
                f"than this pynn_multiscale understands ({FORMAT_VERSION}); upgrade pynn_multiscale"
            )
        tvb.attrs = {key: value for key, value in attrs.items()
                     if key not in _OWN_ATTRS + (_ATTR_CONNECTIVITY,)}
        connectivity = None
        connectivity_file = json.loads(attrs.get(_ATTR_CONNECTIVITY, "null"))
        if connectivity_file is not None:
            if not (directory / connectivity_file).is_file():
                raise FileNotFoundError(
                    f"Result.load: {str(directory / connectivity_file)!r} is listed in {TVB_FILE} "
                    "but missing; the result directory is incomplete (copy the whole directory)")
            with xr.open_dataset(directory / connectivity_file, engine="h5netcdf") as dataset:
                connectivity = dataset.load()
        spiking = {
            int(index): _read_spiking(directory / entry["file"], entry["format"])
            for index, entry in json.loads(attrs[_ATTR_SPIKING]).items()
        }
        return cls(
            tvb=tvb,
            spiking=spiking,
            metadata=json.loads(attrs[_ATTR_METADATA]),
            complete=json.loads(attrs[_ATTR_COMPLETE]),
            reason=json.loads(attrs[_ATTR_REASON]),
            connectivity=connectivity,
        )


# --------------------------------------------------------------------------
# Files and directories
# --------------------------------------------------------------------------


def _prepare_directory(path: PathLike) -> Path:
    """Create the directory ``path`` and check that it is writable."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"Result.save: path={path!r} is invalid: expected a str or os.PathLike, got "
            f"{type(path).__name__}. Fix: pass the directory to write as a str or pathlib.Path."
        )
    directory = Path(path)
    where = f"Result.save: path={str(path)!r} is invalid"
    if directory.exists() and not directory.is_dir():
        raise ResultIOError(
            f"{where}: expected a directory (created if missing), but it is an existing file. "
            "Fix: pass the path of a directory, or move the file out of the way."
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultIOError(
            f"{where}: the directory cannot be created ({exc.strerror or exc}). "
            "Fix: pass a path whose existing parents are directories you can write to."
        ) from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ResultIOError(
            f"{where}: the directory is not writable. "
            "Fix: pass a directory you can write to, or change its permissions."
        )
    return directory


class _Staging:
    """Temporary files in one directory, renamed to their final names together."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.staged: list[tuple[Path, Path]] = []

    def path(self, final: Path) -> Path:
        """Return a fresh temporary path that :meth:`commit` renames to ``final``."""
        temp = self.directory / f".{final.name}.{uuid.uuid4().hex[:12]}.tmp"
        self.staged.append((temp, final))
        return temp

    def discard(self, temp: Path) -> None:
        """Delete one temporary file and forget it."""
        self.staged = [(t, f) for t, f in self.staged if t != temp]
        temp.unlink(missing_ok=True)

    def commit(self) -> None:
        for temp, _ in self.staged:
            with open(temp, "rb") as f:
                os.fsync(f.fileno())
        for temp, final in self.staged:
            os.replace(temp, final)
        self.staged = []

    def discard_all(self) -> None:
        for temp, _ in self.staged:
            temp.unlink(missing_ok=True)
        self.staged = []


def _stage_connectivity(staging: _Staging, connectivity: xr.Dataset | None) -> str | None:
    """Write the connectivity Dataset (if any); return its file name."""
    if connectivity is None:
        return None
    connectivity.to_netcdf(staging.path(staging.directory / CONNECTIVITY_FILE), engine="h5netcdf")
    return CONNECTIVITY_FILE


def _stage_spiking(staging: _Staging, block: neo.Block, index: int) -> dict[str, Any]:
    """Write one region's block as NIX; refuse, naming it, what NIX cannot hold."""
    final = staging.directory / f"spiking_region_{index}.nix"
    temp = staging.path(final)
    try:
        _write_nix(block, temp)
        return {"file": final.name, "format": "nix"}
    except OSError:
        raise
    except Exception as exc:  # neo/nixio raise assorted types for unsupported data
        staging.discard(temp)
        problem = str(exc) if isinstance(exc, _NixUnsupported) else f"{type(exc).__name__}: {exc}"
    raise ResultIOError(
        f"Result.save: the spiking data of region {index} cannot be stored in NIX ({problem}). "
        "A results folder is read by others, and loading it must not run code, so there is "
        "no pickle fallback. Fix: make that annotation a number, a string, or a list or dict "
        "of them, or remove it before saving.")


#: File names that hold pickles, refused by :meth:`Result.load`.
_PICKLE_SUFFIXES = (".pkl", ".pickle")


def _refuse_pickle(filename: Path) -> None:
    raise ResultIOError(
        f"Result.load: {filename} is a pickle, and unpickling runs whatever code the file "
        "holds, so a results folder with one is never loaded. Fix: if you trust its author, "
        "read the file yourself with neo.io.PickleIO, or have the run saved again with a "
        "current pynn_multiscale (NIX files only).")


def _read_spiking(filename: Path, file_format: str) -> neo.Block:
    if not filename.is_file():
        raise FileNotFoundError(
            f"Result.load: {str(filename)!r} is listed in {TVB_FILE} but missing; the "
            "directory is incomplete (copy the whole directory written by Result.save())"
        )
    if file_format == "pickle":
        _refuse_pickle(filename)
    if file_format != "nix":
        raise ResultIOError(
            f"Result.load: unknown spiking file format {file_format!r} for {filename}"
        )
    with NixIO(str(filename), mode="ro") as io:
        block = io.read_block()
    for obj in _neo_objects(block):
        _decode_from_nix(obj)
    return block


# --------------------------------------------------------------------------
# NIX encoding of neo annotations
# --------------------------------------------------------------------------
#
# NIX stores scalars faithfully, but turns dicts into lists of their keys,
# rejects None, mixed lists and big ints, drops nested lists with only a log
# message, returns one-element lists as scalars, tuples and arrays as lists,
# array annotations as int64/float64, names None as "", drops file_origin
# and the microseconds of rec_datetime. So only scalars are stored natively;
# everything else is stored as JSON text, and what must be undone on reading
# is recorded in one JSON annotation, _ENCODING_KEY, on the object.


def _neo_objects(block: neo.Block) -> list[Any]:
    """The block and every object below it, each once."""
    unique = {id(block): block}
    for obj in block.children_recur:
        unique.setdefault(id(obj), obj)
    return list(unique.values())


def _write_nix(block: neo.Block, filename: Path) -> None:
    """Write ``block`` with NixIO, encoding annotations without altering ``block``."""
    objects = _neo_objects(block)
    originals = [obj.annotations for obj in objects]
    try:
        for obj in objects:
            obj.annotations = _encode_for_nix(obj)  # NixIO also adds "nix_name" here
        with NixIO(str(filename), mode="ow") as io:
            io.write_block(block)
    finally:
        for obj, annotations in zip(objects, originals):
            obj.annotations = annotations


def _encode_for_nix(obj: Any) -> dict[str, Any]:
    stored: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    for key, value in obj.annotations.items():
        if key in ("nix_name", _ENCODING_KEY):
            continue
        kind, stored[key] = _encode_annotation(value, f"{type(obj).__name__} annotation {key!r}")
        if kind is not None:
            kinds[key] = kind
    dtypes = {
        key: array.dtype.str
        for key, array in getattr(obj, "array_annotations", {}).items()
        if array.dtype.str not in _NIX_ARRAY_DTYPES
    }
    attrs: dict[str, Any] = {}
    if getattr(obj, "name", "") is None:
        attrs["name"] = None
    if getattr(obj, "file_origin", None) is not None:
        attrs["file_origin"] = str(obj.file_origin)
    if getattr(obj, "rec_datetime", None) is not None:
        attrs["rec_datetime"] = obj.rec_datetime.isoformat()
    encoding = {"annotations": kinds, "array_dtypes": dtypes, "attrs": attrs}
    encoding = {name: part for name, part in encoding.items() if part}
    if encoding:
        stored[_ENCODING_KEY] = json.dumps(encoding)
    return stored


def _encode_annotation(value: Any, where: str) -> tuple[str | None, Any]:
    """Return ``(kind, stored value)``; kind None means NIX stores it natively."""
    if isinstance(value, (bool, np.bool_, float, np.floating, str)):
        return None, value
    if isinstance(value, (int, np.integer)) and _INT64.min <= value <= _INT64.max:
        return None, value
    if isinstance(value, datetime.date) and getattr(value, "tzinfo", None) is None:
        return None, value
    if isinstance(value, pq.Quantity):
        units = value.dimensionality.string
        kind, payload = "quantity", {"units": units, **_array_payload(value.magnitude, where)}
    elif isinstance(value, np.ndarray):
        kind, payload = "ndarray", _array_payload(value, where)
    elif isinstance(value, tuple):
        kind, payload = "tuple", list(value)
    else:
        kind, payload = "json", value
    problem = _json_problem(payload, where)
    if problem is not None:
        raise _NixUnsupported(problem)
    return kind, _to_json(payload)


def _array_payload(array: np.ndarray, where: str) -> dict[str, Any]:
    if array.dtype.kind not in "biufU":
        raise _NixUnsupported(f"{where} is an array of {array.dtype}, which JSON cannot store")
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": array.ravel().tolist()}


def _decode_from_nix(obj: Any) -> None:
    """Undo, in place, what :func:`_encode_for_nix` and NIX did to ``obj``."""
    annotations = obj.annotations
    annotations.pop("nix_name", None)
    encoding = json.loads(annotations.pop(_ENCODING_KEY, "{}"))
    for key, value in annotations.items():
        annotations[key] = value.item() if isinstance(value, np.generic) else value
    for key, kind in encoding.get("annotations", {}).items():
        annotations[key] = _decode_annotation(kind, annotations[key])
    for key, dtype in encoding.get("array_dtypes", {}).items():
        obj.array_annotations[key] = obj.array_annotations[key].astype(dtype)
    for attr, value in encoding.get("attrs", {}).items():
        if attr == "rec_datetime":
            value = datetime.datetime.fromisoformat(value)
        setattr(obj, attr, value)


def _decode_annotation(kind: str, text: str) -> Any:
    payload = json.loads(text)
    if kind == "json":
        return payload
    if kind == "tuple":
        return tuple(payload)
    array = np.array(payload["data"], dtype=payload["dtype"]).reshape(payload["shape"])
    if kind == "ndarray":
        return array
    if kind == "quantity":
        return pq.Quantity(array, payload["units"])
    raise ResultIOError(f"Result.load: unknown annotation encoding {kind!r}")


# --------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------


def _json_problem(value: Any, where: str) -> str | None:
    """Describe why ``value`` would not load back equal from JSON, or None."""
    if value is None or isinstance(value, _JSON_SCALARS):
        return None
    if isinstance(value, list):
        for i, item in enumerate(value):
            problem = _json_problem(item, f"{where}[{i}]")
            if problem is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has the non-str key {key!r} (JSON keys are always str)"
            problem = _json_problem(item, f"{where}[{key!r}]")
            if problem is not None:
                return problem
        return None
    if isinstance(value, tuple):
        return f"{where} is a tuple, which would load back as a list; use a list"
    return (
        f"{where} is a {type(value).__name__}, which JSON cannot store; "
        "use None, bool, int, float, str, list or dict"
    )


def _plain_json(value: Any, where: str) -> Any:
    """Copy of ``value`` with tuples, numpy arrays and numpy scalars made JSON types."""
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist()  # Python scalars, or nested lists of them
    elif isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        return [_plain_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(
                    f"Result: {where} has the non-str key {key!r} (JSON keys are always str)"
                )
        return {key: _plain_json(item, f"{where}[{key!r}]") for key, item in value.items()}
    problem = _json_problem(value, where)
    if problem is not None:
        raise TypeError(f"Result: {problem}")
    return value


def _check_metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict):
        raise TypeError(f"Result: metadata must be a dict, got {type(metadata).__name__}")
    problem = _json_problem(metadata, "metadata")
    if problem is not None:
        raise TypeError(f"Result: {problem}")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _to_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, default=_json_default, indent=indent, ensure_ascii=False)
