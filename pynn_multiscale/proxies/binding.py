"""How a proxy meets a backend: the context it binds in, and the bindings the loop calls.

A proxy is a declaration.  Given a :class:`BindContext` (the backend, the
built regions, the time steps, the TVB side), ``proxy.bind(context)`` makes
the backend handles it needs and returns a *binding*: an object that owns
those handles and whatever the proxy carries from window to window (a kernel's
history, a low-pass state).  The loop then makes two plain loops over
bindings per window:

- a :class:`ToSpikingBinding` sends a window of TVB values to the spiking
  side (``send``, before the spiking side runs the window) and, if it needs
  the spiking regions' committed values, sends those once TVB has committed
  the window (``committed``);
- a :class:`ToTVBBinding` turns a window's spikes or states into one TVB
  value per step and region (``receive``).

Adding an interface kind means a proxy class with a ``bind`` method, and the
backend capability it uses; the loop does not change.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import CapabilityError, NumericalError, bad_value
from ._checks import check_receptor


class ToSpikingProxy:
    """Base of the TVB -> spiking proxies: a declaration with a ``bind`` method.

    A subclass names the backend ``capability`` it needs and returns a
    :class:`ToSpikingBinding`-like object from ``bind(ctx)``; nothing else in
    the package has to know it.
    """

    #: The backend capability the proxy needs (see :mod:`pynn_multiscale.backends.base`).
    capability = ""
    #: Whether the proxy connects sources to the neurons (and so has a delay).
    makes_connections = True
    #: Whether ``population`` must name a population of every spiking region.
    needs_population = True

    def bind(self, ctx: "BindContext"):
        raise NotImplementedError


class ToTVBProxy:
    """Base of the spiking -> TVB proxies: a declaration with a ``bind`` method."""

    capability = ""
    #: Whether ``population`` must name a population of every spiking region.
    needs_population = True

    def bind(self, ctx: "BindContext"):
        raise NotImplementedError


def kinds(base) -> list[str]:
    """The names of the proxy classes derived from ``base`` (``ToSpikingProxy``, ``ToTVBProxy``)."""
    found, todo = [], list(base.__subclasses__())
    while todo:
        cls = todo.pop(0)
        todo.extend(cls.__subclasses__())
        if not cls.__name__.startswith("_"):
            found.append(cls.__name__)
    return found


class _Unseeded:
    """What a :class:`NumpyGlobalStream` offers, without a seed: numpy's global generator."""

    random = np.random

    @staticmethod
    def active():
        return contextlib.nullcontext()


#: The stream of a co-simulation without a seed: the user's global generator as it is.
UNSEEDED = _Unseeded()


@dataclass
class BindContext:
    """Everything a proxy needs to bind.

    Attributes
    ----------
    backend
        The spiking simulator's backend.
    regions : dict
        Region index -> :class:`~pynn_multiscale.SpikingRegion` (empty for a
        backend without a simulator, such as the replay backend).
    spiking_regions : list of int
        The regions, in slot order: column ``k`` of every array is region
        ``spiking_regions[k]``.
    dt, spiking_dt : float
        TVB's and the spiking simulator's time steps (ms).
    n_sync : int
        TVB steps per synchronisation interval.
    engine : TVBEngine
        The TVB side (variable names, proxy indices, labels).
    tvb
        The TVB simulator (its connectivity, coupling, history and state).
    coupling_mode : str
        ``"tvb"`` or ``"spiking"`` (see :class:`~pynn_multiscale.CoSimulation`).
    numpy_stream : NumpyGlobalStream or UNSEEDED
        The stream of numpy's global generator that Elephant-based proxies
        draw from (seeded from the co-simulation's proxy seed); :data:`UNSEEDED`:
        the user's global generator as it is.
    """

    backend: Any
    regions: dict
    spiking_regions: list
    dt: float
    spiking_dt: float
    n_sync: int
    engine: Any
    tvb: Any
    coupling_mode: str = "tvb"
    numpy_stream: Any = UNSEEDED

    def population(self, name: str, region_index: int):
        """The population ``name`` of a region (None without a simulator)."""
        return self.regions[region_index].populations[name] if self.regions else None

    def cells(self, proxy, region_index: int):
        """The population a proxy drives or reads neuron by neuron: a Population or a view.

        An Assembly is refused on every backend: an input's ``synapse_weight``
        and receptor (and a state variable's meaning) are those of one cell
        type, and an Assembly may join several.  Spike counts
        (``SpikeRate``, ``InstantaneousRate``) accept Assemblies.
        """
        pop = self.population(proxy.population, region_index)
        if pop is not None and getattr(pop, "populations", None) is not None:
            raise CapabilityError(bad_value(
                f"{type(proxy).__name__}.population", proxy.population,
                f"a Population or a view in region {region_index}, not an Assembly: a proxy that "
                "drives or reads neurons one by one gives each the same weight, receptor or "
                "variable, which means one thing per cell type, and an Assembly may join "
                "several (SpikeRate and InstantaneousRate accept Assemblies)",
                "give one proxy per member population (name each in SpikingRegion.populations)"))
        receptor = getattr(proxy, "receptor_type", None)
        if pop is not None and receptor is not None:
            check_receptor(type(proxy).__name__, receptor, pop, self.backend)
        return pop

    def delay(self, delay: float | None) -> float:
        """A proxy's connection delay: its own, or one spiking step."""
        return self.spiking_dt if delay is None else delay

    def initial_state(self, variable: str) -> np.ndarray:
        """TVB's current value of a state variable in every spiking region."""
        var = self.engine.state_variables.index(variable)
        return np.array([float(self.tvb.current_state[var, idx, 0])
                         for idx in self.spiking_regions])

    def check(self, values: np.ndarray, direction: str, variable: str, t0: float,
              require_nonneg: bool = False) -> None:
        """Stop with :class:`NumericalError` on a non-finite (or negative) value crossing."""
        bad = ~np.isfinite(values)
        if require_nonneg:
            bad |= values < 0
        if not bad.any():
            return
        step, slot = np.argwhere(bad)[0]
        idx = self.spiking_regions[slot]
        raise NumericalError(
            f"{direction}: {variable} of region {idx} ({self.engine.region_labels[idx]}) is "
            f"{values[step, slot]} at t = {t0 + (step + 1) * self.dt:g} ms. Likely cause: "
            + ("the TVB model diverged (check dt, the coupling G and the noise)"
               if direction == "to_spiking" else
               "the spiking side produced an invalid value (check the population and its input)"))


class NumpyGlobalStream:
    """A seeded stream of numpy's *global* generator, active only while it is used.

    Elephant's spike train generators (1.2) take no generator argument: they
    draw from ``numpy.random``'s global state.  Seeding that state would
    change every later draw of the user's own code, so the co-simulation keeps
    its own state here and swaps it in for each call (:meth:`active`),
    restoring the user's afterwards.

    Examples
    --------
    >>> stream = NumpyGlobalStream(7)
    >>> np.random.seed(1); before = np.random.get_state()[1].copy()
    >>> with stream.active():
    ...     a = np.random.random_sample()
    >>> bool(np.array_equal(np.random.get_state()[1], before))
    True
    >>> a == np.random.RandomState(7).random_sample()
    True
    >>> b = stream.random.random_sample()  # the same stream, drawn directly
    >>> bool(b == np.random.RandomState(7).random_sample(2)[1])
    True
    """

    def __init__(self, seed: int):
        #: The stream itself.  Code of ours draws from it directly: the same numbers as
        #: from the global generator inside :meth:`active` (numpy's global functions are
        #: the methods of one ``RandomState``), without the four copies of the
        #: generator's state that each :meth:`active` makes.
        self.random = np.random.RandomState(seed)

    @contextlib.contextmanager
    def active(self):
        """The stream as numpy's global generator, for code that draws from it (Elephant)."""
        saved = np.random.get_state()
        np.random.set_state(self.random.get_state())
        try:
            yield
        finally:
            self.random.set_state(np.random.get_state())
            np.random.set_state(saved)


def start_transform(transform, ctx: BindContext, initial: np.ndarray | None = None) -> Callable | None:
    """A proxy's transform, started for one binding (None for no transform)."""
    if transform is None:
        return None
    if initial is None:
        initial = np.zeros(len(ctx.spiking_regions))
    return transform.start(ctx.dt, initial)


class ToSpikingBinding:
    """TVB's coupling on one variable, sent to one population per spiking region.

    ``send_one(handle, values, t0, slot)`` is the backend call of the proxy's
    kind for one region's window of values.
    """

    def __init__(self, proxy, ctx: BindContext, handles: list, send_one: Callable,
                 require_nonneg: bool = False):
        self.proxy, self.ctx, self.handles = proxy, ctx, handles
        self._send_one = send_one
        self._cvar = ctx.engine.cvar_names.index(proxy.tvb_variable)
        self._proxy_inds = ctx.engine.proxy_inds
        self._transform = start_transform(proxy.transform, ctx)
        self._require_nonneg = require_nonneg

    def send(self, window, t0: float) -> None:
        """Send the window's coupling (step 1 of the loop)."""
        coupling = window.coupling[:, self._cvar, self._proxy_inds, 0]
        if self._transform is not None:
            coupling = self._transform(coupling)
        values = self.proxy.weight * coupling
        self.ctx.check(values, "to_spiking", self.proxy.tvb_variable, t0,
                       require_nonneg=self._require_nonneg)
        for slot, handle in enumerate(self.handles):
            self._send_one(handle, values[:, slot], t0, slot)

    def first_interval(self) -> None:
        """Nothing to send before the first window."""

    def committed(self, window, t0: float) -> None:
        """Nothing to send once TVB has committed the window."""


@dataclass
class ToTVBBinding:
    """One population per spiking region turned into one TVB variable.

    ``value(slot, window, spikes, t0, n_steps)`` gives one region's values of
    the window; ``transform`` (the proxy's, then its ``tau`` low-pass) is
    applied to all regions' values together.
    """

    proxy: Any
    ctx: BindContext
    value: Callable
    transform: Callable | None = None

    def receive(self, window, spikes: dict, t0: float, n_steps: int) -> np.ndarray:
        """The window's values ``(n_steps, n_regions)`` for the proxy's TVB variable (step 4)."""
        values = np.empty((n_steps, len(self.ctx.spiking_regions)))
        for slot in range(len(self.ctx.spiking_regions)):
            values[:, slot] = self.value(slot, window, spikes, t0, n_steps)
        if self.transform is not None:
            values = self.transform(values)
        self.ctx.check(values, "to_tvb", self.proxy.tvb_variable, t0)
        return values


__all__ = ["BindContext", "NumpyGlobalStream", "UNSEEDED", "ToSpikingBinding", "ToSpikingProxy",
           "ToTVBBinding", "ToTVBProxy", "kinds", "start_transform"]
