"""Current sources: ``DCSource`` and ``StepCurrentSource`` as changes of ``i_offset``.

ANNarchy's models take an injected current through ``i_offset`` only, so the
adapter keeps each neuron's PyNN ``i_offset`` and the sum of the currents
injected into it apart, writes their sum to ANNarchy, and splits ``run`` at
every time an amplitude changes.  A change at ``t`` acts on the integration
steps after ``t``, as NEST's generators do through PyNN.
"""

from __future__ import annotations

import numpy as np

from ...errors import ConfigurationError, bad_value
from ._populations import Assembly, Population, PopulationView, _outside
from ._simulator import state


class _CurrentSource:
    def __init__(self):
        state.network()
        self._targets = []   # (population, parent indices)
        self._applied = 0.0  # amplitude currently in the targets' i_offset
        state.current_sources.append(self)

    def inject_into(self, cells):
        if not isinstance(cells, (Population, PopulationView, Assembly)):
            raise ConfigurationError(bad_value("cells", type(cells).__name__,
                                               "a Population, PopulationView or Assembly",
                                               "inject into a population"))
        for population, mask in cells._parts():
            if not population.celltype.injectable:
                raise ConfigurationError(bad_value("cells", population.label, "neurons (not "
                                                   "spike sources)", "inject into a neuron "
                                                   "population"))
            self._targets.append((population, mask))

    def _times_amplitudes(self):
        raise NotImplementedError

    def _change_steps(self):
        return [state.steps(t) for t in self._times_amplitudes()[0]]

    def _apply(self, step):
        """Make the amplitude in force from ``step`` on the one in the targets."""
        times, amplitudes = self._times_amplitudes()
        steps = np.array([state.steps(t) for t in times])
        active = np.flatnonzero(steps <= step)
        value = float(amplitudes[active[-1]]) if active.size else 0.0
        if value != self._applied:
            for population, mask in self._targets:
                population._set_injected(mask, value - self._applied)
            self._applied = value

    def __getattr__(self, name):
        if not name.startswith("_"):
            raise _outside(type(self).__name__, name)
        raise AttributeError(name)


class DCSource(_CurrentSource):
    """A constant current ``amplitude`` (nA) from ``start`` to ``stop`` (ms)."""

    def __init__(self, amplitude=1.0, start=0.0, stop=None):
        super().__init__()
        if stop is not None and stop <= start:
            raise ConfigurationError(bad_value("stop", stop, f"a time after start ({start})",
                                               "pass stop > start, or None"))
        self.amplitude, self.start, self.stop = float(amplitude), float(start), stop

    def _times_amplitudes(self):
        times = [self.start] + ([float(self.stop)] if self.stop is not None else [])
        return times, [self.amplitude, 0.0][:len(times)]


class StepCurrentSource(_CurrentSource):
    """A current that takes ``amplitudes[k]`` (nA) from ``times[k]`` (ms) on."""

    def __init__(self, times=(), amplitudes=()):
        super().__init__()
        self.set_parameters(times=times, amplitudes=amplitudes)

    def set_parameters(self, times=None, amplitudes=None):
        times = np.asarray(self.times if times is None else times, dtype=float)
        amplitudes = np.asarray(self.amplitudes if amplitudes is None else amplitudes, dtype=float)
        if times.shape != amplitudes.shape or times.ndim != 1:
            raise ConfigurationError(bad_value("amplitudes", f"{amplitudes.size} values",
                                               f"one per time ({times.size})",
                                               "pass times and amplitudes of equal length"))
        if times.size and (np.any(np.diff(times) <= 0) or times[0] < state.t):
            raise ConfigurationError(bad_value("times", times.tolist(), "increasing times, not "
                                               "in the past", "sort the times"))
        self.times, self.amplitudes = times, amplitudes

    def _times_amplitudes(self):
        return self.times, self.amplitudes
