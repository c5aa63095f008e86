"""Spiking -> TVB proxies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_name


@dataclass(frozen=True)
class SpikeRate:
    """A population's spike-count histogram per TVB step, as a rate in Hz.

    For TVB step n, covering ``(t_{n-1}, t_n]``::

        rate[n] = 1000 * count[n] / (dt_ms * N)

    where ``count[n]`` is the number of spikes the population emitted in the
    step and ``N`` its size.  The value is written to ``tvb_variable`` of the
    region (the model decides how it enters its state, e.g. through a
    low-pass filter).

    Parameters
    ----------
    population : str
        The population of each spiking region (e.g. ``"E"``).
    tvb_variable : str
        The TVB state variable that receives the rate (e.g. ``"Rin_e"``).
    """

    population: str
    tvb_variable: str

    def __post_init__(self):
        check_name(type(self).__name__, "population", self.population)
        check_name(type(self).__name__, "tvb_variable", self.tvb_variable)

    capability = "spike_counts"

    @staticmethod
    def rate(counts: np.ndarray, dt: float, size: int) -> np.ndarray:
        """Convert counts per TVB step into Hz."""
        return counts * (1000.0 / (dt * size))


@dataclass(frozen=True)
class Replay:
    """Values of a TVB variable that the backend replays (testing only).

    Used with :class:`pynn_multiscale.backends.replay.ReplayBackend` to feed
    proxy regions values computed elsewhere, e.g. by a plain TVB run.
    """

    tvb_variable: str
    population: str = "replay"

    def __post_init__(self):
        check_name(type(self).__name__, "tvb_variable", self.tvb_variable)

    capability = "replay"
