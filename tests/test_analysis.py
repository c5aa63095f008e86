"""pynn_multiscale.analysis against Elephant and numpy called directly on known data."""

import neo
import numpy as np
import pytest
import quantities as pq
import xarray as xr
from elephant.statistics import time_histogram
from scipy.signal import welch

from pynn_multiscale import analysis
from pynn_multiscale.errors import ConfigurationError
from pynn_multiscale.results import Result, connectivity_dataset, tvb_dataset

T = 2000.0  # ms


def poisson_trains(rates, t_stop=T, seed=0):
    rng = np.random.default_rng(seed)
    trains = []
    for rate in rates:
        n = rng.poisson(rate * t_stop / 1000.0)
        trains.append(neo.SpikeTrain(np.sort(rng.uniform(0, t_stop, n)), units="ms",
                                     t_stop=t_stop))
    return trains


@pytest.fixture
def trains():
    return poisson_trains(np.linspace(2.0, 20.0, 30)) + [neo.SpikeTrain([], units="ms", t_stop=T)]


def counts_in_bins(trains, width, t_stop=T):
    edges = np.arange(0.0, t_stop + width / 2, width)
    return np.array([np.histogram(t.magnitude, bins=edges)[0] for t in trains])


def test_population_rate_is_spikes_per_neuron_per_second(trains):
    rate = analysis.population_rate(trains, bin_size=5.0)
    expected = counts_in_bins(trains, 5.0).sum(axis=0) / len(trains) / 0.005
    np.testing.assert_allclose(np.asarray(rate).ravel(), expected, rtol=1e-12)
    assert rate.units == pq.Hz and rate.sampling_period == 5 * pq.ms
    direct = time_histogram(trains, 5 * pq.ms, output="rate")
    np.testing.assert_allclose(np.asarray(rate), np.asarray(direct.rescale(pq.Hz)))


def test_population_rate_accepts_quantities_and_a_time_range(trains):
    rate = analysis.population_rate(trains, bin_size=0.01 * pq.s, t_start=500.0, t_stop=1500.0)
    assert rate.shape == (100, 1) and float(rate.t_start.rescale(pq.ms)) == 500.0


def test_mean_rates_are_counts_over_duration(trains):
    np.testing.assert_allclose(analysis.mean_rates(trains),
                               [len(t) / (T / 1000.0) for t in trains], rtol=1e-12)


def test_cv_isi_is_std_over_mean_of_intervals(trains):
    expected = [np.std(np.diff(t.magnitude)) / np.mean(np.diff(t.magnitude))
                for t in trains if len(t) >= 3]
    np.testing.assert_allclose(analysis.cv_isi(trains), expected, rtol=1e-12)
    assert len(trains) - len(expected) >= 1  # the silent neuron is left out


def test_regular_train_has_zero_cv_and_fano():
    regular = [neo.SpikeTrain(np.arange(5.0, T, 10.0), units="ms", t_stop=T) for _ in range(4)]
    np.testing.assert_allclose(analysis.cv_isi(regular), 0.0, atol=1e-12)
    np.testing.assert_allclose(analysis.fano_factor(regular, window=100.0), 0.0, atol=1e-12)
    assert analysis.fano_factor(regular) == 0.0


def test_fano_factor_across_trains_and_in_windows(trains):
    counts = np.array([len(t) for t in trains])
    assert analysis.fano_factor(trains) == pytest.approx(counts.var() / counts.mean(), rel=1e-12)
    windowed = analysis.fano_factor(trains, window=100.0)
    per_window = counts_in_bins(trains, 100.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = per_window.var(axis=1) / per_window.mean(axis=1)
    np.testing.assert_allclose(windowed, expected, rtol=1e-12)
    assert np.isnan(windowed[-1])  # the silent neuron


def test_spike_count_correlations_match_numpy_corrcoef_of_counts(trains):
    corr = analysis.spike_count_correlations(trains, bin_size=10.0)
    active = [i for i, t in enumerate(trains) if len(t)]
    expected = np.corrcoef(counts_in_bins([trains[i] for i in active], 10.0))
    np.testing.assert_allclose(corr.values, expected, atol=1e-12)
    assert corr["neuron_a"].values.tolist() == active


def test_spike_count_correlation_sample_is_a_submatrix(trains):
    full = analysis.spike_count_correlations(trains, bin_size=10.0)
    sample = analysis.spike_count_correlations(trains, bin_size=10.0, sample=8, seed=3)
    chosen = sample["neuron_a"].values
    assert len(chosen) == 8
    np.testing.assert_allclose(sample.values, full.sel(neuron_a=chosen, neuron_b=chosen).values)
    again = analysis.spike_count_correlations(trains, bin_size=10.0, sample=8, seed=3)
    assert again["neuron_a"].values.tolist() == chosen.tolist()


def test_shared_spikes_give_the_expected_correlation():
    """Each train = own Poisson + a shared Poisson train: count correlation c = r_s / (r_s + r_o).

    20 trains, 2 s, 20 ms bins: 190 pairs; the mean is compared with c within
    3 SE of the pair values (pairs are not independent, which makes that SE
    small: a loose check of the statistic, the exact one is the numpy test).
    """
    rng = np.random.default_rng(7)
    shared = rng.uniform(0, T, rng.poisson(10.0 * T / 1000))
    trains = []
    for _ in range(20):
        own = rng.uniform(0, T, rng.poisson(30.0 * T / 1000))
        trains.append(neo.SpikeTrain(np.sort(np.concatenate([shared, own])), units="ms",
                                     t_stop=T))
    corr = analysis.spike_count_correlations(trains, bin_size=20.0).values
    pairs = corr[np.triu_indices(20, 1)]
    assert abs(pairs.mean() - 0.25) < 0.1  # c = 10 / 40; sampling error of one 2-s run ~0.07


def test_rate_spectrum_matches_scipy_welch_and_finds_the_oscillation():
    rng = np.random.default_rng(1)
    t = np.arange(0.0, T, 0.1)
    rate = 20.0 * (1 + np.sin(2 * np.pi * 40.0 * t / 1000.0))  # Hz, 40 Hz modulation
    trains = [neo.SpikeTrain(t[rng.uniform(size=t.size) < rate * 1e-4], units="ms", t_stop=T)
              for _ in range(50)]
    freqs, psd = analysis.rate_spectrum(trains, bin_size=1.0, frequency_resolution=4.0)
    signal = np.asarray(analysis.population_rate(trains, 1.0)).ravel()
    f_direct, p_direct = welch(signal, fs=1000.0, nperseg=250, noverlap=125, window="hann",
                               detrend="constant")
    np.testing.assert_allclose(freqs, f_direct)
    np.testing.assert_allclose(psd, p_direct, rtol=1e-10)
    assert freqs[np.argmax(psd[1:]) + 1] == pytest.approx(40.0)


def make_result(series, labels, dt=10.0, weights=None):
    data = np.asarray(series)[:, None, :, None]
    tvb = tvb_dataset([("Bold", np.arange(data.shape[0]) * dt, data, ["BOLD"])], labels)
    conn = None if weights is None else connectivity_dataset(weights, np.ones_like(weights),
                                                             labels)
    return Result(tvb, connectivity=conn)


def test_functional_connectivity_is_numpy_corrcoef_after_t_start():
    rng = np.random.default_rng(2)
    series = rng.normal(size=(400, 4))
    series[:, 1] += series[:, 0]
    result = make_result(series, ["a", "b", "c", "d"])
    fc = analysis.functional_connectivity(result, t_start=1000.0)  # samples from 100 on
    np.testing.assert_allclose(fc.values, np.corrcoef(series[100:], rowvar=False), atol=1e-12)
    assert fc["region_a"].values.tolist() == ["a", "b", "c", "d"]
    same = analysis.functional_connectivity(result.monitor("Bold"), t_start=1000.0)
    xr.testing.assert_identical(fc, same)


def test_fc_sc_correlation():
    rng = np.random.default_rng(3)
    w = rng.uniform(size=(5, 5))
    fc = np.corrcoef(rng.normal(size=(50, 5)), rowvar=False)
    upper = np.triu_indices(5, 1)
    expected = np.corrcoef(fc[upper], ((w + w.T) / 2)[upper])[0, 1]
    assert analysis.fc_sc_correlation(fc, w) == pytest.approx(expected, rel=1e-12)
    sym = (w + w.T) / 2
    assert analysis.fc_sc_correlation(sym, w) == pytest.approx(1.0)
    conn = connectivity_dataset(w, np.ones((5, 5)), list("abcde"))
    assert analysis.fc_sc_correlation(fc, conn) == pytest.approx(expected, rel=1e-12)


def test_population_summary_of_a_result(trains):
    index = np.concatenate([[i] * len(t) for i, t in enumerate(trains)]).astype(int)
    times = np.concatenate([t.magnitude for t in trains])
    order = np.argsort(times, kind="stable")
    train = neo.SpikeTrain(times[order], units="ms", t_stop=T, population="E", size=len(trains),
                           array_annotations={"source_index": index[order]})
    block = neo.Block(region_label="R")
    block.segments.append(neo.Segment())
    block.segments[0].spiketrains = [train]
    result = make_result(np.zeros((3, 1)), ["R"])
    result.spiking = {0: block}
    (row,) = analysis.population_summary(result)
    assert row["population"] == "E" and row["neurons"] == 31 and row["region_label"] == "R"
    assert row["rate_hz"] == pytest.approx(np.mean([len(t) for t in trains]) / 2.0)
    assert row["cv_isi"] == pytest.approx(analysis.cv_isi(trains).mean())
    assert row["fano"] == pytest.approx(analysis.fano_factor(trains))


@pytest.mark.parametrize("call, match", [
    (lambda tr: analysis.population_rate(tr, bin_size=-1), r"bin_size=-1 is invalid.*positive"),
    (lambda tr: analysis.population_rate(tr, bin_size="5ms"), r"bin_size='5ms' is invalid"),
    (lambda tr: analysis.cv_isi(tr, min_spikes=2), r"min_spikes=2 is invalid"),
    (lambda tr: analysis.fano_factor(tr, window=1500.0), r"window=1500.0 is invalid.*half"),
    (lambda tr: analysis.spike_count_correlations(tr, sample=1), r"sample=1 is invalid"),
    (lambda tr: analysis.rate_spectrum(tr, frequency_resolution=0.1),
     r"frequency_resolution=0.1 is invalid.*0.5 Hz"),
    (lambda tr: analysis.mean_rates([1.0, 2.0]), r"trains='list' is invalid.*neo.SpikeTrain"),
    (lambda tr: analysis.fc_sc_correlation(np.eye(3), np.eye(4)), r"weights='shape \(4, 4\)'"),
])
def test_bad_input_names_the_parameter(trains, call, match):
    with pytest.raises(ConfigurationError, match=match):
        call(trains)
