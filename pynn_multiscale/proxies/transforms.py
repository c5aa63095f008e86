"""Maps of the values that cross the scales, declared as data.

A proxy applies its ``transform`` to every value it carries: a ``to_spiking``
proxy to TVB's coupling before its ``weight`` (``weight * transform(c)``), a
``to_tvb`` proxy to the spiking side's value before its ``tau`` low-pass.
Each transform is a small frozen dataclass whose fields are its parameters,
checked when it is made; :meth:`Transform.describe` gives it as plain data for
a run's metadata, and :func:`transform_from_description` makes it again from
that data (no string is ever evaluated).

A transform that carries state across windows (:class:`LowPass`) is started
once per binding with :meth:`Transform.start`, which returns the function the
binding calls every window.

A Python callable is allowed as an escape hatch (:class:`PythonFunction`);
the metadata then records its qualified name and says it cannot be rebuilt.

Examples
--------
>>> import numpy as np
>>> Affine(scale=2.0, offset=1.0).start(0.1, np.zeros(1))(np.array([[1.0], [2.0]])).ravel()
array([3., 5.])
>>> Chain(Clip(0.0, 1.0), Affine(scale=10.0)).describe()["steps"][0]
{'kind': 'Clip', 'low': 0.0, 'high': 1.0}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Callable

import numpy as np

from ..errors import ConfigurationError, ConfigurationTypeError, bad_value


def _finite(owner: str, name: str, value, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigurationTypeError(bad_value(f"{owner}.{name}", value, "a number",
                                               f"pass {name} as a float"))
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ConfigurationError(bad_value(
            f"{owner}.{name}", value, "a positive finite number" if positive else "a finite number",
            f"pass a {'positive ' if positive else ''}finite {name}"))
    return value


class Transform:
    """Base class: a map of values ``(n_steps, n_regions)`` to values of the same shape."""

    def start(self, dt: float, initial: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """The function a binding applies every window (``initial``: the value before the first).

        Stateless transforms return their own map.
        """
        return self.apply

    def apply(self, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        """The transform as plain data (see :func:`transform_from_description`)."""
        return {"kind": type(self).__name__,
                **{f.name: getattr(self, f.name) for f in fields(self)}}

    def _check_fields(self):
        for f in fields(self):
            object.__setattr__(self, f.name, _finite(type(self).__name__, f.name,
                                                     getattr(self, f.name)))


@dataclass(frozen=True)
class Affine(Transform):
    """``scale * x + offset``."""

    scale: float = 1.0
    offset: float = 0.0

    def __post_init__(self):
        self._check_fields()

    def apply(self, values):
        return self.scale * values + self.offset


@dataclass(frozen=True)
class Sigmoid(Transform):
    """``maximum / (1 + exp(slope * (midpoint - x)))``: Jansen-Rit's potential-to-rate map.

    For tvb-library's ``JansenRit``: ``maximum = 2 e0``, ``slope = r``,
    ``midpoint = v0``.

    Examples
    --------
    >>> float(Sigmoid(maximum=0.005, slope=0.56, midpoint=6.0).apply(np.array(6.0)))
    0.0025
    """

    maximum: float = 1.0
    slope: float = 1.0
    midpoint: float = 0.0

    def __post_init__(self):
        self._check_fields()
        _finite("Sigmoid", "maximum", self.maximum, positive=True)
        _finite("Sigmoid", "slope", self.slope, positive=True)

    def apply(self, values):
        return self.maximum / (1.0 + np.exp(self.slope * (self.midpoint - values)))


@dataclass(frozen=True)
class InverseSigmoid(Transform):
    """The inverse of :class:`Sigmoid`: ``midpoint - log(maximum / y - 1) / slope``.

    ``y`` is first clipped into ``[margin, 1 - margin]`` times ``maximum``: a
    population rate of exactly 0 (or of the maximum) has no finite preimage.

    Examples
    --------
    >>> s = dict(maximum=0.005, slope=0.56, midpoint=6.0)
    >>> float(InverseSigmoid(**s).apply(Sigmoid(**s).apply(np.array(4.0))))
    4.0
    """

    maximum: float = 1.0
    slope: float = 1.0
    midpoint: float = 0.0
    margin: float = 1e-9

    def __post_init__(self):
        self._check_fields()
        _finite("InverseSigmoid", "maximum", self.maximum, positive=True)
        _finite("InverseSigmoid", "slope", self.slope, positive=True)
        if not 0 < self.margin < 0.5:
            raise ConfigurationError(bad_value("InverseSigmoid.margin", self.margin,
                                               "a fraction in (0, 0.5)", "pass e.g. 1e-9"))

    def apply(self, values):
        y = np.clip(values, self.margin * self.maximum, (1.0 - self.margin) * self.maximum)
        return self.midpoint - np.log(self.maximum / y - 1.0) / self.slope


@dataclass(frozen=True)
class Clip(Transform):
    """Values limited to ``[low, high]`` (either may be infinite)."""

    low: float = -math.inf
    high: float = math.inf

    def __post_init__(self):
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise ConfigurationError(bad_value(f"Clip.{name}", value, "a number (or ±inf)",
                                                   f"pass {name} as a float"))
            object.__setattr__(self, name, float(value))
        if self.low > self.high:
            raise ConfigurationError(bad_value("Clip.low", self.low, f"at most high ({self.high})",
                                               "swap low and high"))

    def apply(self, values):
        return np.clip(values, self.low, self.high)


def low_pass(values: np.ndarray, previous: np.ndarray, tau: float, dt: float) -> np.ndarray:
    """Exact low-pass of values constant over each step, from ``previous``.

    ``y[k] = keep * y[k-1] + (1 - keep) * x[k]`` with ``keep = exp(-dt / tau)``.

    Examples
    --------
    >>> y = low_pass(np.ones((2, 1)), np.zeros(1), tau=1.0, dt=1.0)
    >>> bool(np.allclose(y.ravel(), [1 - np.exp(-1), 1 - np.exp(-2)]))
    True
    """
    from scipy.signal import lfilter

    keep = float(np.exp(-dt / tau))
    out, _ = lfilter([1.0 - keep], [1.0, -keep], values, axis=0, zi=keep * previous[None, :])
    return out


@dataclass(frozen=True)
class LowPass(Transform):
    """Linear integration (a first-order low-pass) with time constant ``tau`` (ms), exact per step.

    It starts from the value the proxy replaces (for a ``to_tvb`` proxy, the
    TVB state of the region at the start) and carries its last value from
    window to window.
    """

    tau: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "tau", _finite("LowPass", "tau", self.tau, positive=True))

    def start(self, dt, initial):
        previous = np.array(initial, dtype=float)

        def step(values):
            nonlocal previous
            out = low_pass(values, previous, self.tau, dt)
            previous = out[-1].copy()
            return out
        return step

    def apply(self, values):
        raise ConfigurationError("LowPass carries state across windows: use start(dt, initial). "
                                 "Fix: let a proxy apply it.")


@dataclass(frozen=True, init=False)
class Chain(Transform):
    """Several transforms applied in order."""

    steps: tuple

    def __init__(self, *steps):
        for i, step in enumerate(steps):
            if not isinstance(step, Transform):
                raise ConfigurationTypeError(bad_value(
                    f"Chain step {i}", step, "a Transform",
                    "use the classes of pynn_multiscale.proxies.transforms"))
        object.__setattr__(self, "steps", tuple(steps))

    def start(self, dt, initial):
        started = [step.start(dt, initial) for step in self.steps]

        def run(values):
            for function in started:
                values = function(values)
            return values
        return run

    def describe(self):
        return {"kind": "Chain", "steps": [step.describe() for step in self.steps]}


@dataclass(frozen=True)
class PythonFunction(Transform):
    """Any Python callable of an array (the escape hatch): it cannot be rebuilt from metadata."""

    function: Callable

    def __post_init__(self):
        if not callable(self.function):
            raise ConfigurationTypeError(bad_value("PythonFunction.function", self.function,
                                                   "a callable of an array",
                                                   "pass a function, e.g. numpy.tanh"))

    def apply(self, values):
        return np.asarray(self.function(values), dtype=float)

    def describe(self):
        f = self.function
        return {"kind": "PythonFunction",
                "function": f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', repr(f))}",
                "rebuildable": False}


#: Transform names (as in :meth:`Transform.describe`) -> classes that can be rebuilt from data.
TRANSFORMS = {cls.__name__: cls for cls in (Affine, Sigmoid, InverseSigmoid, Clip, LowPass)}


def transform_from_description(description: dict) -> Transform:
    """Make a transform again from :meth:`Transform.describe`'s data.

    Examples
    --------
    >>> transform_from_description({"kind": "LowPass", "tau": 5.0})
    LowPass(tau=5.0)
    """
    if not isinstance(description, dict) or "kind" not in description:
        raise ConfigurationTypeError(bad_value("description", description,
                                               "a dict with a 'kind' key",
                                               "pass what Transform.describe() returned"))
    params = dict(description)
    kind = params.pop("kind")
    if kind == "Chain":
        return Chain(*(transform_from_description(step) for step in params.get("steps", ())))
    if kind not in TRANSFORMS:
        raise ConfigurationError(bad_value(
            "kind", kind, f"one of {sorted(TRANSFORMS) + ['Chain']}",
            "a PythonFunction cannot be rebuilt from data: pass the function again"
            if kind == "PythonFunction" else "check the spelling"))
    return TRANSFORMS[kind](**params)


__all__ = ["Transform", "Affine", "Sigmoid", "InverseSigmoid", "Clip", "LowPass", "Chain",
           "PythonFunction", "TRANSFORMS", "transform_from_description", "low_pass"]
