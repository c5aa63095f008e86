"""Results written while a co-simulation runs: bounded memory, nothing lost.

:class:`ResultWriter` keeps the directory layout of :meth:`Result.save`, so
:meth:`Result.load` and plain xarray / neo read it:

* ``tvb.nc`` is created at the start with one unlimited time dimension per
  monitor, and every flush appends the samples kept since the previous one
  and closes the file again.  Memory holds one chunk of TVB output at most.
* ``spiking_region_<i>.nix`` files are rewritten whole (through temporary
  names) at each spike flush; spikes are small next to TVB's Raw output.
* ``tvb.nc``'s attributes and ``metadata.json`` say whether the run is
  complete and, if not, why (``"running"`` while it runs, the exception when
  it was interrupted).
"""

from __future__ import annotations

from pathlib import Path

import h5netcdf
import numpy as np

from .fileformat import (TVB_FILE, Staging, check_metadata, prepare_directory,
                         stage_connectivity, stage_spiking, stage_summary, stage_tvb,
                         tvb_attributes, tvb_dataset)


class ResultWriter:
    """Append a run's results to a directory as they are produced.

    Parameters
    ----------
    path : str or Path
        The output directory (created; must be writable).
    monitors : list of (str, list of str)
        Each TVB monitor's name and recorded variables.
    region_labels : list of str
    n_mode : int
    metadata : dict
        JSON-compatible run description.
    connectivity : xarray.Dataset, optional
        The structural connectivity (:func:`~pynn_multiscale.results.connectivity_dataset`),
        written once at the start.
    """

    def __init__(self, path, monitors, region_labels, n_mode, metadata, connectivity=None):
        self.directory = prepare_directory(path)
        self.tvb_file = self.directory / TVB_FILE
        check_metadata(metadata)
        self.metadata = metadata
        self.spiking_files = {}
        # the schema of Result.save, with empty time axes that every flush extends
        empty = tvb_dataset([(name, [], np.empty((0, len(variables), len(region_labels), n_mode)),
                              variables) for name, variables in monitors], region_labels)
        self.monitor_names = list(empty.data_vars)
        staging = Staging(self.directory)
        try:
            self.connectivity_file = stage_connectivity(staging, connectivity)
            stage_tvb(staging, empty, self._attributes(False, "running"), growing=True)
            self._stage_summary(staging, complete=False, reason="running")
            staging.commit()
        finally:
            staging.discard_all()

    def _attributes(self, complete, reason):
        return tvb_attributes(self.metadata, complete, reason, self.spiking_files,
                              self.connectivity_file)

    def _stage_summary(self, staging, complete, reason):
        stage_summary(staging, complete=complete, reason=reason, monitors=self.monitor_names,
                      spiking_files=self.spiking_files, connectivity_file=self.connectivity_file,
                      metadata=self.metadata)

    def append_tvb(self, samples):
        """Append each monitor's new samples: a list of ``(times, data)`` per monitor."""
        with h5netcdf.File(self.tvb_file, "a") as f:
            for name, (times, data) in zip(self.monitor_names, samples):
                if not len(times):
                    continue
                t_dim = f"{name}_time"
                start = f.dimensions[t_dim].size
                stop = start + len(times)
                f.resize_dimension(t_dim, stop)
                f.variables[t_dim][start:stop] = np.asarray(times, dtype=float)
                f.variables[name][start:stop] = np.asarray(data, dtype=float)

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

    def mark(self, complete: bool, reason: str | None):
        """Record whether the run is complete (and why not) in both places."""
        with h5netcdf.File(self.tvb_file, "a") as f:
            f.attrs.update(self._attributes(complete, reason))
        staging = Staging(self.directory)
        try:
            self._stage_summary(staging, complete, reason)
            staging.commit()
        finally:
            staging.discard_all()

    @property
    def path(self) -> Path:
        return self.directory
