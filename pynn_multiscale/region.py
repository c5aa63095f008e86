"""A spiking region node: named PyNN populations and the projections among them."""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigurationError, ConfigurationTypeError, bad_value


@dataclass
class SpikingRegion:
    """What a region builder returns.

    Parameters
    ----------
    populations : dict of str to Population
        The populations that proxies address by name, e.g. ``{"E": pop_e, "I": pop_i}``.
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
            if not isinstance(name, str) or not hasattr(pop, "size") or not hasattr(pop, "celltype"):
                raise ConfigurationTypeError(bad_value(
                    f"populations[{name!r}]", type(pop).__name__, "a PyNN Population",
                    "create it with sim.Population(n, celltype)"))


def check_built_region(result, region_index: int) -> SpikingRegion:
    """Validate what a builder returned for ``region_index``."""
    if not isinstance(result, SpikingRegion):
        raise ConfigurationTypeError(bad_value(
            f"build_region(...) for region {region_index}", type(result).__name__,
            "a pynn_multiscale.SpikingRegion", 'return SpikingRegion({"E": pop_e, ...})'))
    return result


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


def check_delays(projections, region_index: int, label: str, min_delay: float,
                 spiking_dt: float) -> None:
    """Every delay of every projection is at least ``min_delay``, checked the same on every backend.

    NEST and the ANNarchy adapter refuse such a delay when the projection is
    made (the builder's error is then reported with :func:`delay_error`, and
    their backends set ``refuses_short_delays`` so this check is skipped);
    PyNN's Brian2 backend would run with it, negative delays included, and
    NEURON would stop in the first run with an error that names no
    projection.
    """
    for proj in projections:
        delays = np.asarray(proj.get("delay", format="list", with_address=False),
                            dtype=float).ravel()
        if delays.size and delays.min() < min_delay - 1e-9 * spiking_dt:
            name = proj.label or f"{proj.pre.label} -> {proj.post.label}"
            raise delay_error(name, float(delays.min()), region_index, label, min_delay,
                              spiking_dt)
