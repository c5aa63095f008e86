"""Validation shared by the proxies."""

from __future__ import annotations

import math

from ..errors import CapabilityError, ConfigurationError, ConfigurationTypeError, bad_value


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


#: The receptors every backend can target: PyNN's standard names.
STANDARD_RECEPTORS = ("excitatory", "inhibitory")


def check_receptor(owner: str, receptor: str, population, backend) -> None:
    """A proxy's ``receptor_type`` must be a receptor of the target cell type.

    PyNN's standard cell types have ``"excitatory"`` and ``"inhibitory"``; a custom cell
    type (a NESTML model on NEST) names its own (``celltype.receptor_types``), which only
    a backend with ``named_receptors = True`` (NEST) can target.
    """
    celltype = getattr(population, "celltype", None)
    receptors = list(getattr(celltype, "receptor_types", STANDARD_RECEPTORS))
    cell_name = type(celltype).__name__ if celltype is not None else "the target cells"
    if receptor not in STANDARD_RECEPTORS and not getattr(backend, "named_receptors", False):
        raise CapabilityError(
            f"{owner}.receptor_type={receptor!r}: the {getattr(backend, 'name', '?')} backend "
            f"delivers proxy input to the standard receptors {STANDARD_RECEPTORS} only, and "
            f"{receptor!r} is a receptor of a custom cell type. Fix: run on NEST, or use a "
            f"PyNN standard cell type with receptor_type='excitatory' or 'inhibitory'.")
    if not receptors and receptor in STANDARD_RECEPTORS:
        return  # a cell type that declares no receptors (a spike source): as before
    if receptor not in receptors:
        raise ConfigurationError(bad_value(
            f"{owner}.receptor_type", receptor,
            f"a receptor of {cell_name}, the cell type of population {population.label!r}: "
            f"{', '.join(map(repr, receptors)) or 'none'}",
            f"pass receptor_type={receptors[0]!r}" if receptors else "target another population"))
