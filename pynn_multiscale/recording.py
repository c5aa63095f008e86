"""What a co-simulation keeps: TVB's monitor samples and the spikes of every completed window.

A window's outputs enter the :class:`Recording` only when the window is
committed (:meth:`Recording.commit`), so whatever stops a run, the recording
holds whole windows up to :attr:`Recording.committed_time`.  From it come the
:class:`~pynn_multiscale.results.Result` of ``run()`` and the chunks that
``run(out=...)`` streams to disk through a
:class:`~pynn_multiscale.store.ResultWriter`.
"""

from __future__ import annotations

import os

import numpy as np

from .backends.base import join_samples
from .errors import ConfigurationError, ConfigurationTypeError, bad_value
from .fileformat import unique_name
from .journal import Schema, encode_window, spiking_block
from .region import cell_pieces
from .results import Result, connectivity_dataset, tvb_dataset


class Recording:
    """Monitor buffers, spike chunks and the committed time of one co-simulation.

    Parameters
    ----------
    tvb : Simulator
        The TVB simulator (its monitors, model and connectivity).
    engine : TVBEngine
        Step numbering, labels and variable names.
    backend
        The spiking backend: its name, and its recorded analog signals if it
        has that capability.
    """

    def __init__(self, tvb, engine, backend):
        self.tvb, self.engine, self.backend = tvb, engine, backend
        self.monitor_buffers = [([], []) for _ in tvb.monitors]
        self.spikes = {}  # (slot, population) -> list of (times, indices)
        self.committed_time = 0.0
        self.n_windows = 0  # windows committed, over every run() call
        self.writer = None
        self._part_first = 0  # the first window not yet in a part (streaming)
        self._part_marks = {}  # (slot, population) -> its chunks already in a part
        self.signal_readers = []  # the backend's analog signal readers (record order)
        self.signal_pieces = {}  # (slot, population) -> [(reader index, cells or None)]
        self._signal_chunks = []  # per reader: samples committed since the last part

    # ------------------------------------------------------------ windows
    def count(self, slot: int, population: str) -> None:
        """Keep the spikes of ``population`` of the region in ``slot``."""
        self.spikes[(slot, population)] = []

    def read_signals(self, readers: list, pieces: dict) -> None:
        """The backend reads these populations' analog signals window by window.

        ``pieces``: per recorded ``(slot, population)``, its pieces as
        ``(index into readers, cells or None)``.  While streaming, each
        window's samples go to the journal and the parts with its spikes.
        """
        self.signal_readers, self.signal_pieces = list(readers), dict(pieces)
        self._signal_chunks = [[] for _ in readers]

    def commit(self, new_spikes: dict, samples: list, time: float, signals=()) -> None:
        """A window is complete: keep its spikes and monitor samples, and its end time.

        While streaming, the window (with ``signals``, the analog samples
        read in it, one entry per reader) is also appended to the journal
        before it counts as committed.
        """
        if self.writer is not None:
            offset = self.engine.step0 * self.engine.dt
            self.writer.append_window(encode_window(
                self.n_windows, time,
                [[(np.round(t - offset, 9) if offset else t, d) for t, d in smp]
                 for smp in samples],
                [new_spikes[key] for key in self.spikes], signals))
            for chunks, chunk in zip(self._signal_chunks, signals):
                chunks.append(chunk)
        for key, chunk in new_spikes.items():
            self.spikes[key].append(chunk)
        for buf, smp in zip(self.monitor_buffers, samples):
            for t, data in smp:
                buf[0].append(t)
                buf[1].append(data)
        self.committed_time = time
        self.n_windows += 1

    def monitor_variables(self, monitor) -> list:
        return [self.engine.state_variables[i] for i in np.asarray(monitor.voi)]

    def take_monitor_samples(self, keep: bool = False) -> list:
        """Each monitor's buffered samples as (co-simulation times, data); empties the buffers."""
        engine = self.engine
        offset = engine.step0 * engine.dt
        out = []
        for mon, (times, data) in zip(self.tvb.monitors, self.monitor_buffers):
            n_var = len(self.monitor_variables(mon))
            arr = np.array(data) if data else np.empty((0, n_var, engine.n_regions,
                                                        self.tvb.model.number_of_modes))
            times = np.array(times, dtype=float)
            if offset:
                times = np.round(times - offset, 9)
            out.append((times, arr))
        if not keep:
            self.monitor_buffers = [([], []) for _ in self.tvb.monitors]
        return out

    # ------------------------------------------------------------ outputs
    def connectivity(self):
        conn = self.tvb.connectivity
        return connectivity_dataset(conn.weights, conn.tract_lengths, self.engine.region_labels)

    def spiking_blocks(self, regions: dict, spiking_regions) -> dict:
        """One ``neo.Block`` per spiking region (empty without regions)."""
        return {idx: self._spiking_block(slot, idx, regions[idx])
                for slot, idx in enumerate(spiking_regions) if regions}

    def _spiking_block(self, slot, idx, region):
        label, simulator = self.engine.region_labels[idx], self.backend.name
        # One SpikeTrain per population, with each spike's neuron index as an
        # array annotation: NIX files of one train per neuron take minutes to
        # write.  Result.spiketrains() splits a population into neurons.
        trains = []
        for name, pop in region.populations.items():
            chunks = self.spikes.get((slot, name))
            if chunks is None:
                continue
            times = np.concatenate([c[0] for c in chunks]) if chunks else np.empty(0)
            index = np.concatenate([c[1] for c in chunks]).astype(np.int64) if chunks \
                else np.empty(0, np.int64)
            trains.append((name, pop.size, times, index))
        block = spiking_block(idx, label, simulator, trains, self.committed_time)
        segment = block.segments[0]
        signals = getattr(self.backend, "recorded_signals", None)
        for name, pop in (region.populations.items() if signals else ()):
            for analog in signals_of(signals, pop):
                analog.annotate(region=idx, region_label=label, population=name,
                                simulator=simulator)
                analog.segment = segment
                segment.analogsignals.append(analog)
        return block

    def result(self, metadata: dict, regions: dict, spiking_regions, complete=True,
               reason=None) -> Result:
        """Everything recorded so far, in memory; the buffers are kept."""
        if self.writer is not None:
            raise ConfigurationError(
                f"the results were streamed to {self.writer.path}. Fix: open them with "
                f"pynn_multiscale.Result.load({str(self.writer.path)!r}).")
        buffers = [(list(t), list(d)) for t, d in self.monitor_buffers]
        samples = self.take_monitor_samples(keep=True)
        self.monitor_buffers = buffers
        monitors = [(type(mon).__name__, times, data, self.monitor_variables(mon))
                    for mon, (times, data) in zip(self.tvb.monitors, samples)]
        dataset = tvb_dataset(monitors, self.engine.region_labels)
        return Result(dataset, self.spiking_blocks(regions, spiking_regions), metadata,
                      complete=complete, reason=reason, connectivity=self.connectivity())

    # ------------------------------------------------------------ streaming
    def open_writer(self, out, metadata, regions, spiking_regions):
        """The writer of ``run(out=...)``: opened at the first such run, the same one after it.

        ``metadata`` is called for the run's description when the writer is made.
        """
        from .results import ResultIOError
        from .store import ResultWriter

        if out is None:
            if self.writer is not None:
                raise ConfigurationError(bad_value(
                    "out", None, f"the directory of the previous run() calls ({self.writer.path})",
                    "pass the same out to every run() of a co-simulation"))
            return None
        if self.writer is not None:
            if os.path.abspath(out) != os.path.abspath(self.writer.path):
                raise ConfigurationError(bad_value(
                    "out", str(out), f"the directory of the previous run() calls "
                    f"({self.writer.path})", "pass the same out to every run() of a co-simulation"))
            return self.writer
        if any(buf[0] for buf in self.monitor_buffers):
            raise ConfigurationError(bad_value(
                "out", str(out), "out from the first run() on (earlier results are in memory)",
                "pass out to the first run() call"))
        names = {}
        for m in self.tvb.monitors:  # tvb_dataset's names: "Raw", "Raw_1", ...
            names[unique_name(type(m).__name__, names)] = self.monitor_variables(m)
        populations = [{"slot": slot, "region": spiking_regions[slot],
                        "label": self.engine.region_labels[spiking_regions[slot]],
                        "population": name,
                        "size": int(regions[spiking_regions[slot]].populations[name].size)}
                       for slot, name in self.spikes]
        schema = Schema(list(names.items()), self.engine.region_labels,
                        self.tvb.model.number_of_modes, populations, self.backend.name,
                        [self.backend.signal_layout(h) for h in self.signal_readers],
                        {f"{slot}/{name}": [[k, None if cells is None else
                                             np.asarray(cells).tolist()] for k, cells in pieces]
                         for (slot, name), pieces in self.signal_pieces.items()})
        try:
            self.writer = ResultWriter(out, schema, metadata(), connectivity=self.connectivity())
        except ResultIOError as exc:
            if getattr(exc, "unfinished_stream", False):  # a killed run's windows are there
                raise ConfigurationError(f"out={str(out)!r} is invalid: {exc}") from exc
            raise ConfigurationError(bad_value(
                "out", str(out), "a directory that can be created and written",
                "pass a writable path, e.g. under your home or the working directory")
                + f" ({exc})") from exc
        except TypeError as exc:
            raise ConfigurationTypeError(bad_value(
                "out", out, "a str or pathlib.Path", "pass the directory as a string")) from exc
        return self.writer

    def flush(self, metadata: dict, regions: dict, spiking_regions, spikes: bool) -> None:
        """Write the windows committed since the last part as a part; keep no TVB output.

        ``spikes``: also rewrite the NIX files (for readers of a running folder).
        """
        writer = self.writer
        writer.metadata = metadata
        if self.n_windows > self._part_first:
            samples = self.take_monitor_samples()
            new_spikes = []
            for key, chunks in self.spikes.items():
                fresh = chunks[self._part_marks.get(key, 0):]
                new_spikes.append((np.concatenate([np.empty(0)] + [c[0] for c in fresh]),
                                   np.concatenate([np.empty(0, np.int64)]
                                                  + [np.asarray(c[1], np.int64) for c in fresh])))
                self._part_marks[key] = len(chunks)
            signals = [join_samples(chunks, writer.schema.signal_variables(k))
                       for k, chunks in enumerate(self._signal_chunks)]
            self._signal_chunks = [[] for _ in self.signal_readers]
            writer.write_part(self._part_first, self.n_windows - 1, self.committed_time,
                              samples, new_spikes, signals)
            self._part_first = self.n_windows
        if spikes and regions:
            writer.write_spiking(self.spiking_blocks(regions, spiking_regions))

    def finish(self, metadata: dict, regions: dict, spiking_regions, complete: bool,
               reason) -> None:
        """The run() ends (or stops): every window into tvb.nc and the NIX files, with the status."""
        self.flush(metadata, regions, spiking_regions, spikes=False)
        self.writer.finish(metadata, self.spiking_blocks(regions, spiking_regions), complete,
                           reason, self.n_windows, self.committed_time)


def signals_of(signals, population) -> list:
    """The analog signals of a named population, read through ``signals(whole population)``.

    A view's or an assembly's are its cells' columns of its whole
    populations' signals, in its order, with ``channel_index`` its own
    indices: the same on every backend, whatever PyNN or the adapter would
    do with the view.
    """
    return signals_of_pieces(signals, cell_pieces(population))


def signals_of_pieces(signals, pieces) -> list:
    """:func:`signals_of` for pieces ``[(whole, cells or None), ...]``: ``signals(whole)``
    gives a whole population's signals, ``whole.size`` its size."""
    if len(pieces) == 1 and pieces[0][1] is None:
        return list(signals(pieces[0][0]))
    merged, offset = {}, 0
    for whole, cells in pieces:
        cells = np.arange(whole.size) if cells is None else cells
        for analog in signals(whole):
            recorded = np.asarray(analog.array_annotations["channel_index"], dtype=np.int64)
            column = {int(c): k for k, c in enumerate(recorded)}
            keep = [k for k, c in enumerate(cells) if int(c) in column]
            if not keep:
                continue
            part = analog[:, [column[int(cells[k])] for k in keep]]
            part.array_annotate(channel_index=offset + np.asarray(keep, dtype=np.int64))
            part.segment = None  # each read makes its own segment; neo merges none across them
            merged[analog.name] = part if analog.name not in merged \
                else merged[analog.name].merge(part)
        offset += cells.size
    return list(merged.values())
