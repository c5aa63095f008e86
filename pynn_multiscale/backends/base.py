"""The backend protocol: what the co-simulation loop needs from a simulator.

The loop in :mod:`pynn_multiscale.cosim` is written once against this
protocol.  A backend is an *instance* (several can live in one process), and
it declares its capabilities as data; a proxy that needs a missing capability
fails at configuration time with :class:`~pynn_multiscale.errors.CapabilityError`.

Times are in ms.  A window's values are piecewise constant over TVB steps:
value ``k`` holds on ``(t0 + k*dt, t0 + (k+1)*dt]``.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from ..errors import KernelInUseError


@runtime_checkable
class Backend(Protocol):
    """What every backend implements."""

    #: Short simulator name, e.g. ``"nest"``.
    name: str
    #: Capabilities, e.g. ``{"poisson_rate", "spike_counts"}``.
    capabilities: frozenset
    #: The PyNN-like module that region builders receive (None for replay).
    sim: Any

    def setup(self, timestep: float, min_delay: float, seed: int | None,
              max_delay: float | None = None) -> None:
        """Start the simulator with the spiking time step and the delay range."""

    def add_rate_source(self, population, synapse_weight: float, delay: float,
                        receptor_type: str) -> Any:
        """Create an independent Poisson input to every neuron; return a handle."""

    def add_spike_counter(self, population) -> Any:
        """Record the spikes of ``population``; return a handle."""

    def start(self) -> None:
        """Called once, after building and before the first window."""

    def set_rates(self, handle, t0: float, dt: float, rates: np.ndarray) -> None:
        """Set the Poisson rate (Hz) of each TVB step of the next window."""

    def advance(self, t_stop: float) -> None:
        """Run the spiking simulator up to ``t_stop``."""

    def window_spikes(self, handle) -> tuple[np.ndarray, np.ndarray]:
        """Spike times and neuron indices recorded since the previous call."""

    # Optional: ``run_windows(t_stops, between)``, see :func:`run_windows`.

    def finish(self) -> None:
        """Release the simulator (the co-simulation is over)."""

    def version(self) -> str:
        """The simulator's version string."""


class GlobalStateGuard:
    """At most one live backend per process for a simulator whose state is global.

    ``check`` at the start of ``setup`` (refused while another backend is
    not finished), ``claim`` once ``setup`` has succeeded, ``release`` in
    ``finish``.
    """

    def __init__(self, state: str, simulator: str):
        self.state, self.simulator = state, simulator
        self.owner = None

    def check(self) -> None:
        if self.owner is not None and not self.owner._finished:
            raise KernelInUseError(
                f"{self.state} is global and another CoSimulation on {self.simulator} is still "
                "open in this process. Fix: close it first (cosim.close(), or use 'with "
                "CoSimulation(...)'), or run the second one in another process.")

    def claim(self, backend) -> None:
        self.owner = backend

    def release(self, backend) -> None:
        if self.owner is backend:
            self.owner = None


def run_windows(backend, t_stops, between: Callable[[int], None]) -> None:
    """Run the spiking side through the window ends ``t_stops``, calling ``between(k)`` at each.

    ``between(k)`` is called once the simulator has reached ``t_stops[k]``
    and before it goes on: it reads window k's output and schedules the
    input of window k + 1.  An exception it raises stops the run and
    propagates.  A backend whose simulator runs best as one long run that
    calls back into Python (Brian2's network operations, NEURON's events)
    implements ``run_windows`` itself; otherwise the windows are a loop
    over :meth:`Backend.advance`.
    """
    native = getattr(backend, "run_windows", None)
    if native is not None:
        native(t_stops, between)
        return
    for k, t_stop in enumerate(t_stops):
        backend.advance(t_stop)
        between(k)


def counts_per_step(times: np.ndarray, t0: float, dt: float, n_steps: int) -> np.ndarray:
    """Count spike times per TVB step ``(t0 + k*dt, t0 + (k+1)*dt]``.

    Spike times on the spiking grid are exact multiples of its step; a small
    tolerance keeps a spike stamped exactly at a step's end in that step.

    Examples
    --------
    >>> counts_per_step(np.array([0.1, 0.15, 0.2, 0.3]), 0.0, 0.1, 3).tolist()
    [1, 2, 1]
    """
    index = np.ceil((np.asarray(times) - t0) / dt - 1e-6).astype(int) - 1
    index = index[(index >= 0) & (index < n_steps)]
    return np.bincount(index, minlength=n_steps)
