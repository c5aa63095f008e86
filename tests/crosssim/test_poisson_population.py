"""Scenario 2: a population driven by independent Poisson sources, on every simulator.

200 ``IF_cond_exp`` neurons; each has 10 excitatory (500 Hz) and 10
inhibitory (200 Hz) ``SpikeSourcePoisson`` cells of its own, so no two
neurons share input and the regime is fluctuation-driven (CV of ISI near 1),
away from any knife-edge threshold (FINDINGS: a shared source made the
toy network's count swing from 0 to 3200 between seeds).

Acceptance: the mean rate and the mean CV of ISI over neurons agree with
NEST's within 3 standard errors of their difference (the SEs are over
neurons, whose inputs are independent), with at least 2000 spikes on each
simulator.  Positive control: the same comparison tells NEST with a 10%
higher excitatory input rate apart from every simulator at the nominal rate.

Why the time step is 0.025 ms.  NEST integrates ``iaf_cond_exp`` with an
adaptive RKF45 solver: its rate hardly depends on the step (8.90 Hz at
0.1 ms, 8.91 Hz at 0.025 ms, measured).  NEURON integrates with fixed
first-order steps, and at 0.1 ms it fired 9.75 +- 0.16 Hz, 3.7 standard
errors above NEST; at 0.025 ms it fires 9.04 +- 0.16 Hz, 0.6 SE from NEST.
The difference at 0.1 ms is the integration error of the step, not a
difference in the model, so the scenario runs at a step where that error
is below the statistical resolution.

Why Brian2 is not off here: its ``PoissonGroup`` fires at most one spike
per step, a Bernoulli draw with p = rate * dt.  At 500 Hz and 0.025 ms,
p = 0.0125: the count variance is 1 - p = 98.75% of Poisson's per source,
so the summed input of each neuron has 1.25% less variance for the
excitatory and 0.5% less for the inhibitory part.  The positive control shows what 10% in the
*mean* input does; the variance deficit is smaller, and the test would fail
if it mattered at 3 SE.
"""

import numpy as np
import pytest

import scenarios as S


def difference_in_se(a, b):
    (ma, sa), (mb, sb) = a, b
    return abs(ma - mb) / np.hypot(sa, sb)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", S.SIMULATORS)
def test_enough_spikes(simulator):
    assert S.poisson_population(simulator)["n_spikes"] >= 2000


@pytest.mark.slow
@pytest.mark.parametrize("measure", ["rates", "cvs"])
@pytest.mark.parametrize("simulator", S.OTHERS)
def test_rate_and_cv_agree_with_nest(simulator, measure):
    ref = S.mean_and_sem(S.poisson_population(S.REFERENCE)[measure])
    got = S.mean_and_sem(S.poisson_population(simulator)[measure])
    assert difference_in_se(got, ref) < 3.0, (measure, got, ref)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", S.SIMULATORS)
def test_a_ten_percent_input_change_is_detected(simulator):
    control = S.mean_and_sem(S.poisson_population(S.REFERENCE, rate_scale=1.1)["rates"])
    got = S.mean_and_sem(S.poisson_population(simulator)["rates"])
    assert difference_in_se(got, control) > 3.0, (got, control)
