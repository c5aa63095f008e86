"""Spiking -> TVB proxies.

Each proxy turns one population's window into one value per TVB step for one
TVB state variable.  Every kind can be smoothed by linear integration (a
first-order low-pass) with time constant ``tau``, integrated exactly for a
value constant over each step; ``tau=0`` sends the raw values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._checks import check_name, check_transform, check_weight
from .binding import ToTVBBinding, ToTVBProxy, start_transform
from .transforms import Chain, LowPass
from ..errors import ConfigurationError, ConfigurationTypeError, bad_value


def _common_checks(proxy):
    name = type(proxy).__name__
    check_name(name, "population", proxy.population)
    check_name(name, "tvb_variable", proxy.tvb_variable)
    object.__setattr__(proxy, "tau", check_weight(name, "tau", proxy.tau))
    check_transform(name, proxy.transform)


def _bind(proxy, ctx, value):
    """The binding of a to_tvb proxy: ``value`` per region, then its transform and low-pass."""
    steps = [t for t in (proxy.transform, LowPass(proxy.tau) if proxy.tau > 0 else None) if t]
    transform = None if not steps else steps[0] if len(steps) == 1 else Chain(*steps)
    return ToTVBBinding(proxy, ctx, value, start_transform(
        transform, ctx, ctx.initial_state(proxy.tvb_variable)))


def _counts(proxy, ctx, spikes, slot, t0, n_steps):
    """One region's spike counts per TVB step of the window, and its population size."""
    from ..backends.base import counts_per_step

    size = ctx.population(proxy.population, ctx.spiking_regions[slot]).size
    return counts_per_step(spikes[(slot, proxy.population)], t0, ctx.dt, n_steps), size


@dataclass(frozen=True)
class SpikeRate(ToTVBProxy):
    """A population's spike-count histogram per TVB step, as a rate in Hz.

    For TVB step n, covering ``(t_{n-1}, t_n]``::

        rate[n] = 1000 * count[n] / (dt_ms * N)

    where ``count[n]`` is the number of spikes the population emitted in the
    step and ``N`` its size (the seed's formula).

    Parameters
    ----------
    population : str
        The population of each spiking region (e.g. ``"E"``).
    tvb_variable : str
        The TVB state variable that receives the rate (e.g. ``"Rin_e"``).
    tau : float
        Smoothing time constant (ms); 0 for none.
    """

    population: str
    tvb_variable: str
    tau: float = 0.0
    transform: object = field(default=None, kw_only=True)

    def __post_init__(self):
        _common_checks(self)

    capability = "spike_counts"

    def bind(self, ctx):
        def value(slot, window, spikes, t0, n_steps):
            counts, size = _counts(self, ctx, spikes, slot, t0, n_steps)
            return self.rate(counts, ctx.dt, size)
        return _bind(self, ctx, value)

    @staticmethod
    def rate(counts: np.ndarray, dt: float, size: int) -> np.ndarray:
        """Convert counts per TVB step into Hz."""
        return counts * (1000.0 / (dt * size))


@dataclass(frozen=True)
class InstantaneousRate(ToTVBProxy):
    """A population's rate estimated with an Elephant kernel, per TVB step (Hz).

    The estimate equals ``elephant.statistics.instantaneous_rate`` of the
    population's pooled spike train, divided by the population size, with
    ``sampling_period`` = TVB's dt, ``center_kernel=False`` and bins centred
    on the TVB step ends.  It is computed window by window as the same
    discrete convolution with the same kernel samples (Elephant evaluates
    its kernel; the loop convolves), which costs microseconds instead of
    the ~6 ms of one Elephant call per window.

    The kernel must be causal (not symmetric): at the end of a window the
    spikes of the next one do not exist yet.

    Parameters
    ----------
    population, tvb_variable : str
    kernel : elephant.kernels.Kernel, optional
        Default ``ExponentialKernel(sigma=5 ms)``; ``AlphaKernel`` also works.
    cutoff : float
        Elephant's kernel cutoff, in units of sigma.
    tau : float
        Extra smoothing time constant (ms); 0 for none.
    """

    population: str
    tvb_variable: str
    kernel: object = None
    cutoff: float = 5.0
    tau: float = 0.0
    transform: object = field(default=None, kw_only=True)

    def __post_init__(self):
        _common_checks(self)
        import elephant.kernels as ek
        import quantities as pq

        kernel = self.kernel if self.kernel is not None else ek.ExponentialKernel(sigma=5 * pq.ms)
        if not isinstance(kernel, ek.Kernel):
            raise ConfigurationTypeError(bad_value(
                "InstantaneousRate.kernel", kernel, "an elephant.kernels.Kernel",
                "pass e.g. elephant.kernels.ExponentialKernel(sigma=5 * pq.ms)"))
        if kernel.is_symmetric():
            raise ConfigurationError(bad_value(
                "InstantaneousRate.kernel", type(kernel).__name__,
                "a causal kernel (the spikes after a window do not exist yet when it is sent)",
                "use ExponentialKernel or AlphaKernel"))
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "cutoff", check_weight("InstantaneousRate", "cutoff", self.cutoff,
                                                        allow_zero=False))

    capability = "spike_counts"

    def bind(self, ctx):
        """The kernel's causal convolution, with each region's recent counts carried across windows."""
        taps = self.taps(ctx.dt)
        history = [np.zeros(taps.size - 1) for _ in ctx.spiking_regions]

        def value(slot, window, spikes, t0, n_steps):
            counts, size = _counts(self, ctx, spikes, slot, t0, n_steps)
            extended = np.concatenate([history[slot], counts])
            rate = np.convolve(extended, taps)[taps.size - 1:taps.size - 1 + n_steps]
            history[slot] = extended[extended.size - (taps.size - 1):]
            return np.clip(rate, 0.0, None) / size
        return _bind(self, ctx, value)

    def taps(self, dt: float) -> np.ndarray:
        """Kernel samples (Hz per spike) at lags 0, dt, 2 dt, ... as Elephant samples them."""
        import math

        import quantities as pq

        cutoff = max(self.cutoff, self.kernel.min_cutoff)
        sigma_steps = float((self.kernel.sigma / (dt * pq.ms)).simplified)
        half = math.ceil(cutoff * sigma_steps)
        lags = np.linspace(-cutoff * sigma_steps, cutoff * sigma_steps, 2 * half + 1) * dt * pq.ms
        values = self.kernel(lags).rescale(pq.Hz).magnitude
        return values[half:]


@dataclass(frozen=True)
class MeanState(ToTVBProxy):
    """The population mean of a neuron state variable, e.g. membrane potential.

    Read from every neuron at the end of each window and held over the
    window's TVB steps: a window-resolution signal (the spiking simulators
    deliver recorded traces with a lag of up to one ``min_delay``, so a
    per-step trace of the whole window does not exist when it is sent).

    Parameters
    ----------
    population, tvb_variable : str
    variable : str
        PyNN's name: ``"v"`` (mV), ``"gsyn_exc"`` or ``"gsyn_inh"`` (uS).
    tau : float
        Smoothing time constant (ms); 0 for none.
    """

    population: str
    tvb_variable: str
    variable: str = "v"
    tau: float = 0.0
    transform: object = field(default=None, kw_only=True)

    def __post_init__(self):
        _common_checks(self)
        if self.variable not in ("v", "gsyn_exc", "gsyn_inh"):
            raise ConfigurationError(bad_value(
                "MeanState.variable", self.variable, "'v', 'gsyn_exc' or 'gsyn_inh'",
                "pick one of PyNN's state variable names"))

    capability = "state_read"

    def bind(self, ctx):
        backend = ctx.backend
        readers = [backend.add_state_reader(ctx.cells(self, idx), self.variable)
                   for idx in ctx.spiking_regions]
        return _bind(self, ctx, lambda slot, *window: backend.read_state_mean(readers[slot]))


@dataclass(frozen=True)
class Replay(ToTVBProxy):
    """Values of a TVB variable that the backend replays (testing only).

    Used with :class:`pynn_multiscale.backends.replay.ReplayBackend` to feed
    proxy regions values computed elsewhere, e.g. by a plain TVB run.
    """

    tvb_variable: str
    population: str = "replay"
    tau: float = 0.0
    transform: object = field(default=None, kw_only=True)

    def __post_init__(self):
        _common_checks(self)

    capability = "replay"
    needs_population = False

    def bind(self, ctx):
        def value(slot, window, spikes, t0, n_steps):
            return ctx.backend.replay(self.tvb_variable, slot,
                                      window.first_step - ctx.engine.step0, n_steps)
        return _bind(self, ctx, value)
