"""Scenario 3: the use case's E/I region on its own, on every simulator.

``red_wong_wang.build_spiking_region`` unchanged (1000 neurons, background
Poisson input only), 2 s, three seeds per simulator.

Acceptance: the E and the I rates agree with NEST's within 10% or within
3 standard errors of the difference, whichever is larger.  A network's
rate varies from seed to seed by more than its neurons' spread suggests
(they share the network's fluctuations), so the standard error is taken
over seeds: the population mean of each seed is one sample.
"""

import numpy as np
import pytest

import scenarios as S


def over_seeds(simulator, population):
    means = [S.ei_region(simulator, seed)[population].mean() for seed in S.REGION_SEEDS]
    return float(np.mean(means)), float(np.std(means, ddof=1) / np.sqrt(len(means)))


@pytest.mark.slow
@pytest.mark.parametrize("population", ["E", "I"])
@pytest.mark.parametrize("simulator", S.OTHERS)
def test_rates_agree_with_nest(simulator, population):
    (ref, ref_se), (got, got_se) = over_seeds(S.REFERENCE, population), \
        over_seeds(simulator, population)
    tolerance = max(0.10 * ref, 3 * np.hypot(ref_se, got_se))
    assert abs(got - ref) <= tolerance, (got, ref, tolerance)


@pytest.mark.slow
def test_reference_region_is_active():
    """The comparison is not between two silent networks."""
    e, _ = over_seeds(S.REFERENCE, "E")
    i, _ = over_seeds(S.REFERENCE, "I")
    assert e > 1.0 and i > e
