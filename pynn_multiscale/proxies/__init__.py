"""Declarative interfaces between TVB and the spiking regions.

``to_spiking`` proxies turn TVB values into inputs of a spiking population;
``to_tvb`` proxies turn what a population did into TVB state values.  Each
proxy is a small frozen dataclass: which TVB variable, which population, which
weight, which transform.  Backends implement the mechanics.
"""

from .to_spiking import CurrentFromCoupling, ElephantTrains, OffsetFromCoupling, RateToPoisson
from .to_tvb import InstantaneousRate, MeanState, Replay, SpikeRate

__all__ = ["RateToPoisson", "ElephantTrains", "CurrentFromCoupling", "OffsetFromCoupling", "SpikeRate", "InstantaneousRate", "MeanState", "Replay"]
