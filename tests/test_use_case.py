"""W1, the EBRAINS use case, on NEST for 300 ms: rates and both directions of coupling.

Acceptance criteria and their sources:

* **E rate in [2.0, 4.5] Hz.**  Deco et al. 2014 (J Neurosci 34:7886) clamp
  excitatory populations to 3 Hz; the mean-field model's own rates for
  regions 31 and 65 at G = 1 are 3.5 and 3.9 Hz (docs/use_case.md).  The
  band is 3 Hz -1/+1.5 Hz, which holds both, and is wider than the
  seed-to-seed spread measured in calibration (0.1 Hz).
* **I above E** by more than 3 standard errors of the difference.
* Standard errors come from the run itself: the population rate in 20 ms
  bins, SE = std(bins) / sqrt(n_bins) (bins of 20 ms are longer than the
  network's correlation time, a few ms, so they are close to independent).
"""

import numpy as np
import pytest
import pyNN.nest as sim

import pynn_multiscale as pm
from pynn_multiscale.models import red_wong_wang as rww
from whole_brain import (assert_neighbours_respond, binned_rates, late_mean, mean_and_se,
                         replayed_control, split_by_connection)

DURATION = 300.0
TRANSIENT = 50.0
REGIONS = [31, 65]


def run_w1(G, seed=1, **kwargs):
    tvb = rww.tvb_simulator(G=G, **kwargs)
    with pm.CoSimulation(tvb, sim, spiking_regions=REGIONS, build_region=rww.build_spiking_region,
                         to_spiking=rww.default_to_spiking(G=G, lamda=kwargs.get("lamda", 0.0)),
                         to_tvb=rww.default_to_tvb(), seed=seed) as cosim:
        return cosim.run(DURATION)


def rate_and_se(result, regions, population, bin_ms=20.0):
    """Mean rate (Hz) of ``population`` pooled over ``regions``, its SE, and the binned rates."""
    rates = binned_rates(result, regions, population, TRANSIENT, DURATION, bin_ms)
    return (*mean_and_se(rates), rates)


@pytest.fixture(scope="module")
def w1():
    return run_w1(G=rww.G_DEFAULT)


@pytest.fixture(scope="module")
def w1_uncoupled():
    return run_w1(G=0.0)


@pytest.mark.parametrize("region", REGIONS)
def test_rates_in_the_target_range(w1, region):
    e, se_e, rates_e = rate_and_se(w1, region, "E")
    i, se_i, rates_i = rate_and_se(w1, region, "I")
    assert 2.0 <= e <= 4.5, e
    assert i - e > 3 * np.sqrt(se_e**2 + se_i**2), (e, i, se_e, se_i)
    # at least 400 E spikes in the measured span: enough for a 5% SE
    assert e * 800 * (DURATION - TRANSIENT) / 1000.0 > 400


def test_tvb_input_changes_the_spiking_rates(w1, w1_uncoupled):
    """G = 0 removes TVB's Poisson input: E must fire measurably less.

    Pooled over both spiking regions (1600 E neurons): region 31 alone gets
    160 Hz of TVB input per neuron, for about +0.6 Hz, below what 250 ms can
    resolve in one region (SE of the difference 0.25 Hz).  Each region must
    still move in the right direction.
    """
    e1, se1, _ = rate_and_se(w1, REGIONS, "E")
    e0, se0, _ = rate_and_se(w1_uncoupled, REGIONS, "E")
    assert e1 - e0 > 3 * np.sqrt(se1**2 + se0**2), (e1, e0, se1, se0)
    for region in REGIONS:
        assert rate_and_se(w1, region, "E")[0] > rate_and_se(w1_uncoupled, region, "E")[0]


def test_spiking_regions_drive_their_tvb_neighbours(w1):
    """Spiking -> TVB: connected regions differ from a control whose spiking regions are silent.

    The control replays a constant 0 Hz for both populations, with the same
    TVB seed, so TVB's noise is identical and every difference comes from
    what the spiking regions sent.  Each directly connected region's mean
    S_e difference over the last 200 ms must be positive on average by more
    than 3 standard errors across regions; so must be its excess over the
    differences of regions with no direct connection (an effect that only
    propagates through the coupling is smaller there).
    """
    control, weights = replayed_control(rww.tvb_simulator(), REGIONS, {"Rin_e": 0.0, "Rin_i": 0.0},
                                        DURATION)
    diff = late_mean(w1, "S_e", 100.0) - late_mean(control, "S_e", 100.0)
    assert_neighbours_respond(*split_by_connection(diff, weights, REGIONS))


def test_result_round_trips_through_files(w1, tmp_path):
    w1.save(tmp_path / "w1")
    loaded = pm.Result.load(tmp_path / "w1")
    assert loaded.tvb.identical(w1.tvb)
    assert loaded.metadata == w1.metadata
    for idx in REGIONS:
        for a, b in zip(w1.spiking[idx].segments[0].spiketrains,
                        loaded.spiking[idx].segments[0].spiketrains):
            assert np.array_equal(a.magnitude, b.magnitude)
            assert np.array_equal(a.array_annotations["source_index"],
                                  b.array_annotations["source_index"])
            assert a.annotations == b.annotations


@pytest.mark.slow
def test_feedforward_inhibition_raises_the_inhibitory_rate(w1):
    """lambda = 1 sends TVB's rate onto I too: I fires more than without it (pooled)."""
    w1_ffi = run_w1(G=rww.G_DEFAULT, lamda=1.0)
    i0, se0, _ = rate_and_se(w1, REGIONS, "I")
    i1, se1, _ = rate_and_se(w1_ffi, REGIONS, "I")
    assert i1 - i0 > 3 * np.sqrt(se0**2 + se1**2), (i0, i1, se0, se1)


@pytest.mark.parametrize("kind", ["CurrentFromCoupling", "OffsetFromCoupling"])
def test_current_proxies_with_the_derived_scale_keep_physiological_rates(kind):
    """The seed's current and I_e couplings, scaled by rww.current_scale().

    Physiological range: E in [0.5, 10] Hz and I in [0.5, 30] Hz, the
    spontaneous rates of cortical excitatory cells and fast-spiking
    interneurons in asynchronous-irregular networks (e.g. Brunel 2000 J
    Comput Neurosci 8:183; Deco et al. 2014's 3 Hz for E).  The scale gives
    the node's cells the same fraction of their rheobase as TVB's mean field
    gets from the coupling, so they must stay there.
    """
    proxy = getattr(pm.proxies, kind)("S_e", "E", weight=rww.current_scale(G=rww.G_DEFAULT))
    tvb = rww.tvb_simulator()
    with pm.CoSimulation(tvb, sim, spiking_regions=REGIONS, build_region=rww.build_spiking_region,
                         to_spiking=[proxy], to_tvb=rww.default_to_tvb(), seed=1) as cosim:
        result = cosim.run(DURATION)
    for region in REGIONS:
        e = rate_and_se(result, region, "E")[0]
        i = rate_and_se(result, region, "I")[0]
        assert 0.5 <= e <= 10.0 and 0.5 <= i <= 30.0, (region, e, i)
