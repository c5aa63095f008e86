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
import h5py
import numpy as np

from .results import (_ATTR_COMPLETE, _ATTR_CONNECTIVITY, _ATTR_METADATA, _ATTR_REASON,
                      _ATTR_SPIKING, _ATTR_VERSION, FORMAT_VERSION, METADATA_FILE, TVB_FILE,
                      _check_metadata, _prepare_directory, _stage_connectivity, _stage_spiking,
                      _Staging, _to_json, _unique_name)


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
        self.directory = _prepare_directory(path)
        self.tvb_file = self.directory / TVB_FILE
        _check_metadata(metadata)
        self.metadata = metadata
        self.spiking_files = {}
        names = {}
        for name, variables in monitors:
            names[_unique_name(str(name), names)] = list(variables)
        self.monitor_names = list(names)
        staging = _Staging(self.directory)
        try:
            self.connectivity_file = _stage_connectivity(staging, connectivity)
            temp = staging.path(self.tvb_file)
            with h5netcdf.File(temp, "w") as f:
                f.dimensions = {"region": len(region_labels), "mode": n_mode}
                f.create_variable("region", ("region",), dtype=h5py.string_dtype(),
                                  data=np.array([str(x) for x in region_labels], dtype=object))
                f.create_variable("mode", ("mode",), data=np.arange(n_mode))
                for name, variables in names.items():
                    t_dim, v_dim = f"{name}_time", f"{name}_variable"
                    f.dimensions[t_dim] = None
                    f.dimensions[v_dim] = len(variables)
                    time = f.create_variable(t_dim, (t_dim,), float)
                    time.attrs["units"] = "ms"
                    f.create_variable(v_dim, (v_dim,), dtype=h5py.string_dtype(),
                                      data=np.array(variables, dtype=object))
                    f.create_variable(name, (t_dim, v_dim, "region", "mode"), float,
                                      chunks=(64, len(variables), len(region_labels), n_mode))
                self._write_attrs(f, complete=False, reason="running")
            self._write_summary(staging, complete=False, reason="running")
            staging.commit()
        finally:
            staging.discard_all()

    def _write_attrs(self, f, complete, reason):
        f.attrs[_ATTR_METADATA] = _to_json(self.metadata)
        f.attrs[_ATTR_COMPLETE] = _to_json(bool(complete))
        f.attrs[_ATTR_REASON] = _to_json(reason)
        f.attrs[_ATTR_SPIKING] = _to_json(self.spiking_files)
        f.attrs[_ATTR_VERSION] = FORMAT_VERSION
        f.attrs[_ATTR_CONNECTIVITY] = _to_json(self.connectivity_file)

    def _write_summary(self, staging, complete, reason):
        summary = {"format": "pynn_multiscale.Result", "format_version": FORMAT_VERSION,
                   "complete": bool(complete), "reason": reason, "tvb_file": TVB_FILE,
                   "tvb_monitors": self.monitor_names, "spiking_files": self.spiking_files,
                   "connectivity_file": self.connectivity_file, "metadata": self.metadata}
        with open(staging.path(self.directory / METADATA_FILE), "w", encoding="utf-8") as f:
            f.write(_to_json(summary, indent=2) + "\n")

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
        staging = _Staging(self.directory)
        try:
            files = {str(index): _stage_spiking(staging, block, index)
                     for index, block in sorted(blocks.items())}
            staging.commit()
        finally:
            staging.discard_all()
        self.spiking_files = files

    def mark(self, complete: bool, reason: str | None):
        """Record whether the run is complete (and why not) in both places."""
        with h5netcdf.File(self.tvb_file, "a") as f:
            self._write_attrs(f, complete, reason)
        staging = _Staging(self.directory)
        try:
            self._write_summary(staging, complete, reason)
            staging.commit()
        finally:
            staging.discard_all()

    @property
    def path(self) -> Path:
        return self.directory
