"""Threads and setup options of the spiking simulator.

NEST runs the network on ``threads`` threads: the same seed and thread count
give the same spikes; 1 and 2 threads draw different random numbers (NEST
has one generator per thread), so they give other spikes with the same
statistics, checked on the rates within 3 standard errors (5 seeds, 900 ms
each), with a positive control that the same comparison sees rates 10% apart.  Every run is in
a fresh process with ``OMP_WAIT_POLICY=passive``: OpenMP threads that spin
while waiting slow a loaded 2-core machine down by an order of magnitude.
"""

import numpy as np
import pytest

import pynn_multiscale as pm
from isolation import isolated

SEEDS = [1, 2, 3, 4, 5]


def _e_rates(seed, threads, duration=200.0):
    """Region 31's E spikes (times, indices) and rate (Hz) over 50..duration ms of small W1."""
    import pyNN.nest as sim

    from pynn_multiscale.models import red_wong_wang as rww
    from small_w1 import REGIONS, small_build

    with pm.CoSimulation(rww.tvb_simulator(), sim, spiking_regions=REGIONS,
                         build_region=small_build, to_spiking=rww.default_to_spiking(n_e=160),
                         to_tvb=rww.default_to_tvb(), seed=seed, threads=threads) as cosim:
        result = cosim.run(duration)
    train = next(st for st in result.spiking[REGIONS[0]].segments[0].spiketrains
                 if st.annotations["population"] == "E")
    t = train.magnitude
    index = train.array_annotations["source_index"]
    order = np.lexsort((index, t))
    rate = np.count_nonzero(t > 100.0) / (160 * (duration - 100.0) / 1000.0)
    return t[order], index[order], rate, result.metadata["threads"]


e_rates = isolated(_e_rates)


@pytest.fixture(autouse=True)
def passive_openmp(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")  # taken by the isolated children


def differ(a, b):
    """Whether two sets of per-seed rates differ by more than 3 standard errors."""
    a, b = np.asarray(a), np.asarray(b)
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return abs(a.mean() - b.mean()) > 3 * se


def test_same_seed_and_threads_give_the_same_spikes():
    t1, i1, _, threads = e_rates(7, 2)
    t2, i2, _, _ = e_rates(7, 2, 200.0)  # other call arguments: not the cached result

    assert threads == 2
    assert t1.size > 50 and np.array_equal(t1, t2) and np.array_equal(i1, i2)


def test_one_and_two_threads_agree_in_rate():
    one = [e_rates(s, 1, 1000.0)[2] for s in SEEDS]
    two = [e_rates(s, 2, 1000.0)[2] for s in SEEDS]
    assert not np.array_equal(e_rates(SEEDS[0], 1, 1000.0)[0],
                              e_rates(SEEDS[0], 2, 1000.0)[0])  # other draws
    assert not differ(one, two), (one, two)
    # positive control: the comparison would see rates 10% apart
    assert differ(one, np.multiply(two, 1.1)), (one, two)


def test_threads_and_setup_options_are_checked():
    from pynn_multiscale.backends.brian2 import Brian2Backend
    from pynn_multiscale.backends.nest import NestBackend as nest
    from pynn_multiscale.plan import check_setup_options, check_threads

    with pytest.raises(pm.ConfigurationError, match="threads=0"):
        check_threads(0, nest)
    with pytest.raises(pm.CapabilityError, match="brian2 backend runs the spiking network on 1"):
        check_threads(2, Brian2Backend)
    assert check_threads(4, nest) == 4
    with pytest.raises(pm.ConfigurationError, match=r"pass seed= to CoSimulation"):
        check_setup_options({"rng_seed": 1}, nest)
    with pytest.raises(pm.ConfigurationError, match=r"pass threads= to CoSimulation"):
        check_setup_options({"threads": 2}, nest)
    with pytest.raises(pm.ConfigurationError, match="spike_precision"):
        check_setup_options({"spike_precison": "on_grid"}, nest)  # a typo: the list helps
    with pytest.raises(pm.ConfigurationTypeError, match="setup_options"):
        check_setup_options([("spike_precision", "on_grid")], nest)
    assert check_setup_options({"spike_precision": "on_grid"}, nest) == \
        (("spike_precision", "on_grid"),)
