"""Spiking regions wired to each other, spike to spike, through the connectome.

Without links, two spiking regions talk only through TVB: each one's rate goes
to TVB, and TVB's delayed, weighted coupling comes back to the other through
its to-spiking proxy.  A :class:`RegionLink` instead connects a population of
one spiking region to a population of another *in the spiking simulator*:

* one PyNN ``Projection`` per ordered pair of spiking regions (source s,
  target t) that the connectome connects (``weights[t, s] > 0``; TVB's
  convention is ``weights[target, source]``), or per pair listed in ``pairs``;
* each synapse's weight is ``link.weight * weights[t, s]``: ``link.weight`` is
  the synaptic weight (the target receptor's PyNN unit) per unit of connectome
  weight, the pair's derived factor;
* each synapse's delay is the tract delay ``tract_lengths[t, s] / speed``,
  rounded to the spiking time step (at least one step);
* TVB then no longer couples t to s: ``weights[t, s]`` is set to zero in the
  TVB simulator's connectivity before it is configured, so what s sends to t
  is not counted a second time through TVB's coupling (and that connection's
  delay no longer bounds the synchronisation interval).

Links are opt-in: pass ``links=[...]`` to :class:`~pynn_multiscale.CoSimulation`
(docs/proxies.md, "Spiking regions wired to each other").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ConfigurationError, ConfigurationTypeError, bad_value


@dataclass(frozen=True)
class RegionLink:
    """Connect population ``source`` of each spiking region to population ``target`` of another.

    Parameters
    ----------
    source, target : str
        Population names that the builder creates in every spiking region.
    weight : float
        Synaptic weight per unit of connectome weight (nS for conductance
        synapses, nA for current synapses, mV for Izhikevich), > 0.
    receptor_type : str
        The target population's receptor (``"excitatory"``, ``"inhibitory"``).
    connector : PyNN connector, optional
        Which cells connect; default ``AllToAllConnector()``.  A random
        connector should carry its own ``rng`` for reproducible wiring.
    pairs : sequence of (int, int), optional
        ``(source_region, target_region)`` pairs to link; default: every
        ordered pair of distinct spiking regions with ``weights[target,
        source] > 0``.
    """

    source: str
    target: str
    weight: float
    receptor_type: str = "excitatory"
    connector: object = None
    pairs: tuple | None = None

    def __post_init__(self):
        for name in ("source", "target", "receptor_type"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigurationTypeError(bad_value(
                    f"RegionLink.{name}", value, "a non-empty string",
                    "name a population the builder creates" if name != "receptor_type"
                    else "pass e.g. receptor_type='excitatory'"))
        w = self.weight
        if isinstance(w, bool) or not isinstance(w, (int, float, np.floating)) \
                or not math.isfinite(w) or w <= 0:
            raise ConfigurationError(bad_value(
                "RegionLink.weight", w, "a finite weight > 0 per unit of connectome weight",
                "give inhibition with receptor_type='inhibitory' and a positive weight"))
        if self.pairs is not None:
            try:
                pairs = tuple((int(s), int(t)) for s, t in self.pairs)
            except (TypeError, ValueError):
                raise ConfigurationTypeError(bad_value(
                    "RegionLink.pairs", self.pairs, "a sequence of (source, target) region indices",
                    "pass e.g. pairs=[(31, 65)]")) from None
            object.__setattr__(self, "pairs", pairs)

    def describe(self) -> dict:
        return {"source": self.source, "target": self.target, "weight": float(self.weight),
                "receptor_type": self.receptor_type,
                "connector": type(self.connector).__name__ if self.connector is not None
                else "AllToAllConnector",
                "pairs": None if self.pairs is None else [list(p) for p in self.pairs]}


@dataclass(frozen=True)
class Wire:
    """One link between two regions: its projection's weight and delay, resolved."""

    link: int  #: index in ``links``
    source_region: int
    target_region: int
    connectome_weight: float
    delay: float  #: ms, on the spiking step grid


def resolve_links(links, connectivity, regions, spiking_dt) -> list:
    """Check ``links`` against the connectome and the spiking regions; one :class:`Wire` per pair.

    ``connectivity`` is configured here (it computes the tract delays) and not
    modified; :func:`unlink_in_tvb` removes the linked entries afterwards.
    """
    if links is None:
        return []
    links = list(links)
    for k, link in enumerate(links):
        if not isinstance(link, RegionLink):
            raise ConfigurationTypeError(bad_value(
                f"links[{k}]", type(link).__name__, "a pynn_multiscale.RegionLink",
                "build it with RegionLink(source, target, weight)"))
    if not links:
        return []
    connectivity.configure()
    weights, delays = connectivity.weights, connectivity.delays
    regions = [int(r) for r in regions]
    wires = []
    for k, link in enumerate(links):
        if link.pairs is None:
            pairs = [(s, t) for s in regions for t in regions if s != t and weights[t, s] > 0]
        else:
            pairs = link.pairs
            for s, t in pairs:
                if s not in regions or t not in regions or s == t:
                    raise ConfigurationError(bad_value(
                        f"links[{k}].pairs", (s, t),
                        f"two different spiking regions (spiking_regions={regions})",
                        "link only regions the spiking simulator runs"))
                if not weights[t, s] > 0:
                    raise ConfigurationError(bad_value(
                        f"links[{k}].pairs", (s, t),
                        f"a pair the connectome connects (weights[{t}, {s}] is {weights[t, s]})",
                        "drop the pair, or link regions that are connected"))
        for s, t in pairs:
            d = max(round(float(delays[t, s]) / spiking_dt), 1) * spiking_dt
            wires.append(Wire(k, s, t, float(weights[t, s]), round(d, 12)))
    if not wires:
        raise ConfigurationError(bad_value(
            "links", [link.describe() for link in links],
            f"links between spiking regions the connectome connects (spiking_regions={regions} "
            "has no such pair)", "drop links, or replace regions that are connected"))
    return wires


def unlink_in_tvb(connectivity, wires) -> None:
    """TVB does not couple a linked pair a second time: ``weights[t, s] = 0``."""
    for wire in wires:
        connectivity.weights[wire.target_region, wire.source_region] = 0.0


def check_link_populations(links, regions, labels) -> None:
    """Every link's populations exist in every spiking region."""
    for k, link in enumerate(links):
        for end in ("source", "target"):
            name = getattr(link, end)
            for idx, region in regions.items():
                if name not in region.populations:
                    raise ConfigurationError(bad_value(
                        f"links[{k}].{end}", name,
                        f"a population that build_region created for region {idx} "
                        f"({labels[idx]}): {sorted(region.populations)}",
                        "use one of those names or create it in the builder"))


def connect(sim, links, wires, regions) -> list:
    """Create one PyNN ``Projection`` per wire; returns them."""
    made = []
    for wire in wires:
        link = links[wire.link]
        pre = regions[wire.source_region].populations[link.source]
        post = regions[wire.target_region].populations[link.target]
        connector = link.connector if link.connector is not None else sim.AllToAllConnector()
        synapse = sim.StaticSynapse(weight=link.weight * wire.connectome_weight, delay=wire.delay)
        made.append(sim.Projection(
            pre, post, connector, synapse, receptor_type=link.receptor_type,
            label=f"link_{wire.source_region}_{link.source}_to_{wire.target_region}_{link.target}"))
    return made
