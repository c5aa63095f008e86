"""A streamed run's windows on disk as they complete: the journal and the parts.

``run(out=DIR)`` keeps, while it runs, a ``stream/`` folder in ``DIR``:

* ``journal_<n>.bin``: one record appended per completed window (its TVB
  monitor samples and its spikes), in one ``write`` call.  A record starts
  with a magic number, its length and its CRC-32, so a record that a kill
  cut short is recognised and ignored on reading.  The file starts with a
  JSON header that describes the records (monitors, variables, regions,
  populations), so it reads without anything else.
* ``part_<n>.nc``: every ``flush_windows`` windows, those windows as one
  netCDF file (written under a temporary name, flushed to disk, then
  renamed), after which the journal starts again.  A part holds each
  monitor as in ``tvb.nc`` and each population's spikes as
  ``spikes_<k>_time`` and ``spikes_<k>_index`` with the population in the
  attributes; ``xarray.open_dataset`` reads it.

At the end of the run, or when it stops on an exception, Ctrl-C or SIGTERM,
the parts become ``tvb.nc`` and ``spiking_region_<i>.nix`` (the layout of
:meth:`Result.save <pynn_multiscale.results.Result.save>`) and ``stream/``
is removed.  If the process is killed instead, ``tvb.nc`` still says
``"running"`` and ``stream/`` holds every window up to the last one
completed: :func:`recover` reads it back (:meth:`Result.load` does this by
itself), marked incomplete with the time it reached.

Nothing here unpickles or evaluates anything: records are read with
``numpy.frombuffer`` and the headers with ``json``.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .fileformat import STREAM_DIR
MAGIC = b"PMSW"
#: A record's head: magic, payload length, CRC-32 of the payload.
RECORD = struct.Struct("<4sQI")
#: A journal's head: magic, header length (the JSON header follows).
HEADER = struct.Struct("<4sQ")
JOURNAL_MAGIC = b"PMSJ"
_WINDOW = struct.Struct("<qd")  # window index, end time (ms)
_COUNT = struct.Struct("<q")


class Schema:
    """What the records of one run hold, in their order.

    Parameters
    ----------
    monitors : list of (name, list of str)
        Each TVB monitor's (unique) name and recorded variables.
    region_labels : list of str
    n_mode : int
    populations : list of dict
        One per recorded population, in record order: ``slot``, ``region``
        (index), ``label``, ``population`` (name), ``size``.
    simulator : str
    signals : list of dict, optional
        One per population whose analog signals the backend reads window by
        window, in record order: the backend's ``signal_layout`` (PyNN
        label, cell ids, ``channel_index``, sampling period, ``t_start`` and,
        per variable, its units and initial values).
    signal_pieces : dict, optional
        ``"slot/name"`` of a recorded population -> its pieces
        ``[[k, cells or None], ...]``, ``k`` an index into ``signals``.
    """

    def __init__(self, monitors, region_labels, n_mode, populations, simulator, signals=(),
                 signal_pieces=None):
        self.monitors = [(str(name), [str(v) for v in variables]) for name, variables in monitors]
        self.region_labels = [str(label) for label in region_labels]
        self.n_mode = int(n_mode)
        self.populations = [dict(p) for p in populations]
        self.simulator = str(simulator)
        self.signals = [dict(layout) for layout in signals]
        self.signal_pieces = dict(signal_pieces or {})

    def to_json(self) -> str:
        return json.dumps({"monitors": self.monitors, "region_labels": self.region_labels,
                           "n_mode": self.n_mode, "populations": self.populations,
                           "simulator": self.simulator, "signals": self.signals,
                           "signal_pieces": self.signal_pieces})

    @classmethod
    def from_json(cls, text: str) -> "Schema":
        d = json.loads(text)
        return cls(d["monitors"], d["region_labels"], d["n_mode"], d["populations"],
                   d["simulator"], d.get("signals", ()), d.get("signal_pieces"))

    def signal_variables(self, k: int) -> list:
        return list(self.signals[k]["variables"])

    def sample_shape(self, m: int) -> tuple:
        return (len(self.monitors[m][1]), len(self.region_labels), self.n_mode)


def encode_window(index: int, time: float, samples, spikes, signals=()) -> bytes:
    """One window as a journal record.

    ``samples``: per monitor, a list of ``(time, data)``; ``spikes``: per
    population of the schema, ``(times, indices)``; ``signals``: per signal
    layout of the schema, the samples read in the window as ``(times,
    senders, {variable: values})``.
    """
    chunks = [_WINDOW.pack(int(index), float(time))]
    for smp in samples:
        chunks.append(_COUNT.pack(len(smp)))
        if smp:
            chunks.append(np.asarray([t for t, _ in smp], dtype="<f8").tobytes())
            chunks.append(np.asarray([d for _, d in smp], dtype="<f8").tobytes())
    for times, indices in spikes:
        chunks.append(_COUNT.pack(len(times)))
        chunks.append(np.asarray(times, dtype="<f8").tobytes())
        chunks.append(np.asarray(indices, dtype="<i8").tobytes())
    for times, senders, values in signals:
        chunks.append(_COUNT.pack(len(times)))
        chunks.append(np.asarray(times, dtype="<f8").tobytes())
        chunks.append(np.asarray(senders, dtype="<i8").tobytes())
        chunks.extend(np.asarray(v, dtype="<f8").tobytes() for v in values.values())
    payload = b"".join(chunks)
    return RECORD.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def _decode_window(schema: Schema, payload: bytes):
    index, time = _WINDOW.unpack_from(payload, 0)
    offset = _WINDOW.size
    samples, spikes = [], []

    def take(n, dtype, shape=()):
        nonlocal offset
        count = n * int(np.prod(shape, dtype=np.int64))
        array = np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(
            (n,) + tuple(shape))
        offset += array.nbytes
        return array

    for m in range(len(schema.monitors)):
        (n,) = _COUNT.unpack_from(payload, offset)
        offset += _COUNT.size
        samples.append((take(n, "<f8"), take(n, "<f8", schema.sample_shape(m))))
    for _ in schema.populations:
        (n,) = _COUNT.unpack_from(payload, offset)
        offset += _COUNT.size
        spikes.append((take(n, "<f8"), take(n, "<i8")))
    signals = []
    for k in range(len(schema.signals)):
        (n,) = _COUNT.unpack_from(payload, offset)
        offset += _COUNT.size
        times, senders = take(n, "<f8"), take(n, "<i8")
        signals.append((times, senders,
                        {name: take(n, "<f8") for name in schema.signal_variables(k)}))
    return index, time, samples, spikes, signals


class Journal:
    """An append-only file of window records (see the module docstring)."""

    def __init__(self, path: Path, schema: Schema, base: dict):
        self.path = Path(path)
        header = json.dumps({"schema": json.loads(schema.to_json()), "base": base}).encode()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        os.write(self._fd, HEADER.pack(JOURNAL_MAGIC, len(header)) + header)

    def append(self, record: bytes) -> None:
        view = memoryview(record)
        while view:  # one call in practice; a short write is continued
            view = view[os.write(self._fd, view):]

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_journal(path: Path):
    """The schema, base and intact records of a journal, in order (stops at a torn one).

    The base is where the run's earlier output ends: ``{"window", "time_ms"}``.
    """
    data = Path(path).read_bytes()
    if len(data) < HEADER.size:
        return None, None, []
    magic, n = HEADER.unpack_from(data, 0)
    if magic != JOURNAL_MAGIC or len(data) < HEADER.size + n:
        return None, None, []
    header = json.loads(data[HEADER.size:HEADER.size + n].decode())
    schema = Schema.from_json(json.dumps(header["schema"]))
    offset, records = HEADER.size + n, []
    while offset + RECORD.size <= len(data):
        magic, length, crc = RECORD.unpack_from(data, offset)
        start = offset + RECORD.size
        payload = data[start:start + length]
        if magic != MAGIC or len(payload) < length or zlib.crc32(payload) != crc:
            break  # the window being written when the process stopped
        records.append(_decode_window(schema, payload))
        offset = start + length
    return schema, header["base"], records


# ----------------------------------------------------------------------- parts


def part_dataset(schema: Schema, base: dict, first: int, last: int, time: float, samples,
                 spikes, signals=()):
    """Windows ``first..last`` as an xarray Dataset (``samples``/``spikes``/``signals`` as in
    the records, concatenated over the windows)."""
    import xarray as xr

    from .fileformat import tvb_dataset

    monitors = [(name, t, d, variables)
                for (name, variables), (t, d) in zip(schema.monitors, samples)]
    dataset = tvb_dataset(monitors, schema.region_labels)
    for k, (pop, (times, indices)) in enumerate(zip(schema.populations, spikes)):
        dim = f"spikes_{k}"
        dataset[f"{dim}_time"] = xr.Variable(dim, np.asarray(times, dtype=float),
                                             {"units": "ms", **_pop_attrs(pop)})
        dataset[f"{dim}_index"] = xr.Variable(dim, np.asarray(indices, dtype=np.int64),
                                              _pop_attrs(pop))
    for k, (times, senders, values) in enumerate(signals):
        dim, attrs = f"signal_{k}", {"population": schema.signals[k]["population"]}
        dataset[f"{dim}_time"] = xr.Variable(dim, np.asarray(times, dtype=float),
                                             {"units": "ms", **attrs})
        dataset[f"{dim}_sender"] = xr.Variable(dim, np.asarray(senders, dtype=np.int64), attrs)
        for name in schema.signal_variables(k):
            dataset[f"{dim}_{name}"] = xr.Variable(
                dim, np.asarray(values[name], dtype=float),
                {"units": schema.signals[k]["variables"][name]["units"], **attrs})
    dataset.attrs = {"pynn_multiscale_part": json.dumps(
        {"first_window": int(first), "last_window": int(last), "time_ms": float(time),
         "base": base}),
        "pynn_multiscale_schema": schema.to_json()}
    return dataset


def _pop_attrs(pop) -> dict:
    return {"region": int(pop["region"]), "region_label": str(pop["label"]),
            "population": str(pop["population"]), "size": int(pop["size"])}


def write_part(directory: Path, seq: int, dataset) -> Path:
    """Write a part under a temporary name, flush it to disk, and rename it into place."""
    from .fileformat import Staging

    staging = Staging(Path(directory))
    final = Path(directory) / f"part_{seq:06d}.nc"
    try:
        dataset.to_netcdf(staging.path(final), engine="h5netcdf")
        staging.commit()
    finally:
        staging.discard_all()
    return final


def _read_part(path: Path):
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as dataset:
        dataset = dataset.load()
    info = json.loads(dataset.attrs["pynn_multiscale_part"])
    schema = Schema.from_json(dataset.attrs["pynn_multiscale_schema"])
    samples = []
    for name, _ in schema.monitors:
        samples.append((dataset[f"{name}_time"].values, dataset[name].values))
    spikes = [(dataset[f"spikes_{k}_time"].values, dataset[f"spikes_{k}_index"].values)
              for k in range(len(schema.populations))]
    signals = [(dataset[f"signal_{k}_time"].values, dataset[f"signal_{k}_sender"].values,
                {name: dataset[f"signal_{k}_{name}"].values
                 for name in schema.signal_variables(k)})
               for k in range(len(schema.signals))]
    return schema, info, samples, spikes, signals


def stream_pieces(directory: Path, parts_only: bool = False):
    """The windows in a ``stream/`` folder, in order: parts first, then the journals.

    Yields ``(schema, base, last_window, time_ms, samples, spikes, signals)`` per part
    or journal record, one at a time (memory holds one part).  The windows
    are contiguous from the base (where ``tvb.nc`` ended when the run
    began); a window missing from both parts and journals ends the reading.
    """
    directory = Path(directory)
    expected = None
    for path in sorted(directory.glob("part_*.nc")):
        schema, info, samples, spikes, signals = _read_part(path)
        if expected is not None and info["first_window"] != expected:
            return
        expected = info["last_window"] + 1
        yield (schema, info["base"], info["last_window"], info["time_ms"], samples, spikes,
               signals)
    if parts_only:
        return
    for path in sorted(directory.glob("journal_*.bin")):
        schema, base, records = read_journal(path)
        if schema is None:
            continue
        for index, end, samples, spikes, signals in records:
            if expected is None:
                expected = base["window"]
            if index < expected:
                continue  # also in a part (the journal outlived its part by a kill)
            if index > expected:
                return
            expected = index + 1
            yield schema, base, index, end, [(t, d) for t, d in samples], spikes, signals


def read_stream(directory: Path):
    """Every window of a ``stream/`` folder, concatenated.

    Returns ``(schema, base, n_windows, time_ms, samples, spikes, signals)``,
    with ``n_windows`` counted from the run's first window; None for an empty
    stream.
    """
    pieces, schema, base, last, time = [], None, None, None, None
    for schema_, base_, last, time, samples, spikes, signals in stream_pieces(directory):
        schema, base = schema or schema_, base or base_
        pieces.append((samples, spikes, signals))
    if schema is None:  # killed before its first window was recorded
        for path in sorted(Path(directory).glob("journal_*.bin")):
            schema, base, _ = read_journal(path)
            if schema is not None:
                last, time = base["window"] - 1, base["time_ms"]
                break
        else:
            return None
    samples = []
    for m in range(len(schema.monitors)):
        times = [np.empty(0)] + [p[0][m][0] for p in pieces]
        data = [np.empty((0,) + schema.sample_shape(m))] + [p[0][m][1] for p in pieces]
        samples.append((np.concatenate(times), np.concatenate(data)))
    spikes = []
    for k in range(len(schema.populations)):
        spikes.append((np.concatenate([np.empty(0)] + [p[1][k][0] for p in pieces]),
                       np.concatenate([np.empty(0, np.int64)] + [p[1][k][1] for p in pieces])))
    signals = []
    for k in range(len(schema.signals)):
        signals.append((np.concatenate([np.empty(0)] + [p[2][k][0] for p in pieces]),
                        np.concatenate([np.empty(0, np.int64)] + [p[2][k][1] for p in pieces]),
                        {name: np.concatenate([np.empty(0)] + [p[2][k][2][name] for p in pieces])
                         for name in schema.signal_variables(k)}))
    return schema, base, last + 1, time, samples, spikes, signals


def spiking_block(region: int, label: str, simulator: str, trains, t_stop: float):
    """One region's ``neo.Block``: one SpikeTrain per population, each spike's neuron index as
    the array annotation ``source_index`` (sorted by time, then index).

    ``trains``: ``(population, size, times, indices)`` per population.
    """
    import neo

    block = neo.Block(name=f"region {region} ({label})", region=region, region_label=label,
                      simulator=simulator)
    segment = neo.Segment(name="co-simulation")
    block.segments.append(segment)
    out = []
    for name, size, times, index in trains:
        times = np.asarray(times, dtype=float)
        index = np.asarray(index, dtype=np.int64)
        order = np.lexsort((index, times))
        out.append(neo.SpikeTrain(
            times[order], units="ms", t_start=0.0, t_stop=t_stop, name=name,
            array_annotations={"source_index": index[order]}, region=region,
            region_label=label, population=name, size=int(size), simulator=simulator))
    segment.spiketrains = out
    return block


def recover(directory: Path, tvb, spiking: dict, metadata: dict):
    """Add the windows of ``directory/stream`` to what ``tvb.nc`` and the NIX files hold.

    ``tvb``, ``spiking``: as read from ``tvb.nc`` and the NIX files it lists.
    Returns the arguments of :class:`~pynn_multiscale.results.Result`
    (incomplete, with the time reached), or None when the stream is empty.
    """
    import xarray as xr

    from .fileformat import tvb_dataset

    found = read_stream(Path(directory) / STREAM_DIR)
    if found is None:
        return None
    schema, base, n_windows, time, samples, spikes, signals = found
    monitors = [(name, t, d, variables)
                for (name, variables), (t, d) in zip(schema.monitors, samples)]
    streamed = tvb_dataset(monitors, schema.region_labels)
    merged = {name: xr.concat([tvb[name], streamed[name]], dim=f"{name}_time")
              if name in tvb.data_vars else streamed[name] for name in streamed.data_vars}
    tvb = xr.Dataset(merged, attrs=tvb.attrs)
    by_region = {}
    for pop, (times, indices) in zip(schema.populations, spikes):
        before = _earlier_spikes(spiking.get(pop["region"]), pop["population"], base["time_ms"])
        by_region.setdefault((pop["region"], pop["label"]), []).append(
            (pop["population"], pop["size"], np.concatenate([before[0], times]),
             np.concatenate([before[1], indices])))
    blocks = {region: spiking_block(region, label, schema.simulator, trains, time)
              for (region, label), trains in by_region.items()}
    _recover_signals(schema, base, signals, spiking, blocks)
    reason = (f"the run did not close its results: its process was killed (or ran out of "
              f"memory), or it is still running. {n_windows - base['window']} windows after "
              f"t = {base['time_ms']:g} ms were recovered from {STREAM_DIR}/, up to t = "
              f"{time:g} ms")
    return {"tvb": tvb, "spiking": blocks, "metadata": dict(metadata, duration_ms=time),
            "complete": False, "reason": reason}


def _earlier_spikes(block, population, until):
    """A population's spikes up to ``until`` (ms) in a block read from NIX (earlier runs)."""
    if block is None:
        return np.empty(0), np.empty(0, np.int64)
    for train in block.segments[0].spiketrains:
        if train.annotations.get("population") == population:
            t = train.rescale("ms").magnitude
            keep = t <= until + 1e-9
            return t[keep], np.asarray(train.array_annotations["source_index"])[keep]
    return np.empty(0), np.empty(0, np.int64)


class _Whole:
    """A recorded whole population of a schema's signals (its index and size)."""

    def __init__(self, k, size):
        self.k, self.size = k, size


def _recover_signals(schema, base, signals, spiking, blocks) -> None:
    """Add each recorded population's analog signals, as the run would have, to ``blocks``.

    Each sample goes to its row of the sampling grid (time / interval) and
    its cell's column.  The rows the NIX file of the earlier ``run()`` calls
    holds come from there (a NIX file rewritten during this run holds some
    of this run's too); the stream adds the rows after them, up to the first
    row some cell has no sample for.  Without an earlier file, row 0 is each
    cell's initial value, as the run puts it.
    """
    import neo
    import quantities as pq

    from .recording import signals_of_pieces

    whole = {}

    def signals_of(piece):
        if piece.k not in whole:
            layout, (times, senders, values) = schema.signals[piece.k], signals[piece.k]
            first, rows = _grid_rows(layout, times, senders, values, not base["window"])
            period = layout["sampling_period"]
            whole[piece.k] = [
                neo.AnalogSignal(
                    rows[name], units=meta["units"],
                    t_start=(layout["t_start"] + first * period) * pq.ms,
                    sampling_period=period * pq.ms, name=name,
                    channel_ids=np.asarray(layout["ids"], dtype=np.int64),
                    source_population=layout["population"],
                    array_annotations={"channel_index": np.asarray(layout["channel_index"],
                                                                   dtype=np.int64)})
                for name, meta in layout["variables"].items()]
        return whole[piece.k]

    for key, pieces in schema.signal_pieces.items():
        slot, name = key.split("/", 1)
        pop = next(p for p in schema.populations
                   if p["slot"] == int(slot) and p["population"] == name)
        region, label = pop["region"], pop["label"]
        block = blocks.get(region)
        if block is None:
            continue
        parts = [(_Whole(k, schema.signals[k]["size"]), None if cells is None
                  else np.asarray(cells, dtype=np.int64)) for k, cells in pieces]
        segment = block.segments[0]
        for analog in signals_of_pieces(signals_of, parts):
            analog = _after_earlier(spiking.get(region), name, analog)
            analog.annotate(region=region, region_label=label, population=name,
                            simulator=schema.simulator)
            analog.segment = segment
            segment.analogsignals.append(analog)


def _grid_rows(layout, times, senders, values, with_initial):
    """A reader's samples on the sampling grid: ``(first row, {variable: rows})``, NaN where
    a cell has no sample; row 0 holds the initial values when ``with_initial``."""
    from .backends.base import sample_positions

    ids = np.asarray(layout["ids"], dtype=np.int64)
    rows, columns, on_grid, recorded = sample_positions(
        times, senders, ids, layout["sampling_period"], layout["t_start"])
    keep = on_grid & recorded
    rows, columns = rows[keep], columns[keep]
    first = 0 if with_initial else (int(rows.min()) if rows.size else 0)
    n = (int(rows.max()) + 1 if rows.size else first + (1 if with_initial else 0)) - first
    out = {}
    for name, meta in layout["variables"].items():
        grid = np.full((n, ids.size), np.nan)
        if with_initial:
            grid[0] = meta["initial"]
        grid[rows - first, columns] = np.asarray(values[name], dtype=float)[keep]
        out[name] = grid
    return first, out


def _after_earlier(block, population, analog):
    """The earlier runs' rows of this signal (from ``block``), then ``analog``'s rows after
    them, up to the first row with a cell missing."""
    import neo
    import quantities as pq

    period = float(analog.sampling_period.rescale("ms").magnitude)
    first = int(round(float(analog.t_start.rescale("ms").magnitude) / period))
    rows = np.asarray(analog.magnitude)
    earlier = None
    for old in (block.segments[0].analogsignals if block is not None else ()):
        if old.annotations.get("population") == population and old.name == analog.name:
            earlier = old
    if earlier is not None and first > 0:
        held = np.asarray(earlier.magnitude)
        start = int(round(float(earlier.t_start.rescale("ms").magnitude) / period))
        if start + len(held) >= first:  # no gap between the two
            rows = np.vstack([held, rows[start + len(held) - first:]])
            first = start
    missing = np.flatnonzero(np.isnan(rows).any(axis=1))
    rows = rows[:missing[0]] if missing.size else rows
    out = neo.AnalogSignal(rows, units=analog.units, t_start=first * period * pq.ms,
                           sampling_period=analog.sampling_period, name=analog.name,
                           **analog.annotations)
    out.array_annotate(**dict(analog.array_annotations))
    return out
