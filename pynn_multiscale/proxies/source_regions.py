"""The spiking coupling mode: one Poisson source per connection into a spiking region.

In ``coupling_mode="spiking"`` TVB does not sum a spiking region's input.
Every non-zero connection ``j -> i`` into a spiking region ``i`` becomes its
own Poisson source, which sends region ``j``'s own value, scaled by the
connectome weight and the coupling's ``a``, with the connectome delay on the
spiking side (see ``docs/proxies.md``).

- A region TVB integrates has its window's values before the spiking side
  runs the window: they go out at once (shift s = 0) from :meth:`send`.
- A spiking region's values exist only once the window is committed: they go
  one interval ahead (s = the interval) from :meth:`committed`, and their
  connection delays are shortened by s.
"""

from __future__ import annotations

import numpy as np


def source_pairs(weights: np.ndarray, spiking_regions) -> list:
    """(slot, target region, source region) for every non-zero connection into a spiking region."""
    return [(slot, i, j) for slot, i in enumerate(spiking_regions)
            for j in range(weights.shape[1]) if j != i and weights[i, j] != 0]


def source_shift(j: int, spiking_regions, interval: float) -> float:
    """Time shift s (ms) of source region j's values: the interval for a spiking region, else 0."""
    return interval if j in spiking_regions else 0.0


def source_delays(connectivity, spiking_regions, n_sync: int, dt: float) -> np.ndarray:
    """Connection delays (ms) of the source proxies: TVB's delay, less the shift s.

    A state of TVB step m is scheduled at t_m + s and reaches its targets at
    t_m + s + delay; TVB itself lets it act on step m + 1 + idelay, which
    ends at t_m + (idelay + 1) dt; one spiking step of generator latency
    takes the rest: delay = idelay * dt - s.
    """
    idelays = connectivity.idelays
    return np.array([idelays[i, j] * dt - source_shift(j, spiking_regions, n_sync * dt)
                     for _, i, j in source_pairs(connectivity.weights, spiking_regions)])


class SourceRegionsBinding:
    """A :class:`~.RateToPoisson` proxy bound in spiking coupling mode."""

    def __init__(self, proxy, ctx):
        self.proxy, self.ctx = proxy, ctx
        backend, tvb = ctx.backend, ctx.tvb
        a = float(np.asarray(tvb.coupling.a).ravel()[0])
        weights = tvb.connectivity.weights
        interval = ctx.n_sync * ctx.dt
        pairs = source_pairs(weights, ctx.spiking_regions)
        delays = source_delays(tvb.connectivity, ctx.spiking_regions, ctx.n_sync, ctx.dt)
        # entries of TVB-integrated sources, and of spiking sources: (handle, j, factor, shift)
        self.integrated, self.spiking = [], []
        for (slot, i, j), delay in zip(pairs, delays):
            delay = round(delay / ctx.spiking_dt) * ctx.spiking_dt
            handle = backend.add_rate_source(ctx.cells(proxy, i),
                                             proxy.synapse_weight, delay, proxy.receptor_type,
                                             proxy.shared_fraction)
            shift = source_shift(j, ctx.spiking_regions, interval)
            (self.spiking if shift > 0 else self.integrated).append(
                (handle, j, proxy.weight * a * float(weights[i, j]), shift))
        self._var = ctx.engine.state_variables.index(proxy.tvb_variable)

    def first_interval(self) -> None:
        """The first interval's input from spiking sources comes from TVB's initial history."""
        ctx, history = self.ctx, self.ctx.tvb.history
        current = ctx.engine.current_step
        steps = np.arange(current - ctx.n_sync + 1, current + 1)
        c = ctx.engine.cvar_names.index(self.proxy.tvb_variable)
        self._send(self.spiking, history.buffer[steps % history.n_time, c, :, 0],
                   -ctx.n_sync * ctx.dt)

    def _send(self, entries, values, t0):
        """Schedule each source's rates (values: (n_steps, n_regions)), each with its shift."""
        backend, dt = self.ctx.backend, self.ctx.dt
        for handle, j, factor, shift in entries:
            backend.set_rates(handle, t0 + shift, dt, factor * values[:, j])

    def send(self, window, t0: float) -> None:
        self._send(self.integrated, window.states[:, self._var, :, 0], t0)

    def committed(self, window, t0: float) -> None:
        # finite: TVB's states and the spiking side's values were checked before the commit
        self._send(self.spiking, window.states[:, self._var, :, 0], t0)
