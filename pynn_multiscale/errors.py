"""The package's exceptions.

Every error raised on bad input derives from :class:`PynnMultiscaleError` and
from the built-in exception a caller would expect (``ValueError`` or
``TypeError``), so ``except ValueError`` keeps working.

Messages follow one pattern: the parameter, the value received, what was
expected, and how to fix it.  :func:`bad_value` builds that message.
"""

from __future__ import annotations


class PynnMultiscaleError(Exception):
    """Base class of every exception raised by pynn_multiscale."""


class ConfigurationError(PynnMultiscaleError, ValueError):
    """An argument has a valid type but an unusable value."""


class ConfigurationTypeError(PynnMultiscaleError, TypeError):
    """An argument has the wrong type."""


class CapabilityError(PynnMultiscaleError, NotImplementedError):
    """The chosen backend lacks a capability that the configuration needs."""


class NumericalError(PynnMultiscaleError, FloatingPointError):
    """A NaN, an infinity or a runaway rate appeared during a run."""


class KernelInUseError(PynnMultiscaleError, RuntimeError):
    """A simulator kernel that allows one network per process is already in use."""


class SequentialLoopNote(UserWarning):
    """``pipeline=None`` chose the sequential loop; the message says why in one line.

    The results are those of the pipelined loop where the set-up allows it (the
    interval is the same), so this is about speed only.  ``pipeline=False``
    chooses the sequential loop without it.
    """


class StaleCoSimulationWarning(UserWarning):
    """An earlier co-simulation on a simulator with global state was closed by a new one.

    Either nothing referred to it any more (e.g. a notebook cell that creates a
    ``CoSimulation`` without ``with`` or ``close()`` was run again), or the new one
    was created with ``replace=True``.  A ``UserWarning``, so it is shown by default.
    """


class MissingDependency(ConfigurationError, ImportError):
    """An optional dependency of a feature (a simulator, Dask, NESTML) is not installed."""


def simulator_not_installed(simulator: str, exc: ImportError, packages, fix_note: str = ""):
    """The :class:`MissingDependency` for ``exc`` if it says one of ``packages`` is absent,
    else ``None`` (the simulator is there but fails to import: its own error says why)."""
    import sys

    missing = (exc.name or "").split(".")[0]
    if missing not in packages:
        return None
    return MissingDependency(
        f"simulator={simulator!r}: {missing} is not installed in this environment (Python "
        f"{sys.version_info.major}.{sys.version_info.minor}: {exc}). Fix: pip install "
        f"'pynn-multiscale[{simulator}]'{fix_note}")


def bad_value(parameter: str, value, expected: str, fix: str) -> str:
    """Format the message of a bad-input error.

    Examples
    --------
    >>> print(bad_value("sync_interval", 5.0, "at most 2.6 ms", "pass sync_interval=None"))
    sync_interval=5.0 is invalid: expected at most 2.6 ms. Fix: pass sync_interval=None.
    """
    return f"{parameter}={value!r} is invalid: expected {expected}. Fix: {fix}."
