"""The backend protocol: what the co-simulation loop needs from a simulator.

The loop in :mod:`pynn_multiscale.cosim` is written once against these
protocols.  A backend is an *instance* (several can live in one process).  It
implements the core :class:`Backend` protocol and one small protocol per
capability it has; its capabilities are *derived* from the methods it
implements (:func:`capabilities_of`), never declared a second time.  A proxy
that needs a capability the backend lacks fails at configuration time with
:class:`~pynn_multiscale.errors.CapabilityError`.

==================  ===========================  =================================================
capability          protocol                     used by
==================  ===========================  =================================================
``poisson_rate``    :class:`PoissonInput`        ``RateToPoisson``
``spike_trains``    :class:`TrainInput`          ``ElephantTrains``
``step_current``    :class:`CurrentInput`        ``CurrentFromCoupling``
``offset_current``  :class:`OffsetInput`         ``OffsetFromCoupling``
``spike_counts``    :class:`SpikeCounting`       ``SpikeRate``, ``InstantaneousRate``, results
``state_read``      :class:`StateReading`        ``MeanState``
``analog_signals``  :class:`SignalRecording`     recorded ``v``, ``gsyn`` in results
``replay``          :class:`ReplaySource`        ``Replay`` (tests)
==================  ===========================  =================================================

Times are in ms.  A window's values are piecewise constant over TVB steps:
value ``k`` holds on ``(t0 + k*dt, t0 + (k+1)*dt]``.  A handle is whatever the
backend's ``add_*`` method returned; only that backend reads it.
"""

from __future__ import annotations

import gc
import os
import warnings
import weakref
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from ..errors import KernelInUseError, StaleCoSimulationWarning


#: The environment variable naming the directory of the backends' caches on disk
#: (default ``~/.cache/pynn_multiscale``): ANNarchy's compiled networks, Brian2's exact
#: integrators.  Entries are per backend and per version; deleting the directory is safe.
CACHE_ENV = "PYNN_MULTISCALE_CACHE"


def cache_directory(backend: str) -> Path:
    """``$PYNN_MULTISCALE_CACHE/<backend>`` (not created here)."""
    base = os.environ.get(CACHE_ENV) or os.path.join("~", ".cache", "pynn_multiscale")
    return Path(base).expanduser().resolve() / backend


@runtime_checkable
class Backend(Protocol):
    """The core that every backend implements."""

    #: Short simulator name, e.g. ``"nest"``.
    name: str
    #: The PyNN-like module that region builders receive (None for replay).
    sim: Any

    def setup(self, timestep: float, min_delay: float, seed: int | None,
              max_delay: float | None = None) -> None:
        """Start the simulator with the spiking time step and the delay range."""

    def start(self) -> None:
        """Called once, after building and before the first window."""

    def advance(self, t_stop: float) -> None:
        """Run the spiking simulator up to ``t_stop``."""

    def run_windows(self, t_stops, between: Callable[[int], None]) -> None:
        """Run through the window ends ``t_stops``, calling ``between(k)`` at each.

        ``between(k)`` is called once the simulator has reached ``t_stops[k]``
        and before it goes on: it reads window k's output and sends the input
        of window k + 1.  An exception it raises stops the run and propagates.
        A simulator that runs best as one long run calling back into Python
        (Brian2's network operations, NEURON's events) implements it itself;
        others inherit :class:`WindowLoop`'s loop over :meth:`advance`.
        """

    def finish(self) -> None:
        """Release the simulator (the co-simulation is over)."""

    def version(self) -> str:
        """The simulator's version string."""


class WindowLoop:
    """:meth:`Backend.run_windows` as a loop over ``advance``."""

    def run_windows(self, t_stops, between: Callable[[int], None]) -> None:
        for k, t_stop in enumerate(t_stops):
            self.advance(t_stop)
            between(k)


class PoissonInput(Protocol):
    """Independent Poisson input to every neuron of a population, at rates set per window."""

    def add_rate_source(self, population, synapse_weight: float, delay: float,
                        receptor_type: str, shared_fraction: float = 0.0) -> Any:
        """Create the input (``shared_fraction``: the part common to all neurons); a handle."""

    def set_rates(self, handle, t0: float, dt: float, rates: np.ndarray) -> None:
        """The rate (Hz) of each TVB step of the next window."""


class TrainInput(Protocol):
    """Given spike trains, one per neuron."""

    def add_train_sources(self, population, synapse_weight: float, delay: float,
                          receptor_type: str) -> Any:
        """One source per neuron, one to one; a handle."""

    def set_trains(self, handle, trains: list, t0: float, dt: float) -> None:
        """Each neuron's spike times (ms) of the next window."""


class CurrentInput(Protocol):
    """A current injected into every neuron, stepwise over TVB steps."""

    def add_current_source(self, population, delay: float | None = None) -> Any:
        """Create the source; a handle."""

    def set_currents(self, handle, t0: float, dt: float, amplitudes: np.ndarray) -> None:
        """The amplitude (nA) of each TVB step of the next window."""


class OffsetInput(Protocol):
    """PyNN's ``i_offset`` of every neuron, set once per window."""

    def add_offset(self, population) -> Any:
        """A handle to the population's offsets."""

    def set_offset(self, handle, value: float) -> None:
        """Set every neuron's offset current (nA)."""


class SpikeCounting(Protocol):
    """The spikes of a population, window by window."""

    def add_spike_counter(self, population) -> Any:
        """Record the spikes of ``population``; a handle."""

    def window_spikes(self, handle) -> tuple[np.ndarray, np.ndarray]:
        """Spike times and neuron indices recorded since the previous call."""


class StateReading(Protocol):
    """The population mean of a neuron state variable, now."""

    def add_state_reader(self, population, variable: str) -> Any:
        """A handle for reading ``variable`` (PyNN's name) of every neuron."""

    def read_state_mean(self, handle) -> float:
        """The mean over the population, in PyNN's units."""


class SignalRecording(Protocol):
    """The analog signals a builder asked PyNN to record, as Neo objects."""

    def recorded_signals(self, population) -> list:
        """``neo.AnalogSignal`` objects of the population (``v``, ``gsyn_exc``, ...)."""


class ReplaySource(Protocol):
    """Values of TVB variables given in advance (testing the shared layer)."""

    def replay(self, variable: str, region_slot: int, first_step: int, n_steps: int) -> np.ndarray:
        """Values of ``variable`` for the region in ``region_slot`` over the window."""


#: Capability name -> the protocol whose methods a backend implements to have it.
CAPABILITIES = {"poisson_rate": PoissonInput, "spike_trains": TrainInput,
                "step_current": CurrentInput, "offset_current": OffsetInput,
                "spike_counts": SpikeCounting, "state_read": StateReading,
                "analog_signals": SignalRecording, "replay": ReplaySource}


def protocol_methods(protocol) -> list[str]:
    """The public methods a protocol declares."""
    return [name for name, value in vars(protocol).items()
            if callable(value) and not name.startswith("_")]


def capabilities_of(backend) -> frozenset:
    """The capabilities of a backend (instance or class): the protocols it implements in full.

    Examples
    --------
    >>> from pynn_multiscale.backends.replay import ReplayBackend
    >>> sorted(capabilities_of(ReplayBackend))
    ['poisson_rate', 'replay']
    """
    return frozenset(name for name, protocol in CAPABILITIES.items()
                     if all(callable(getattr(backend, method, None))
                            for method in protocol_methods(protocol)))


class GlobalStateGuard:
    """At most one live backend per process for a simulator whose state is global.

    ``check`` at the start of ``setup`` (refused while another backend is
    not finished), ``claim`` once ``setup`` has succeeded, ``release`` in
    ``finish``.  The guard holds the owning backend itself (so it can finish
    it) and the :class:`~pynn_multiscale.CoSimulation` that uses it only
    through a weak reference (``attach``), so it can tell an open
    co-simulation that nothing refers to any more from one the user holds.
    :meth:`make_room`, called by a new co-simulation before its ``setup``,
    closes the first kind with a :class:`StaleCoSimulationWarning` (and the
    second kind only when asked to, ``replace=True``); otherwise the new one
    is refused with :class:`KernelInUseError`.
    """

    def __init__(self, state: str, simulator: str):
        self.state, self.simulator = state, simulator
        self.owner = None
        self._user = None  # weak reference to the CoSimulation using the owner, or None

    def _open(self) -> bool:
        return self.owner is not None and not self.owner._finished

    def check(self) -> None:
        if self._open():
            raise KernelInUseError(
                f"{self.state} is global and another CoSimulation on {self.simulator} is still "
                "open in this process. Fix: close it first (cosim.close(), or use 'with "
                "CoSimulation(...)'), pass replace=True to the new CoSimulation to close the "
                "earlier one (e.g. when re-running a notebook cell), or run the second one in "
                "another process.")

    def claim(self, backend) -> None:
        self.owner = backend
        self._user = None

    def attach(self, backend, cosim) -> None:
        """``cosim`` uses ``backend`` (the owner): known weakly, so it can become garbage."""
        if self.owner is backend:
            self._user = weakref.ref(cosim)

    def release(self, backend) -> None:
        if self.owner is backend:
            self.owner = None
            self._user = None

    def make_room(self, replace: bool = False, stacklevel: int = 3) -> None:
        """Before a new co-simulation sets the simulator up: close an earlier one if allowed.

        An earlier open co-simulation that is garbage (its weak reference is
        dead, after one ``gc.collect()``, since a co-simulation can sit in a
        reference cycle) has its backend finished; with ``replace`` one that is
        still referenced is closed too (:meth:`CoSimulation.close`, so it
        refuses to run afterwards).  Either way with a
        :class:`StaleCoSimulationWarning`.  Otherwise, while one is open,
        :class:`KernelInUseError` (:meth:`check`).
        """
        if not self._open():
            return
        ref = self._user
        if ref is not None and ref() is not None:
            gc.collect()
        if ref is not None and ref() is None:
            warnings.warn(
                f"An earlier CoSimulation on {self.simulator} was still open but no longer "
                "referenced; it has been closed so that this one can use "
                f"{self.state}. Use 'with CoSimulation(...)' or call close() to release it "
                "yourself.", StaleCoSimulationWarning, stacklevel=stacklevel)
            self.owner.finish()
            return
        if not replace:
            self.check()
            return
        earlier = ref() if ref is not None else None
        warnings.warn(
            f"An earlier CoSimulation on {self.simulator} was still open; it has been closed "
            "because replace=True (it refuses run() from now on). Use 'with "
            "CoSimulation(...)' or call close() to release it yourself.",
            StaleCoSimulationWarning, stacklevel=stacklevel)
        if earlier is not None:
            earlier.close()
        if self._open():  # a backend set up outside a CoSimulation, or close() left it open
            self.owner.finish()


def setup_arguments(timestep: float, min_delay: float, max_delay: float | None = None,
                    **seed) -> dict:
    """Keyword arguments of PyNN's ``sim.setup``; ``seed`` is the simulator's own seed keyword.

    Examples
    --------
    >>> setup_arguments(0.1, 1.5, None, rng_seed=None)
    {'timestep': 0.1, 'min_delay': 1.5}
    >>> setup_arguments(0.1, 1.5, 20.0, rng_seed=7)
    {'timestep': 0.1, 'min_delay': 1.5, 'max_delay': 20.0, 'rng_seed': 7}
    """
    kwargs = {"timestep": timestep, "min_delay": min_delay}
    if max_delay is not None:
        kwargs["max_delay"] = max_delay
    kwargs.update({key: int(value) for key, value in seed.items() if value is not None})
    return kwargs


class Trains:
    """A population's spike trains for one window, held flat: a sequence of ``n`` arrays.

    ``trains[i]`` is neuron ``i``'s sorted spike times (ms), as a list of
    arrays would give; backends that can take all spikes at once read
    :attr:`times` and :attr:`neurons` (sorted by neuron, then time) instead.

    Examples
    --------
    >>> trains = Trains(np.array([3.0, 1.0, 2.0]), np.array([2, 0, 2]), 3)
    >>> [t.tolist() for t in trains]
    [[1.0], [], [2.0, 3.0]]
    """

    def __init__(self, times, neurons, n: int):
        times = np.asarray(times, dtype=float)
        neurons = np.asarray(neurons, dtype=np.int64)
        order = np.lexsort((times, neurons))
        self.times, self.neurons, self.n = times[order], neurons[order], int(n)
        self.bounds = np.searchsorted(self.neurons, np.arange(self.n + 1))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if not -self.n <= i < self.n:
            raise IndexError(i)
        i %= self.n
        return self.times[self.bounds[i]:self.bounds[i + 1]]

    def __iter__(self):
        bounds, times = self.bounds.tolist(), self.times
        return (times[a:b] for a, b in zip(bounds[:-1], bounds[1:]))


def step_of(times, t0: float, dt: float, tolerance: float = 1e-9) -> np.ndarray:
    """The step ``k`` (from 1) of each time in ``(t0 + (k-1)*dt, t0 + k*dt]``.

    A time stamped exactly at a step's end (within ``tolerance`` steps) stays
    in that step.  Generated trains use 1e-9; recorded spike times, which carry
    the simulator clock's round-off, 1e-6 (:func:`counts_per_step`).

    Examples
    --------
    >>> step_of(np.array([0.05, 0.1, 0.10001, 0.3]), 0.0, 0.1).tolist()
    [1, 1, 2, 3]
    """
    return np.ceil((np.asarray(times, dtype=float) - t0) / dt - tolerance).astype(np.int64)


def join_samples(chunks, variables):
    """Analog samples read in pieces, as one ``(times, senders, {variable: values})``.

    ``variables`` names the values even when there are no chunks.
    """
    if len(chunks) == 1:
        return chunks[0]
    return (np.concatenate([np.empty(0)] + [c[0] for c in chunks]),
            np.concatenate([np.empty(0, np.int64)] + [c[1] for c in chunks]),
            {name: np.concatenate([np.empty(0)] + [c[2][name] for c in chunks])
             for name in variables})


def sample_positions(times, senders, ids, period, t_start=0.0):
    """Where analog samples go in a signal array: ``(rows, columns, on_grid, recorded)``.

    Row ``(t - t_start) / period`` rounded, column the sender's place in the
    sorted ``ids``; ``on_grid`` says which times are multiples of the period,
    ``recorded`` which senders are among ``ids``.
    """
    ids = np.asarray(ids, dtype=np.int64)
    senders = np.asarray(senders, dtype=np.int64)
    steps = (np.asarray(times, dtype=float) - t_start) / period
    rows = np.rint(steps).astype(np.int64)
    columns = np.minimum(np.searchsorted(ids, senders), max(ids.size - 1, 0))
    recorded = ids[columns] == senders if ids.size else np.zeros(senders.size, dtype=bool)
    return rows, columns, np.abs(steps - rows) < 1e-6, recorded


def recorded_signal_names(population) -> list[str]:
    """The analog signals (``v``, ``gsyn_exc``, ...) a builder asked PyNN to record, sorted."""
    return sorted({v.name for v, ids in population.recorder.recorded.items()
                   if v.name != "spikes" and ids})


def signal_intervals(population) -> dict[str, float]:
    """``{variable: sampling interval (ms)}`` of the analog signals a whole population records.

    PyNN's populations have one interval (their recorder's); the ANNarchy
    adapter's have no recorder and say theirs per variable.
    """
    recorder = getattr(population, "recorder", None)
    if recorder is None:
        return population.signal_intervals()
    return {name: float(recorder.sampling_interval) for name in recorded_signal_names(population)}


def counts_per_step(times: np.ndarray, t0: float, dt: float, n_steps: int) -> np.ndarray:
    """Count spike times per TVB step ``(t0 + k*dt, t0 + (k+1)*dt]``.

    Spike times on the spiking grid are exact multiples of its step; a small
    tolerance keeps a spike stamped exactly at a step's end in that step.

    Examples
    --------
    >>> counts_per_step(np.array([0.1, 0.15, 0.2, 0.3]), 0.0, 0.1, 3).tolist()
    [1, 2, 1]
    """
    index = step_of(times, t0, dt, tolerance=1e-6) - 1
    index = index[(index >= 0) & (index < n_steps)]
    return np.bincount(index, minlength=n_steps)
