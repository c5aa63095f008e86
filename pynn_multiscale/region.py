"""A spiking region node: named PyNN populations and the projections among them."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConfigurationTypeError, bad_value


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
