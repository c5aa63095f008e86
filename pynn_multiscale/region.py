"""A spiking region node: named PyNN populations and the projections among them."""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import numpy as np

from .errors import CapabilityError, ConfigurationError, ConfigurationTypeError, bad_value


@dataclass
class SpikingRegion:
    """What a region builder returns.

    Parameters
    ----------
    populations : dict of str to Population, PopulationView or Assembly
        The populations that proxies address by name, e.g. ``{"E": pop_e, "I": pop_i}``.
        A name may also stand for a view (``pop_e[:100]``) or an assembly
        (``pop_e + pop_i``): its spikes are those of its cells in their whole
        populations, so naming it takes nothing from any other name
        (:func:`cell_pieces`).
    projections : list
        The PyNN Projections inside the region (kept so they are not garbage
        collected and can be inspected).

    Examples
    --------
    A builder is a plain function of ``(sim, region_index, label, rng)``::

        def build(sim, region_index, label, rng):
            e = sim.Population(80, sim.IF_cond_alpha(), label=f"{label}_E")
            return SpikingRegion({"E": e})
    """

    populations: dict
    projections: list = field(default_factory=list)

    def __post_init__(self):
        if not isinstance(self.populations, dict) or not self.populations:
            raise ConfigurationTypeError(bad_value(
                "populations", self.populations, "a non-empty dict of name -> PyNN Population",
                'return SpikingRegion({"E": pop_e, "I": pop_i}) from the builder'))
        for name, pop in self.populations.items():
            if not isinstance(name, str) or not hasattr(pop, "size") or not (
                    hasattr(pop, "celltype") or hasattr(pop, "populations")):
                raise ConfigurationTypeError(bad_value(
                    f"populations[{name!r}]", type(pop).__name__,
                    "a PyNN Population, PopulationView or Assembly",
                    "create it with sim.Population(n, celltype), pop[i:j] or pop_a + pop_b"))


def cell_pieces(population) -> list:
    """A named population as pieces of whole populations: ``[(population, cells), ...]``.

    A Population is one piece whose ``cells`` is None (all of them); a view
    (``pop[10:20]``, a view of a view) is its root population with the view's
    cells there, in the view's order; an Assembly is its members' pieces, in
    order.  Spikes are counted once per whole population and each name takes
    its cells' spikes from there, the same on every backend.
    """
    members = getattr(population, "populations", None)
    if members is not None:
        return [piece for member in members for piece in cell_pieces(member)]
    if getattr(population, "parent", None) is not None:
        cells = population.index_in_grandparent(np.arange(population.size))
        return [(population.grandparent, np.asarray(cells, dtype=np.int64))]
    return [(population, None)]


def piece_lookup(pieces, sizes) -> list:
    """Per piece: (key of its whole population, index there -> index in the name, or None).

    ``pieces`` are ``(key, cells)`` pairs, ``sizes`` each key's population
    size; a cell outside the piece maps to -1.
    """
    out, offset = [], 0
    for key, cells in pieces:
        if cells is None and len(pieces) == 1:
            out.append((key, None))
            continue
        n = sizes[key]
        cells = np.arange(n) if cells is None else cells
        position = np.full(n, -1, dtype=np.int64)
        position[cells] = offset + np.arange(cells.size)
        out.append((key, position))
        offset += cells.size
    return out


def spikes_of(lookup, spikes: dict):
    """A name's ``(times, indices)`` from its whole populations' ``spikes[key]``."""
    if len(lookup) == 1 and lookup[0][1] is None:
        return spikes[lookup[0][0]]
    times, index = [], []
    for key, position in lookup:
        t, i = spikes[key]
        where = position[np.asarray(i, dtype=np.int64)]
        keep = where >= 0
        times.append(np.asarray(t)[keep])
        index.append(where[keep])
    return np.concatenate(times), np.concatenate(index)


def check_built_region(result, region_index: int) -> SpikingRegion:
    """Validate what a builder returned for ``region_index``."""
    if not isinstance(result, SpikingRegion):
        raise ConfigurationTypeError(bad_value(
            f"build_region(...) for region {region_index}", type(result).__name__,
            "a pynn_multiscale.SpikingRegion", 'return SpikingRegion({"E": pop_e, ...})'))
    return result


def check_cell_types(backend, region, projections, region_index: int, label: str) -> None:
    """Refuse a cell type the backend lists in ``refused_cell_types`` (an upstream defect).

    The populations looked at are the named ones and every projection's ends.
    """
    refused = getattr(backend, "refused_cell_types", {})
    if not refused:
        return
    ends = list(region.populations.values())
    ends += [end for proj in projections for end in (proj.pre, proj.post)]
    for pop in ends:
        for whole, _ in cell_pieces(pop):
            name = type(whole.celltype).__name__
            if name in refused:
                raise CapabilityError(bad_value(
                    f"cell type of population {whole.label!r}", name,
                    f"a cell type the {backend.name} backend runs correctly in region "
                    f"{region_index} ({label}): {refused[name]}",
                    f"run {name} cells on another backend (docs/backends.md, upstream defects)"))


def check_signal_intervals(region, region_index: int, label: str) -> None:
    """A named view or assembly whose pieces record analog signals at different intervals.

    Its signals could not be one ``AnalogSignal`` per variable (neo refuses
    to merge them), and the co-simulation would fail when the result is
    built, after the whole run: refused before it starts.
    """
    from .backends.base import signal_intervals

    for name, pop in region.populations.items():
        pieces = cell_pieces(pop)
        if len(pieces) < 2:
            continue
        intervals = {}
        for whole, _ in pieces:
            for variable, every in signal_intervals(whole).items():
                intervals[f"{whole.label} {variable}"] = every
        if len(set(intervals.values())) > 1:
            raise ConfigurationError(bad_value(
                f"population {name!r} of region {region_index} ({label})",
                ", ".join(f"{k} every {v:g} ms" for k, v in intervals.items()),
                "analog signals recorded at one sampling_interval in every population it "
                "joins (its signals are one AnalogSignal per variable)",
                "pass the same sampling_interval to each population's record(...)"))


def check_receptor_guesses(projections, region_index: int, label: str) -> None:
    """Refuse or warn about projections whose receptor type was chosen by default.

    Onto an ``Assembly``, PyNN picks the first element of a *set* of
    receptor types, so the choice depends on ``PYTHONHASHSEED``: the same
    script fires normally in one process and not at all in the next.  That is
    refused.  Onto a population whose cell type has several receptors, PyNN's
    choice follows the sign of the weight; it is deterministic, but a
    conductance-based cell silently gets excitatory input, so it is warned
    about.
    """
    for proj in projections:
        post = proj.post
        receptors = sorted(post.receptor_types)  # an Assembly gives them in set order
        if len(receptors) < 2:
            continue
        name = proj.label or f"{proj.pre.label} -> {post.label}"
        where = f"a Projection made by build_region for region {region_index} ({label})"
        fix = f"pass receptor_type={receptors[0]!r} (or another of {receptors}) to sim.Projection"
        if hasattr(post, "populations"):
            raise ConfigurationError(bad_value(
                f"receptor_type of Projection {name!r}", None,
                f"an explicit receptor type in {where}: onto an Assembly, PyNN chooses from a "
                f"set, so the choice (here {proj.receptor_type!r}) changes with PYTHONHASHSEED "
                "from one process to the next", fix))
        warnings.warn(f"Projection {name!r} ({where}) has no receptor_type; PyNN chose "
                      f"{proj.receptor_type!r} of {receptors}. Fix: {fix}.", UserWarning,
                      stacklevel=2)


@contextlib.contextmanager
def projections_made(sim):
    """Collect the Projections made with ``sim.Projection`` while the block runs.

    Yields ``(made, guessed)``: every projection made, and those made without
    a ``receptor_type`` (PyNN then picks one; see :func:`check_receptor_guesses`).
    ``sim.Projection.__init__`` is wrapped for the block only.  A projection
    whose creation fails gets its name attached to the exception
    (``exc.projection_name``), so the error can say which one it was.
    """
    import inspect

    cls = getattr(sim, "Projection", None)
    made, guessed = [], []
    if cls is None:
        yield made, guessed
        return
    original = cls.__init__
    signature = inspect.signature(original)

    def init(self, *args, **kwargs):
        try:
            original(self, *args, **kwargs)
        except Exception as exc:
            ends = [getattr(a, "label", "?") for a in args[:2]]
            exc.projection_name = kwargs.get("label") or " -> ".join(ends)
            raise
        made.append(self)
        given = signature.bind(self, *args, **kwargs).arguments.get("receptor_type")
        if given in (None, "default"):  # PyNN's own words for "choose one"
            guessed.append(self)

    cls.__init__ = init
    try:
        yield made, guessed
    finally:
        cls.__init__ = original


def delay_error(name: str, smallest, region_index: int, label: str, min_delay: float,
                spiking_dt: float) -> ConfigurationError:
    """The one error for a projection delay below ``min_delay`` (or the time step, or zero)."""
    what = ("negative" if smallest < 0 else "too short") if isinstance(smallest, float) \
        else "refused by the simulator"
    return ConfigurationError(bad_value(
        f"delay of Projection {name!r}", smallest,
        f"delays of at least min_delay ({min_delay} ms, itself at least the spiking time step "
        f"{spiking_dt} ms) in every projection that build_region makes (region {region_index} "
        f"({label})); this one is {what}",
        "make the projection's delays at least min_delay, or pass min_delay=<the network's "
        "shortest synaptic delay> to CoSimulation"))


def max_delay_error(name: str, longest, region_index: int, label: str,
                    max_delay: float, how: str = "given to CoSimulation") -> ConfigurationError:
    """The one error for a projection delay above ``max_delay`` (one the user gave)."""
    at_least = f" (at least {longest:g} ms)" if isinstance(longest, float) else ""
    return ConfigurationError(bad_value(
        f"delay of Projection {name!r}", longest,
        f"delays of at most max_delay ({max_delay:g} ms, {how}) in every "
        f"projection that build_region makes (region {region_index} ({label})); this one is "
        "longer", f"pass a larger max_delay{at_least} to CoSimulation" + (
            ", or max_delay=None to derive it from the delays the builders make"
            if how == "given to CoSimulation" else "")))


class DelayAboveMaxDelay(Exception):
    """A builder made a delay above a derived ``max_delay``: set up again with a larger one.

    Raised by :func:`~pynn_multiscale.cosim.build_regions` and caught by
    :class:`~pynn_multiscale.CoSimulation`, never seen by the user.
    ``delay``: the refused delay (ms) when the simulator said it, else None.
    """

    def __init__(self, delay, projection: str, region_index: int, label: str):
        super().__init__(f"delay {delay} ms of Projection {projection!r} in region "
                         f"{region_index} ({label}) is above max_delay")
        self.delay, self.projection = delay, projection
        self.region_index, self.label = region_index, label


def connection_values(proj, name: str) -> np.ndarray:
    """Every connection's ``name`` (e.g. "delay") of a PyNN Projection, flat.

    PyNN's list format, or its array format where the list fails (PyNN's
    Brian2 backend raises on a projection of one connection).
    """
    try:
        return np.asarray(proj.get(name, format="list", with_address=False), dtype=float).ravel()
    except (TypeError, ValueError):
        values = np.asarray(proj.get(name, format="array"), dtype=float)
        return values[np.isfinite(values)]


def check_delays(projections, region_index: int, label: str, min_delay: float,
                 spiking_dt: float, delays_of=None, max_delay: float | None = None) -> None:
    """Every delay of every projection is at least ``min_delay``, checked the same on every backend.

    And at most ``max_delay`` when the user gave one: PyNN's Brian2 and
    NEURON backends deliver a longer delay regardless (tried: a 40 ms delay
    with ``max_delay=10`` arrives 40 ms later on both), so a given bound is
    checked here, as NEST and the ANNarchy adapter refuse it when made.

    NEST and the ANNarchy adapter refuse such a delay when the projection is
    made (the builder's error is then reported with :func:`delay_error`, and
    their backends set ``refuses_short_delays`` so this check is skipped);
    PyNN's Brian2 backend would run with it, negative delays included, and
    NEURON would stop in the first run with an error that names no
    projection.  ``delays_of(proj)``: a backend's own reader of a projection's
    delays (ms), where PyNN's ``get`` fails.
    """
    for proj in projections:
        delays = delays_of(proj) if delays_of else connection_values(proj, "delay")
        if delays.size and delays.min() < min_delay - 1e-9 * spiking_dt:
            name = proj.label or f"{proj.pre.label} -> {proj.post.label}"
            raise delay_error(name, float(delays.min()), region_index, label, min_delay,
                              spiking_dt)
        if max_delay is not None and delays.size and \
                delays.max() > max_delay + 1e-9 * spiking_dt:
            name = proj.label or f"{proj.pre.label} -> {proj.post.label}"
            raise max_delay_error(name, float(delays.max()), region_index, label, max_delay)
