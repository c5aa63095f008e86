"""Elephant's spike train processes, drawn in bulk instead of once per window.

:class:`~pynn_multiscale.proxies.ElephantTrains` used to call Elephant once
per region and window.  Each call built one ``neo.SpikeTrain`` per neuron,
and most of its time went into ``quantities`` parsing unit strings: 20 to 400
times the loop's cost on W1.  Here every process is built from one
homogeneous Poisson process per component, which Elephant's
``StationaryPoissonProcess`` draws as a plain array (``as_array=True``), for
many windows at once (:class:`PoissonBuffer`).  Three exact properties of
Poisson processes turn it into each process:

* **Time rescaling.**  If ``u_1 < u_2 < ...`` are the events of a Poisson
  process of rate 1, then ``t_k = L^-1(u_k)``, with ``L(t)`` the integral of
  a rate ``r(t)``, are the events of a Poisson process of rate ``r(t)``.  The
  rate is constant over each TVB step, so ``L`` is piecewise linear and its
  inverse exact.  The process is the same as Elephant's
  ``NonStationaryPoissonProcess`` on the same piecewise-constant rate.
* **Superposition and marking.**  ``n`` independent Poisson processes of
  rate ``r`` are one process of rate ``n r`` whose events each belong to a
  neuron drawn uniformly and independently.  So one buffer serves a whole
  population.
* **Independent increments.**  Disjoint stretches of a Poisson process are
  independent, so drawing a long stretch ahead and using it window by
  window is the same as drawing each window.

So:

* ``"poisson"``: independent inhomogeneous Poisson trains, following every
  TVB step: one population-wide buffer (rate ``n``) in operational time
  ``L(t) = integral of r``, events marked with neurons.
* ``"sip"`` (Elephant's ``single_interaction_process``, stochastic
  coincidences): independent Poisson trains at ``(1 - c) r`` (as above) plus
  coincidences at ``c r``, each inserted into every train.
* ``"mip"`` (Elephant's ``compound_poisson_process`` with a binomial
  amplitude distribution): a mother process at ``r / c`` whose every event
  each train copies with probability ``c``; an event copied nowhere is no
  spike, which is the amplitude distribution without its zero, as Elephant
  takes it.

SIP and MIP take each window's mean rate, as before (Elephant's correlated
generators are stationary).  Every draw comes from the co-simulation's seeded
stream (:class:`~pynn_multiscale.proxies.binding.NumpyGlobalStream`):
Elephant's draws through numpy's global generator, with the stream swapped in
(they are rare: one per ``EVENTS_PER_DRAW`` events), and the marks and copies
of every window from the stream directly.  Without a seed (``UNSEEDED``),
every draw comes from numpy's global generator.
"""

from __future__ import annotations

import numpy as np

from ..backends.base import Trains
from .binding import UNSEEDED

#: Expected events per draw from Elephant (one call covers many windows).
EVENTS_PER_DRAW = 16384


class PoissonBuffer:
    """Events of a homogeneous Poisson process of ``rate`` per unit of operational time.

    Elephant draws them ``EVENTS_PER_DRAW`` at a time, as a plain array, from
    ``stream`` (a :class:`~pynn_multiscale.proxies.binding.NumpyGlobalStream`;
    default ``UNSEEDED``, numpy's global generator); :meth:`take` hands out the events of
    consecutive stretches ``(u0, u1]``.
    """

    def __init__(self, rate: float, stream=UNSEEDED):
        self.rate = float(rate)
        self.stream = stream
        self.end = 0.0  # operational time drawn so far
        self.events = np.empty(0)

    def _draw(self, until: float) -> None:
        import quantities as pq
        from elephant.spike_train_generation import StationaryPoissonProcess

        span = max(until - self.end, EVENTS_PER_DRAW / self.rate)
        with self.stream.active():
            fresh = StationaryPoissonProcess(
                rate=self.rate * pq.Hz, t_start=self.end * pq.s, t_stop=(self.end + span) * pq.s
            ).generate_spiketrain(as_array=True)
        self.events = np.concatenate([self.events, np.asarray(fresh, dtype=float)])
        self.end += span

    def take(self, u0: float, u1: float) -> np.ndarray:
        """The events in ``(u0, u1]``; later calls must ask for later stretches."""
        if u1 <= u0:
            return np.empty(0)
        while self.end < u1:
            self._draw(u1)
        start = np.searchsorted(self.events, u0, side="right")
        stop = np.searchsorted(self.events, u1, side="right")
        out = self.events[start:stop]
        self.events = self.events[stop:]
        return out


def _rescale(events, u0, increments, t0, dt):
    """Real times (ms) of operational times ``events`` in a window of per-step increments.

    Step ``k`` (from 0) covers ``(t0 + k dt, t0 + (k + 1) dt]`` and operational
    time ``(c_k - a_k, c_k]``, with ``c`` the cumulative increments from ``u0``.
    """
    cumulative = u0 + np.cumsum(increments)
    step = np.minimum(np.searchsorted(cumulative, events, side="left"), increments.size - 1)
    before = cumulative[step] - increments[step]
    return t0 + dt * (step + (events - before) / increments[step])


class BulkTrains:
    """One population's trains of one :class:`ElephantTrains` proxy, window after window.

    Parameters
    ----------
    process : {"poisson", "sip", "mip"}
    correlation : float
        ``c`` of SIP and MIP.
    n : int
        Neurons (trains).
    stream : NumpyGlobalStream, optional
        Where every draw comes from; default ``UNSEEDED``, numpy's global generator.
    """

    def __init__(self, process: str, correlation: float, n: int, stream=UNSEEDED):
        self.process, self.c, self.n = process, float(correlation), int(n)
        self.random = stream.random
        if process == "poisson":
            self.independent = PoissonBuffer(n, stream)
        elif process == "sip":
            self.independent = PoissonBuffer(n, stream) if self.c < 1 else None
            self.shared = PoissonBuffer(1.0, stream) if self.c > 0 else None
        else:
            self.shared = PoissonBuffer(1.0, stream)
        self.u_independent = 0.0  # operational times reached
        self.u_shared = 0.0

    def window(self, rates, t0: float, dt: float) -> list:
        """``n`` spike trains (ms) over ``(t0, t0 + len(rates) * dt]`` at ``rates`` (Hz) per step."""
        rates = np.asarray(rates, dtype=float)
        n_steps = rates.size
        if self.process == "poisson":
            increments = rates * dt / 1000.0  # expected spikes per neuron in each step
            times = self._independent(increments, t0, dt)
            return Trains(times[0], times[1], self.n)
        rate = float(np.mean(rates))  # the stationary processes take the window's mean
        span = n_steps * dt
        if self.process == "sip":
            increments = np.full(1, (1.0 - self.c) * rate * span / 1000.0)
            times, neurons = self._independent(increments, t0, span) if self.independent \
                else (np.empty(0), np.empty(0, np.int64))
            if self.shared is not None:
                common = self._shared(self.c * rate * span / 1000.0, t0, span)
                times = np.concatenate([times, np.tile(common, self.n)])
                neurons = np.concatenate([neurons, np.repeat(np.arange(self.n), common.size)])
            return Trains(times, neurons, self.n)
        mother = self._shared(rate / self.c * span / 1000.0, t0, span)
        copied = self.random.random_sample((mother.size, self.n)) < self.c
        event, neuron = np.nonzero(copied)
        return Trains(mother[event], neuron, self.n)

    def _independent(self, increments, t0, step):
        """Marked events of the population-wide buffer over the window's steps."""
        total = float(increments.sum())
        if total <= 0:
            return np.empty(0), np.empty(0, np.int64)
        u0 = self.u_independent
        events = self.independent.take(u0, u0 + total)
        self.u_independent = u0 + total
        neurons = self.random.randint(0, self.n, size=events.size)
        return _rescale(events, u0, increments, t0, step), neurons

    def _shared(self, increment, t0, span):
        """Times of the shared process's events over the window (one constant rate)."""
        if increment <= 0:
            return np.empty(0)
        u0 = self.u_shared
        events = self.shared.take(u0, u0 + increment)
        self.u_shared = u0 + increment
        return t0 + span * (events - u0) / increment
