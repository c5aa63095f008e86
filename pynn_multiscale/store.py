"""Results written while a co-simulation runs: bounded memory, and nothing lost to a kill.

:class:`ResultWriter` keeps the directory layout of :meth:`Result.save`, so
:meth:`Result.load` and plain xarray / neo read it, and adds a ``stream/``
folder while a ``run()`` is under way (:mod:`pynn_multiscale.journal`):

* every completed window is appended to ``stream/journal_<n>.bin`` (one
  ``write`` call, no HDF5), so a SIGKILL loses at most the window being
  recorded;
* every ``flush_windows`` windows, those windows become
  ``stream/part_<n>.nc`` (written under a temporary name, flushed, renamed),
  and memory keeps no TVB output;
* ``spiking_region_<i>.nix`` files are rewritten whole, through temporary
  names, at most every ``flush_spikes_s`` seconds, for readers that open a
  running or killed folder with neo;
* when ``run()`` returns or stops on an exception, Ctrl-C or SIGTERM,
  :meth:`ResultWriter.finish` writes ``tvb.nc`` (the earlier ``tvb.nc`` and
  the parts, into a temporary file that is renamed) and the NIX files with
  the status, then removes ``stream/``.

No file is ever modified in place, so a kill at any moment leaves every file
readable.  ``stream/`` exists only while a run has not closed its results;
:meth:`Result.load` then adds its windows to what ``tvb.nc`` and the NIX
files hold and reports the result incomplete, with the time it reached.
"""

from __future__ import annotations

import shutil
import time as _time
from pathlib import Path

import h5netcdf
import numpy as np

from .fileformat import (TVB_FILE, ResultIOError, Staging, check_metadata, prepare_directory,
                         stage_connectivity, stage_spiking, stage_summary, stage_tvb,
                         tvb_attributes, tvb_dataset)
from .journal import STREAM_DIR, Journal, Schema, part_dataset, stream_pieces, write_part

#: At most this often (s) the journal is flushed to the disk itself (a SIGKILL needs no
#: flush: what was written is in the operating system's cache; a power cut does).
JOURNAL_SYNC_S = 1.0
#: Samples per monitor copied at a time from an earlier tvb.nc.
COPY_BLOCK = 20000


class ResultWriter:
    """Write a run's results to a directory as they are produced.

    Parameters
    ----------
    path : str or Path
        The output directory (created; must be writable).
    schema : journal.Schema
        Monitors, regions and populations of the run.
    metadata : dict
        JSON-compatible run description.
    connectivity : xarray.Dataset, optional
        The structural connectivity (:func:`~pynn_multiscale.results.connectivity_dataset`),
        written once at the start.
    """

    def __init__(self, path, schema: Schema, metadata, connectivity=None):
        self.directory = prepare_directory(path)
        self.tvb_file = self.directory / TVB_FILE
        self.stream = self.directory / STREAM_DIR
        if self.stream.exists():
            raise _unfinished(ResultIOError(
                f"{self.stream} holds the windows of an earlier run that did not finish (its "
                "process was killed). Writing here would lose them. Fix: recover them with "
                f"pynn_multiscale.Result.load({str(self.directory)!r}).save(<another "
                "directory>), or delete that folder, or pass another out."))
        check_metadata(metadata)
        self.schema, self.metadata = schema, metadata
        self.spiking_files = {}
        self.monitor_names = [name for name, _ in schema.monitors]
        self.windows = 0  # windows recorded in tvb.nc by earlier run() calls and in parts
        self.time = 0.0
        self._seq = 0
        self._journal = None
        self._last_sync = _time.monotonic()
        staging = Staging(self.directory)
        try:
            self.connectivity_file = stage_connectivity(staging, connectivity)
            stage_tvb(staging, self._empty(), self._attributes(False, "running"))
            self._stage_summary(staging, complete=False, reason="running")
            staging.commit()
        finally:
            staging.discard_all()

    def _empty(self):
        shape = (0, len(self.schema.region_labels), self.schema.n_mode)
        return tvb_dataset([(name, [], np.empty(shape[:1] + (len(variables),) + shape[1:]),
                             variables) for name, variables in self.schema.monitors],
                           self.schema.region_labels)

    def _attributes(self, complete, reason):
        return tvb_attributes(dict(self.metadata), complete, reason, self.spiking_files,
                              self.connectivity_file)

    def _stage_summary(self, staging, complete, reason):
        stage_summary(staging, complete=complete, reason=reason, monitors=self.monitor_names,
                      spiking_files=self.spiking_files, connectivity_file=self.connectivity_file,
                      metadata=self.metadata)

    # ---------------------------------------------------------------- a run
    def begin(self) -> None:
        """A ``run()`` starts: open ``stream/`` and its first journal."""
        if self._journal is None:
            self.stream.mkdir(exist_ok=True)
            self._journal = Journal(self.stream / f"journal_{self._seq:06d}.bin", self.schema,
                                    base={"window": self.windows, "time_ms": self.time})

    def append_window(self, record: bytes) -> None:
        """One completed window (:func:`~pynn_multiscale.journal.encode_window`)."""
        self._journal.append(record)
        if _time.monotonic() - self._last_sync > JOURNAL_SYNC_S:
            self._journal.sync()
            self._last_sync = _time.monotonic()

    def write_part(self, first: int, last: int, time: float, samples, spikes,
                   signals=()) -> None:
        """Windows ``first..last`` as a part; the journal then starts again."""
        dataset = part_dataset(self.schema, {"window": self.windows, "time_ms": self.time},
                               first, last, time, samples, spikes, signals)
        write_part(self.stream, self._seq, dataset)
        self._seq += 1
        old, self._journal = self._journal, Journal(
            self.stream / f"journal_{self._seq:06d}.bin", self.schema,
            base={"window": self.windows, "time_ms": self.time})
        old.close()
        old.path.unlink()

    def write_spiking(self, blocks):
        """Rewrite every spiking region's file from ``{index: neo.Block}``."""
        staging = Staging(self.directory)
        try:
            files = {str(index): stage_spiking(staging, block, index)
                     for index, block in sorted(blocks.items())}
            staging.commit()
        finally:
            staging.discard_all()
        self.spiking_files = files

    def finish(self, metadata, blocks, complete: bool, reason: str | None, windows: int,
               time: float) -> None:
        """Close the run's stream into ``tvb.nc`` and the NIX files, with the status.

        The caller has written every window into parts.  ``tvb.nc`` is
        rebuilt in a temporary file (the earlier ``tvb.nc`` block by block,
        then each part) and renamed; memory holds one part at most.
        """
        self.metadata = metadata
        staging = Staging(self.directory)
        try:
            self.spiking_files = {str(index): stage_spiking(staging, block, index)
                                  for index, block in sorted(blocks.items())}
            stage_tvb(staging, self._empty(), self._attributes(complete, reason), growing=True)
            temp = staging.staged[-1][0]
            with h5netcdf.File(temp, "a") as out:
                if self.tvb_file.exists():  # what earlier run() calls wrote
                    with h5netcdf.File(self.tvb_file, "r") as before:
                        for name in self.monitor_names:
                            n = before.dimensions[f"{name}_time"].size
                            for start in range(0, n, COPY_BLOCK):
                                stop = min(n, start + COPY_BLOCK)
                                _append(out, [name], [(before.variables[f"{name}_time"][start:stop],
                                                       before.variables[name][start:stop])])
                for piece in stream_pieces(self.stream, parts_only=True):
                    _append(out, self.monitor_names, piece[4])
            self._stage_summary(staging, complete, reason)
            staging.commit()  # the NIX files, then tvb.nc, then metadata.json
        finally:
            staging.discard_all()
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        shutil.rmtree(self.stream, ignore_errors=True)
        self._seq = 0
        self.windows, self.time = windows, time

    @property
    def path(self) -> Path:
        return self.directory


def _unfinished(exc):
    exc.unfinished_stream = True
    return exc


def _append(f, names, samples) -> None:
    """Append each monitor's ``(times, data)`` to an open netCDF file with growing time axes."""
    for name, (times, data) in zip(names, samples):
        if not len(times):
            continue
        t_dim = f"{name}_time"
        start = f.dimensions[t_dim].size
        stop = start + len(times)
        f.resize_dimension(t_dim, stop)
        f.variables[t_dim][start:stop] = np.asarray(times, dtype=float)
        f.variables[name][start:stop] = np.asarray(data, dtype=float)
