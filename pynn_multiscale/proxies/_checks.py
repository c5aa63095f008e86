"""Validation shared by the proxies."""

from __future__ import annotations

import math

from ..errors import ConfigurationError, ConfigurationTypeError, bad_value


def check_name(owner: str, parameter: str, value) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigurationTypeError(bad_value(
            f"{owner}.{parameter}", value, "a non-empty string", f"pass the {parameter} by name"))


def check_weight(owner: str, parameter: str, value, allow_zero: bool = True) -> float:
    """A finite, non-negative number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ConfigurationTypeError(bad_value(
                f"{owner}.{parameter}", value, "a number", "pass a float")) from None
    value = float(value)
    if math.isnan(value) or math.isinf(value) or value < 0 or (value == 0 and not allow_zero):
        raise ConfigurationError(bad_value(
            f"{owner}.{parameter}", value, "a finite number >= 0" if allow_zero else "a finite number > 0",
            "inhibition is set with receptor_type='inhibitory', not a negative weight"
            if value < 0 else "pass a finite positive number"))
    return value


def check_transform(owner: str, transform) -> None:
    """None or a :class:`~pynn_multiscale.proxies.transforms.Transform`."""
    from .transforms import Transform

    if transform is not None and not isinstance(transform, Transform):
        raise ConfigurationTypeError(bad_value(
            f"{owner}.transform", transform, "a pynn_multiscale.proxies.transforms.Transform",
            "wrap a function in transforms.PythonFunction, or use Affine, Sigmoid, ..."))
