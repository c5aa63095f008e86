"""W1 at a fifth of its size (2 x 200 neurons), for tests of the loop itself."""

import numpy as np

import pynn_multiscale as pm
from pynn_multiscale.models import red_wong_wang as rww

REGIONS = [31, 65]


def small_build(sim, idx, label, rng):
    return rww.build_spiking_region(sim, idx, label, rng, n_e=160, n_i=40)


def small_w1(seed, sim=None, **kwargs):
    """The small W1 on ``sim`` (default ``pyNN.nest``), with CoSimulation's other ``kwargs``."""
    if sim is None:
        import pyNN.nest as sim
    kwargs.setdefault("build_region", small_build)
    return pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=REGIONS,
                           to_spiking=rww.default_to_spiking(n_e=160),
                           to_tvb=rww.default_to_tvb(), seed=seed, **kwargs)


def spikes_of(result):
    """(region, population) -> (spike times, neuron indices) of a Result."""
    return {(idx, st.annotations["population"]): (st.magnitude.copy(),
                                                  st.array_annotations["source_index"].copy())
            for idx, block in result.spiking.items() for st in block.segments[0].spiketrains}


def signals_of(result):
    """(region, population, signal name) -> (samples, channel_index, sampling period ms)."""
    return {(idx, sig.annotations["population"], sig.name):
            (np.asarray(sig.magnitude), np.asarray(sig.array_annotations["channel_index"]),
             float(sig.sampling_period.rescale("ms").magnitude))
            for idx, block in result.spiking.items() for sig in block.segments[0].analogsignals}
