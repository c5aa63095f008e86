"""pynn_multiscale.plot: each panel draws the result's data, and the summary is written."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import neo  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from pynn_multiscale import plot  # noqa: E402
from pynn_multiscale.results import Result, connectivity_dataset, tvb_dataset  # noqa: E402

LABELS = ["a", "b", "c", "d"]


@pytest.fixture
def result():
    rng = np.random.default_rng(0)
    tvb = tvb_dataset([("Raw", np.arange(100) * 1.0, rng.normal(size=(100, 2, 4, 1)),
                        ["S_e", "S_i"])], LABELS)
    block = neo.Block(region_label="c")
    block.segments.append(neo.Segment())
    trains = []
    for pop, size in (("E", 8), ("I", 2)):
        times = np.sort(rng.uniform(0, 100, 60))
        trains.append(neo.SpikeTrain(times, units="ms", t_stop=100.0, population=pop, size=size,
                                     array_annotations={"source_index": rng.integers(0, size, 60)}))
    block.segments[0].spiketrains = trains
    weights = rng.uniform(size=(4, 4))
    weights[0, 1] = 0.0
    return Result(tvb, {2: block}, metadata={"simulator": "nest", "simulator_version": "3.10.0",
                                             "duration_ms": 100.0, "sync_interval_ms": 2.6},
                  connectivity=connectivity_dataset(weights, np.ones((4, 4)), LABELS))


def test_population_rate_of_a_population_train(result):
    train = result.spiking[2].segments[0].spiketrains[0]
    t, rate = plot.population_rate(train, bin_ms=10.0)
    assert t.tolist() == list(np.arange(5.0, 100.0, 10.0))
    counts, _ = np.histogram(train.magnitude, bins=np.arange(0, 101, 10.0))
    np.testing.assert_allclose(rate, counts / 8 / 0.01)


def test_spiking_region_draws_every_spike_and_the_rates(result):
    ax_raster, ax_rate = plot.spiking_region(result, 2, bin_ms=10.0)
    raster_lines = ax_raster.get_lines()
    assert sum(len(line.get_xdata()) for line in raster_lines) == 120
    assert ax_raster.get_ylabel() == "neuron" and ax_rate.get_ylabel() == "rate (Hz)"
    e_rate = plot.population_rate(result.spiking[2].segments[0].spiketrains[0], 10.0)[1]
    np.testing.assert_allclose(ax_rate.get_lines()[0].get_ydata(), e_rate)
    assert "mean 75.00 Hz" in ax_rate.get_legend().get_texts()[0].get_text()  # 60 / 8 / 0.1 s
    plt.close("all")


def test_raster_shows_at_most_max_neurons_per_population(result):
    ax_raster, _ = plot.spiking_region(result, 2, max_neurons=3)
    shown = result.spiking[2].segments[0].spiketrains[0].array_annotations["source_index"] < 3
    assert len(ax_raster.get_lines()[0].get_xdata()) == shown.sum()
    plt.close("all")


def test_tvb_timeseries_draws_every_region_and_highlights_the_spiking_one(result):
    ax = plot.tvb_timeseries(result, variable="S_i")
    drawn = [line for line in ax.get_lines() if len(line.get_xdata())]
    assert len(drawn) == 4
    np.testing.assert_array_equal(drawn[-1].get_ydata(),
                                  result.monitor("Raw").sel(variable="S_i", region="c")
                                  .isel(mode=0).values)
    assert drawn[-1].get_linewidth() > drawn[0].get_linewidth()
    assert ax.get_ylabel() == "S_i" and ax.get_xlabel() == "time (ms)"
    plt.close("all")


def test_connectome_shows_the_weights_and_marks_spiking_regions(result):
    ax = plot.connectome(result)
    image = ax.get_images()[0].get_array()
    assert np.ma.is_masked(image[0, 1]) or np.isnan(image[0, 1])  # zero weight: blank
    np.testing.assert_allclose(image[2, 3], result.connectivity["weights"].values[2, 3])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2"]
    result.connectivity = None
    with pytest.raises(ValueError, match="no connectivity"):
        plot.connectome(result)
    plt.close("all")


def test_summary_writes_a_png_with_every_panel(result, tmp_path):
    path = plot.summary(result, tmp_path / "summary.png")
    image = plt.imread(path)
    assert image.shape[1] == 1100 and image.shape[0] > 600  # 11 inches at 100 dpi
    fig = plot.summary(result)
    assert len(fig.axes) == 1 + 1 + 1 + 2  # connectome (+ its colour bar), TVB, raster, rate
    assert "nest 3.10.0" in fig._suptitle.get_text() and "2.6 ms" in fig._suptitle.get_text()
    plt.close(fig)
    result.complete, result.reason = False, "KeyboardInterrupt at 40 ms"
    fig = plot.summary(result)
    assert "INCOMPLETE: KeyboardInterrupt at 40 ms" in fig._suptitle.get_text()
    plt.close(fig)
