"""The results format, in one place: what a results folder holds and how each file is written.

Both :meth:`Result.save <pynn_multiscale.results.Result.save>` and the streaming
:class:`~pynn_multiscale.store.ResultWriter` write through these functions, so
the schema, the attributes and the summary exist once::

    <path>/
        tvb.nc                    TVB monitors (netCDF4, written with h5netcdf)
        spiking_region_<i>.nix    one NIX file per spiking region
        connectivity.nc           structural connectivity (weights, tract lengths), if known
        metadata.json             human-readable copy of metadata and file list
        stream/                   only while a streamed run has not closed its results:
                                  its journal and part files (pynn_multiscale.journal)

Nothing is pickled, and a folder holding a pickle is refused on loading:
loading a results folder never runs code.

TVB dataset layout
------------------
One data variable per monitor ("Raw", "TemporalAverage", "Raw_1", ...), with
dims ``("<monitor>_time", "<monitor>_variable", "region", "mode")``. Time and
variable axes are per monitor because monitors sample at different periods
and record different variables (TVB's Raw monitor records every state
variable, the others only the model's variables of interest). The time
coordinate is in ms (``attrs["units"] == "ms"``); "variable" and "region" hold
names (str), "mode" holds ints. :func:`tvb_dataset` builds such a Dataset.
"""


from __future__ import annotations

import datetime
import json
import os
import uuid
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

import neo
import numpy as np
import quantities as pq
import xarray as xr
from neo.io import NixIO

from .errors import PynnMultiscaleError


__all__ = ["FORMAT_VERSION", "ResultIOError", "connectivity_dataset", "tvb_dataset"]

FORMAT_VERSION = 1
TVB_FILE = "tvb.nc"
METADATA_FILE = "metadata.json"
CONNECTIVITY_FILE = "connectivity.nc"
#: Present only while a streamed run has not closed its results (pynn_multiscale.journal).
STREAM_DIR = "stream"

PathLike = Union[str, "os.PathLike[str]"]

# Keys of the tvb.nc global attributes owned by this module.
ATTR_METADATA = "pynn_multiscale_metadata"
ATTR_COMPLETE = "pynn_multiscale_complete"
ATTR_REASON = "pynn_multiscale_reason"
ATTR_SPIKING = "pynn_multiscale_spiking_files"
ATTR_VERSION = "pynn_multiscale_format_version"
OWN_ATTRS = (ATTR_METADATA, ATTR_COMPLETE, ATTR_REASON, ATTR_SPIKING, ATTR_VERSION)
# Optional (absent from files written before the connectome was saved).
ATTR_CONNECTIVITY = "pynn_multiscale_connectivity_file"

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
        name = unique_name(str(name), data_vars)
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


def unique_name(name: str, taken: Mapping[str, Any]) -> str:
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


# --------------------------------------------------------------------------
# Files and directories
# --------------------------------------------------------------------------


def prepare_directory(path: PathLike) -> Path:
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


class Staging:
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


def stage_connectivity(staging: Staging, connectivity: xr.Dataset | None) -> str | None:
    """Write the connectivity Dataset (if any); return its file name."""
    if connectivity is None:
        return None
    connectivity.to_netcdf(staging.path(staging.directory / CONNECTIVITY_FILE), engine="h5netcdf")
    return CONNECTIVITY_FILE


def stage_spiking(staging: Staging, block: neo.Block, index: int) -> dict[str, Any]:
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
PICKLE_SUFFIXES = (".pkl", ".pickle")


def refuse_pickle(filename: Path) -> None:
    raise ResultIOError(
        f"Result.load: {filename} is a pickle, and unpickling runs whatever code the file "
        "holds, so a results folder with one is never loaded. Fix: if you trust its author, "
        "read the file yourself with neo.io.PickleIO, or have the run saved again with a "
        "current pynn_multiscale (NIX files only).")


def read_spiking(filename: Path, file_format: str) -> neo.Block:
    if not filename.is_file():
        raise FileNotFoundError(
            f"Result.load: {str(filename)!r} is listed in {TVB_FILE} but missing; the "
            "directory is incomplete (copy the whole directory written by Result.save())"
        )
    if file_format == "pickle":
        refuse_pickle(filename)
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
    return kind, to_json(payload)


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


def plain_json(value: Any, where: str) -> Any:
    """Copy of ``value`` with tuples, numpy arrays and numpy scalars made JSON types."""
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist()  # Python scalars, or nested lists of them
    elif isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        return [plain_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(
                    f"Result: {where} has the non-str key {key!r} (JSON keys are always str)"
                )
        return {key: plain_json(item, f"{where}[{key!r}]") for key, item in value.items()}
    problem = _json_problem(value, where)
    if problem is not None:
        raise TypeError(f"Result: {problem}")
    return value


def check_metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict):
        raise TypeError(f"Result: metadata must be a dict, got {type(metadata).__name__}")
    problem = _json_problem(metadata, "metadata")
    if problem is not None:
        raise TypeError(f"Result: {problem}")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, default=_json_default, indent=indent, ensure_ascii=False)


# --------------------------------------------------------------------------
# tvb.nc attributes and metadata.json: written by save and by the writer
# --------------------------------------------------------------------------


def tvb_attributes(metadata, complete, reason, spiking_files, connectivity_file) -> dict:
    """The global attributes of ``tvb.nc`` that :meth:`Result.load` reads back."""
    return {ATTR_METADATA: to_json(metadata), ATTR_COMPLETE: to_json(bool(complete)),
            ATTR_REASON: to_json(reason), ATTR_SPIKING: to_json(spiking_files),
            ATTR_VERSION: FORMAT_VERSION, ATTR_CONNECTIVITY: to_json(connectivity_file)}


def stage_summary(staging: Staging, *, complete, reason, monitors, spiking_files,
                  connectivity_file, metadata) -> None:
    """Write ``metadata.json``: the run's metadata, status and list of files, for people."""
    summary = {"format": "pynn_multiscale.Result", "format_version": FORMAT_VERSION,
               "complete": bool(complete), "reason": reason, "tvb_file": TVB_FILE,
               "tvb_monitors": [str(name) for name in monitors], "spiking_files": spiking_files,
               "connectivity_file": connectivity_file, "metadata": metadata}
    with open(staging.path(staging.directory / METADATA_FILE), "w", encoding="utf-8") as f:
        f.write(to_json(summary, indent=2) + "\n")


def stage_tvb(staging: Staging, dataset: xr.Dataset, attributes: dict,
              growing: bool = False) -> None:
    """Write ``tvb.nc`` from a :func:`tvb_dataset`; ``growing``: time axes that appends extend."""
    dataset = dataset.copy(deep=False)
    dataset.attrs = {**dataset.attrs, **attributes}
    kwargs = {}
    if growing:
        kwargs["unlimited_dims"] = [f"{name}_time" for name in dataset.data_vars]
        kwargs["encoding"] = {name: {"chunksizes": (64,) + dataset[name].shape[1:]}
                              for name in dataset.data_vars}
    dataset.to_netcdf(staging.path(staging.directory / TVB_FILE), engine="h5netcdf", **kwargs)


def read_result(path: PathLike) -> dict:
    """The arguments of :class:`~pynn_multiscale.results.Result` read from a results folder."""
    directory = Path(path)
    tvb_file = directory / TVB_FILE
    for name in sorted(directory.glob("*")) if directory.is_dir() else ():
        if name.suffix.lower() in PICKLE_SUFFIXES:
            refuse_pickle(name)
    if not tvb_file.is_file():
        raise FileNotFoundError(
            f"Result.load: path={str(path)!r} has no {TVB_FILE}: expected a directory "
            f"written by Result.save(), containing {TVB_FILE}, {METADATA_FILE} and "
            "spiking_region_<index>.nix files. Fix: pass the directory given to Result.save()."
        )
    with xr.open_dataset(tvb_file, engine="h5netcdf") as dataset:
        tvb = dataset.load()
    attrs = dict(tvb.attrs)
    missing = [key for key in OWN_ATTRS if key not in attrs]
    if missing:
        raise ResultIOError(
            f"Result.load(path={str(path)!r}): {tvb_file} lacks the attributes {missing}, "
            "so it was not written by Result.save(); open it with xarray.open_dataset instead"
        )
    if int(attrs[ATTR_VERSION]) > FORMAT_VERSION:
        raise ResultIOError(
            f"Result.load(path={str(path)!r}): format version {attrs[ATTR_VERSION]} is newer "
            f"than this pynn_multiscale understands ({FORMAT_VERSION}); upgrade pynn_multiscale"
        )
    tvb.attrs = {key: value for key, value in attrs.items()
                 if key not in OWN_ATTRS + (ATTR_CONNECTIVITY,)}
    connectivity = None
    connectivity_file = json.loads(attrs.get(ATTR_CONNECTIVITY, "null"))
    if connectivity_file is not None:
        if not (directory / connectivity_file).is_file():
            raise FileNotFoundError(
                f"Result.load: {str(directory / connectivity_file)!r} is listed in {TVB_FILE} "
                "but missing; the result directory is incomplete (copy the whole directory)")
        with xr.open_dataset(directory / connectivity_file, engine="h5netcdf") as dataset:
            connectivity = dataset.load()
    spiking = {
        int(index): read_spiking(directory / entry["file"], entry["format"])
        for index, entry in json.loads(attrs[ATTR_SPIKING]).items()
    }
    metadata = json.loads(attrs[ATTR_METADATA])
    if (directory / STREAM_DIR).is_dir():  # a run that did not close its results
        from .journal import recover

        recovered = recover(directory, tvb, spiking, metadata)
        if recovered is not None:
            return {**recovered, "connectivity": connectivity}
    return {"tvb": tvb, "spiking": spiking, "metadata": metadata,
            "complete": json.loads(attrs[ATTR_COMPLETE]),
            "reason": json.loads(attrs[ATTR_REASON]), "connectivity": connectivity}
