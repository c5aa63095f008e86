"""Results of a multiscale (TVB + spiking network) simulation.

A :class:`Result` holds everything a run produced: the TVB monitor traces as
an :class:`xarray.Dataset`, the spiking data of each spiking region as a
:class:`neo.Block`, the run's metadata, and whether the run completed.
:meth:`Result.save` writes a directory that plain xarray and neo can read
(its layout, and the TVB dataset's, are in :mod:`pynn_multiscale.fileformat`);
:meth:`Result.monitor` returns one monitor with plain dims
``("time", "variable", "region", "mode")``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import Any, Mapping

import neo
import numpy as np
import xarray as xr

from .fileformat import (FORMAT_VERSION, PathLike, ResultIOError, Staging, check_metadata,
                         connectivity_dataset, plain_json, prepare_directory, read_result,
                         stage_connectivity, stage_spiking, stage_summary, stage_tvb,
                         tvb_attributes, tvb_dataset)

__all__ = ["FORMAT_VERSION", "Result", "ResultIOError", "connectivity_dataset", "tvb_dataset"]


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
        self.metadata = plain_json(self.metadata, "metadata")

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
        annotations = {k: v for k, v in train.annotations.items() if k != "size"}
        trains = neo.core.spiketrainlist.SpikeTrainList.from_spike_time_array(
            train.magnitude, index, np.arange(size), t_stop=train.t_stop, units=train.units,
            t_start=train.t_start, source_index=np.arange(size), **annotations)
        out = list(trains)
        for i, st in enumerate(out):
            st.name = f"{population}[{i}]"
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
        directory = prepare_directory(path)
        check_metadata(self.metadata)
        staging = Staging(directory)
        try:
            spiking_files = {}
            for index, block in sorted(self.spiking.items()):
                spiking_files[str(index)] = stage_spiking(staging, block, index)
            connectivity_file = stage_connectivity(staging, self.connectivity)
            stage_summary(staging, complete=self.complete, reason=self.reason,
                          monitors=list(self.tvb.data_vars), spiking_files=spiking_files,
                          connectivity_file=connectivity_file, metadata=self.metadata)
            stage_tvb(staging, self.tvb, tvb_attributes(self.metadata, self.complete, self.reason,
                                                        spiking_files, connectivity_file))
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
        return cls(**read_result(path))


