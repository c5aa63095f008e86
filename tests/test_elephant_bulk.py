"""Elephant's processes drawn in bulk are the processes they claim to be.

For each generation path of :mod:`pynn_multiscale.proxies.elephant_bulk`, the
inter-spike intervals of one train, over many windows, are compared with the
process's own distribution by a Kolmogorov-Smirnov test at alpha = 0.001:

* ``"poisson"`` (time rescaling of a unit-rate buffer) with a rate that
  changes every TVB step: the intervals in operational time
  ``L(t) = integral of r`` are Exp(1) (the time-rescaling theorem);
* ``"sip"`` and ``"mip"``: each train alone is a Poisson process of the
  window's rate, so its intervals are Exp(r).

Power, stated and shown: with N >= 20 000 intervals the test's critical
distance is 1.95 / sqrt(N) <= 0.0138, while an error of 10% in the rate moves
the exponential CDF by up to 0.035, so such an error is rejected with power
above 0.999; each test's positive control applies the same test with the
rate 10% off and requires the rejection.  The correlation structure is
checked too: the fraction of one train's spikes that another train has at the
same time is ``c`` for SIP and MIP, within 3 standard errors.
"""

import numpy as np
import pytest
from scipy import stats

from pynn_multiscale.backends.base import Trains
from pynn_multiscale.proxies.elephant_bulk import BulkTrains, PoissonBuffer

ALPHA = 1e-3
DT = 0.1


def run(process, correlation, n, rates_of_window, n_windows, steps, seed):
    """Every train over ``n_windows`` windows of ``steps`` TVB steps; and the rates used."""
    np.random.seed(seed)
    generator = BulkTrains(process, correlation, n)
    chunks, rates, t0 = [[] for _ in range(n)], [], 0.0
    for w in range(n_windows):
        r = rates_of_window(w)
        rates.append(r)
        trains = generator.window(r, t0, DT)
        assert isinstance(trains, Trains) and len(trains) == n
        for i in range(n):
            chunks[i].append(trains[i])
        t0 += steps * DT
    return [np.concatenate(c) for c in chunks], np.concatenate(rates)


def operational_time(times, rates):
    """``L(t)`` (expected spikes) at each time, for rates constant over each TVB step."""
    edges = np.concatenate([[0.0], np.cumsum(rates * DT / 1000.0)])
    step = np.minimum((times / DT).astype(int), rates.size - 1)
    return edges[step] + rates[step] * (times - step * DT) / 1000.0


def ks_p(intervals, scale):
    return stats.kstest(intervals, "expon", args=(0.0, scale)).pvalue


def test_inhomogeneous_poisson_by_time_rescaling():
    steps = 26
    rng = np.random.default_rng(0)
    levels = rng.uniform(5.0, 200.0, size=4000)  # a new rate every step, up to 40x apart

    def rates(w):
        return levels[(w * steps + np.arange(steps)) % levels.size]

    trains, used = run("poisson", 0.0, 10, rates, 8000, steps, seed=1)
    # the trains are independent: their intervals pool
    intervals = np.concatenate([np.diff(operational_time(t, used)) for t in trains])
    assert intervals.size >= 20000
    assert ks_p(intervals, 1.0) > ALPHA
    # positive control: the same intervals under a rate 10% off are rejected
    off = np.concatenate([np.diff(operational_time(t, used * 1.1)) for t in trains])
    assert ks_p(off, 1.0) < ALPHA


@pytest.mark.parametrize("process", ["sip", "mip"])
def test_correlated_trains_are_poisson_with_the_shared_fraction(process):
    rate, c, steps = 100.0, 0.2, 100  # 10 ms windows
    # the window's mean rate is what SIP and MIP take: vary it around `rate`, mean exact
    wobble = np.tile([0.8, 1.2], 10000)
    (a, b, *_), used = run(process, c, 20, lambda w: np.full(steps, rate * wobble[w]), 20000, steps,
                       seed=2)
    # each window's intervals: within a window the rate is constant, so rescale per window
    mean_rates = used.reshape(-1, steps).mean(axis=1)
    edges = np.concatenate([[0.0], np.cumsum(mean_rates * steps * DT / 1000.0)])
    window = np.minimum((a / (steps * DT)).astype(int), mean_rates.size - 1)
    u = edges[window] + mean_rates[window] * (a - window * steps * DT) / 1000.0
    intervals = np.diff(u)
    assert intervals.size >= 20000
    assert ks_p(intervals, 1.0) > ALPHA, process
    assert ks_p(intervals / 1.1, 1.0) < ALPHA  # positive control: a rate 10% off
    # the shared fraction: a spike of train a is also in train b with probability c
    shared = np.isin(a, b).mean()
    se = np.sqrt(c * (1 - c) / a.size)
    assert abs(shared - c) < 3 * se, (process, shared, se)
    assert 0.1 * c > 3 * se  # a 10% error in c would be seen


def test_buffer_hands_out_consecutive_stretches_of_one_process():
    """Stretches of any length, across draws, are one Poisson process: counts Poisson(n u)."""
    np.random.seed(3)
    buffer = PoissonBuffer(50.0)
    counts, u = [], 0.0
    for length in np.tile([0.01, 0.3, 2.0], 2000):
        events = buffer.take(u, u + length)
        assert np.all((events > u) & (events <= u + length))
        counts.append((length, events.size))
        u += length
    for length in (0.01, 0.3, 2.0):
        k = np.array([c for l, c in counts if l == length])
        expected = 50.0 * length
        assert abs(k.mean() - expected) < 3 * np.sqrt(expected / k.size), length
        assert abs(k.var(ddof=1) / expected - 1) < 0.15, length  # Poisson: variance = mean
