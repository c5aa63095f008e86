"""The point functions of the sweep tests: the small W1 (2 x 200 neurons) at a point's G and lambda.

A sweep runs them in fresh processes; :func:`direct` runs the same
co-simulation in the caller's process, for comparison.
"""

import numpy as np

import pynn_multiscale as pm
from pynn_multiscale.models import red_wong_wang as rww
from small_w1 import REGIONS, small_build, spikes_of

#: The sweep of the tests: 2 x 2 values x 2 seeds, 40 ms each.
GRID = {"G": [1.0, 2.0], "lamda": [0.0, 1.0]}
SEEDS = [0, 1]
DURATION = 40.0


def small_point(params, seed):
    """The small W1 at ``params``' G, lamda and, optionally, sync_interval and pipeline."""
    import pyNN.nest as sim

    G, lamda = params["G"], params.get("lamda", 0.0)
    return pm.CoSimulation(rww.tvb_simulator(G=G, lamda=lamda), sim, spiking_regions=REGIONS,
                           build_region=small_build,
                           to_spiking=rww.default_to_spiking(G=G, lamda=lamda, n_e=160),
                           to_tvb=rww.default_to_tvb(), seed=seed,
                           sync_interval=params.get("sync_interval"),
                           pipeline=params.get("pipeline", False))


def default_loop_point(params, seed):
    """:func:`small_point` at CoSimulation's default loop (``pipeline=None``)."""
    return small_point(dict(params, pipeline=None), seed)


def outputs(result):
    """What a point's result is compared by: every TVB array and every spike."""
    tvb = {name: (result.tvb[name].values, result.tvb[f"{name}_time"].values)
           for name in result.tvb.data_vars}
    return tvb, spikes_of(result)


def direct(params_items, seed, duration):
    """The same co-simulation run directly (call it in a fresh process); params as items."""
    with small_point(dict(params_items), seed) as cosim:
        return outputs(cosim.run(duration))


def same(a, b) -> bool:
    """Two :func:`outputs` equal to the bit."""
    (tvb_a, spikes_a), (tvb_b, spikes_b) = a, b
    if tvb_a.keys() != tvb_b.keys() or spikes_a.keys() != spikes_b.keys():
        return False
    return all(np.array_equal(tvb_a[k][0], tvb_b[k][0]) and np.array_equal(tvb_a[k][1],
                                                                            tvb_b[k][1])
               for k in tvb_a) and \
        all(np.array_equal(spikes_a[k][0], spikes_b[k][0]) and
            np.array_equal(spikes_a[k][1], spikes_b[k][1]) for k in spikes_a)


def spike_count(result):
    """A user's reducer: the total spike count and the first population's rate, as a dict."""
    from pynn_multiscale.analysis import population_summary

    rows = population_summary(result)
    return {"n_spikes": sum(len(st) for block in result.spiking.values()
                            for st in block.segments[0].spiketrains),
            "first_rate_hz": rows[0]["rate_hz"]}
