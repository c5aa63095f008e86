"""Analysis of co-simulation results: thin functions over Elephant and numpy.

The spiking-side functions take a list of :class:`neo.SpikeTrain`, one per
neuron (:meth:`Result.spiketrains(region, population)
<pynn_multiscale.results.Result.spiketrains>` gives them), so they work on
any Neo data, not only on ours.  Times given as plain numbers are in ms.
The TVB-side functions take a :class:`~pynn_multiscale.results.Result` (or
one monitor as an :class:`xarray.DataArray`).

Each function says which Elephant or numpy call it wraps;
``tests/test_analysis.py`` checks every one against that call made directly.

Examples
--------
>>> import neo, numpy as np
>>> trains = [neo.SpikeTrain([10.0, 30.0, 70.0], units="ms", t_stop=100.0),
...           neo.SpikeTrain([20.0, 60.0], units="ms", t_stop=100.0)]
>>> mean_rates(trains).tolist()  # Hz
[30.0, 20.0]
>>> cv_isi(trains, min_spikes=3).round(3).tolist()
[0.333]
"""

from __future__ import annotations

import warnings
from typing import Sequence

import neo
import numpy as np
import quantities as pq
import xarray as xr

from .errors import ConfigurationError, bad_value

__all__ = ["population_rate", "mean_rates", "cv_isi", "fano_factor", "spike_count_correlations",
           "rate_spectrum", "functional_connectivity", "fc_sc_correlation", "population_summary",
           "point_summary"]

#: :func:`point_summary` computes the FC-SC correlation from a BOLD monitor with at least
#: this many samples ...
FC_MIN_BOLD_SAMPLES = 10
#: ... or, without one, from a Raw (or other) monitor spanning at least this long (ms).
FC_MIN_SPAN_MS = 1000.0


def _ms(value, name):
    """A duration as a quantity in ms (plain numbers are ms)."""
    if isinstance(value, pq.Quantity):
        return value.rescale(pq.ms)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(bad_value(name, value, "a duration in ms (a number or a "
                                           "quantities value)", f"pass e.g. {name}=5.0")) from None
    if not np.isfinite(number) or number <= 0:
        raise ConfigurationError(bad_value(name, value, "a positive duration in ms",
                                           f"pass e.g. {name}=5.0"))
    return number * pq.ms


def _trains(trains, name="trains"):
    trains = list(trains) if not isinstance(trains, neo.SpikeTrain) else [trains]
    if not trains or not all(isinstance(t, neo.SpikeTrain) for t in trains):
        raise ConfigurationError(bad_value(
            name, type(trains).__name__, "a non-empty list of neo.SpikeTrain, one per neuron",
            "pass result.spiketrains(region, population)"))
    return trains


def population_rate(trains: Sequence[neo.SpikeTrain], bin_size=5.0, t_start=None,
                    t_stop=None) -> neo.AnalogSignal:
    """Population rate: spikes per neuron per second in bins of ``bin_size``.

    Wraps ``elephant.statistics.time_histogram(..., output="rate")``.

    Parameters
    ----------
    trains : list of neo.SpikeTrain
        One train per neuron.
    bin_size : float or quantity
        Bin width (ms if a number).
    t_start, t_stop : float or quantity, optional
        Default: those of the trains.

    Returns
    -------
    neo.AnalogSignal
        One channel, in Hz, one sample per bin (``times`` are the bins' left
        edges).
    """
    from elephant.statistics import time_histogram

    trains = _trains(trains)
    return time_histogram(trains, _ms(bin_size, "bin_size"),
                          t_start=None if t_start is None else _ms(t_start, "t_start"),
                          t_stop=None if t_stop is None else _ms(t_stop, "t_stop"),
                          output="rate").rescale(pq.Hz)


def mean_rates(trains: Sequence[neo.SpikeTrain]) -> np.ndarray:
    """Each neuron's mean rate in Hz over its train's ``[t_start, t_stop]``.

    Wraps ``elephant.statistics.mean_firing_rate``.
    """
    from elephant.statistics import mean_firing_rate

    return np.array([float(mean_firing_rate(t).rescale(pq.Hz)) for t in _trains(trains)])


def cv_isi(trains: Sequence[neo.SpikeTrain], min_spikes: int = 3) -> np.ndarray:
    """Coefficient of variation of the inter-spike intervals, per neuron.

    Wraps ``elephant.statistics.cv(elephant.statistics.isi(train))`` (the
    standard deviation over the mean, ``ddof=0``).  Neurons with fewer than
    ``min_spikes`` spikes are left out (their CV is not defined or
    meaningless), so the result may be shorter than ``trains``.
    """
    from elephant.statistics import cv, isi

    if int(min_spikes) < 3:
        raise ConfigurationError(bad_value("min_spikes", min_spikes, "at least 3 (two intervals)",
                                           "pass min_spikes=3 or more"))
    return np.array([float(cv(isi(t).magnitude)) for t in _trains(trains)
                     if len(t) >= int(min_spikes)])


def fano_factor(trains: Sequence[neo.SpikeTrain], window=None):
    """Fano factor (variance over mean) of spike counts.

    ``window=None``: of the counts of the trains (trials, or the neurons of a
    population), as ``elephant.statistics.fanofactor``; returns a float.

    ``window`` given (ms): of each neuron's counts in consecutive windows of
    that length from ``t_start`` (an incomplete last window is dropped);
    returns one value per neuron (NaN for a silent neuron).  The variance is
    the population variance (``ddof=0``), as Elephant's.
    """
    trains = _trains(trains)
    if window is None:
        from elephant.statistics import fanofactor

        return float(fanofactor(trains))
    width = float(_ms(window, "window").magnitude)
    out = []
    for t in trains:
        start, stop = float(t.t_start.rescale(pq.ms)), float(t.t_stop.rescale(pq.ms))
        n = int(np.floor((stop - start) / width + 1e-9))
        if n < 2:
            raise ConfigurationError(bad_value(
                "window", window, f"at most half the trains' duration ({stop - start:g} ms)",
                "pass a shorter window"))
        edges = start + width * np.arange(n + 1)
        counts, _ = np.histogram(t.rescale(pq.ms).magnitude, bins=edges)
        mean = counts.mean()
        out.append(counts.var() / mean if mean > 0 else np.nan)
    return np.array(out)


def spike_count_correlations(trains: Sequence[neo.SpikeTrain], bin_size=5.0, sample=None,
                             seed=0) -> xr.DataArray:
    """Pearson correlations of binned spike counts between neurons.

    Wraps ``elephant.spike_train_correlation.correlation_coefficient`` on an
    ``elephant.conversion.BinnedSpikeTrain``.  Silent neurons have no
    defined coefficient and are left out.

    Parameters
    ----------
    trains : list of neo.SpikeTrain
    bin_size : float or quantity
        Bin width (ms if a number).
    sample : int, optional
        Use a random sample of this many (non-silent) neurons; default all.
    seed : int
        Seed of the sample's draw.

    Returns
    -------
    xarray.DataArray
        The ``(k, k)`` matrix, dims ``("neuron_a", "neuron_b")``, whose
        coordinates are the neurons' positions in ``trains``.  The pairwise
        coefficients are its upper triangle
        (``values[np.triu_indices(k, 1)]``).
    """
    from elephant.conversion import BinnedSpikeTrain
    from elephant.spike_train_correlation import correlation_coefficient

    trains = _trains(trains)
    active = np.array([i for i, t in enumerate(trains) if len(t) > 0])
    if sample is not None:
        if int(sample) < 2:
            raise ConfigurationError(bad_value("sample", sample, "at least 2 neurons",
                                               "pass sample=50, or None for all neurons"))
        if active.size > int(sample):
            active = np.sort(np.random.default_rng(seed).choice(active, int(sample), replace=False))
    if active.size < 2:
        raise ConfigurationError(bad_value(
            "trains", f"{active.size} neurons with spikes", "at least 2 neurons that spike",
            "record a longer interval or a larger population"))
    binned = BinnedSpikeTrain([trains[i] for i in active], bin_size=_ms(bin_size, "bin_size"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a neuron with spikes in every bin
        matrix = correlation_coefficient(binned)
    return xr.DataArray(np.asarray(matrix), dims=("neuron_a", "neuron_b"),
                        coords={"neuron_a": active, "neuron_b": active},
                        attrs={"bin_size_ms": float(_ms(bin_size, "bin_size").magnitude)})


def rate_spectrum(trains: Sequence[neo.SpikeTrain], bin_size=1.0, frequency_resolution=2.0):
    """Power spectral density of the population rate (Welch's method).

    The rate is :func:`population_rate` with ``bin_size``; its mean is
    removed and ``elephant.spectral.welch_psd`` estimates the spectrum with
    the given frequency resolution (Hz; it fixes the segment length).

    Returns
    -------
    frequencies : numpy.ndarray
        In Hz, from 0 to the Nyquist frequency ``500 / bin_size``.
    psd : numpy.ndarray
        In Hz²/Hz.
    """
    from elephant.spectral import welch_psd

    rate = population_rate(trains, bin_size)
    if not np.isfinite(float(frequency_resolution)) or float(frequency_resolution) <= 0:
        raise ConfigurationError(bad_value("frequency_resolution", frequency_resolution,
                                           "a positive frequency in Hz",
                                           "pass e.g. frequency_resolution=2.0"))
    duration = float(rate.duration.rescale(pq.s))
    if 1.0 / float(frequency_resolution) > duration:
        raise ConfigurationError(bad_value(
            "frequency_resolution", frequency_resolution,
            f"at least 1 / duration = {1.0 / duration:.3g} Hz for {duration:g} s of data",
            "pass a coarser resolution or record longer"))
    frequencies, psd = welch_psd(rate, frequency_resolution=float(frequency_resolution) * pq.Hz,
                                 detrend="constant")
    return np.asarray(frequencies.rescale(pq.Hz)), np.asarray(psd).ravel()


def functional_connectivity(data, monitor: str = "Bold", variable: str | None = None,
                            t_start: float = 0.0) -> xr.DataArray:
    """Functional connectivity: correlations between the regions' time series.

    ``numpy.corrcoef`` of each region's series (first mode) from ``t_start``
    on.  For BOLD, drop the first seconds (the haemodynamic transient) with
    ``t_start``.

    Parameters
    ----------
    data : Result or xarray.DataArray
        A result (its monitor ``monitor`` is used) or one monitor with dims
        ``("time", "variable", "region", "mode")``.
    monitor : str
        Monitor name in the result (default ``"Bold"``, TVB's BOLD monitor).
    variable : str, optional
        Default: the monitor's first variable.
    t_start : float
        First time (ms) used.

    Returns
    -------
    xarray.DataArray
        ``(n_region, n_region)``, dims ``("region_a", "region_b")`` labelled
        with the region names.
    """
    from .results import Result

    if isinstance(data, Result):
        data = data.monitor(monitor)
    if not isinstance(data, xr.DataArray) or set(data.dims) != {"time", "variable", "region",
                                                                 "mode"}:
        raise ConfigurationError(bad_value(
            "data", type(data).__name__, "a Result or a monitor DataArray with dims "
            "(time, variable, region, mode)", "pass the Result, or result.monitor(name)"))
    variable = variable or str(data["variable"].values[0])
    series = data.sel(variable=variable).isel(mode=0).sel(time=slice(float(t_start), None))
    series = series.transpose("time", "region")
    if series.sizes["time"] < 3:
        raise ConfigurationError(bad_value(
            "t_start", t_start, f"a start leaving at least 3 samples ({series.sizes['time']} left)",
            "record longer or pass an earlier t_start"))
    labels = [str(r) for r in data["region"].values]
    return xr.DataArray(np.corrcoef(series.values, rowvar=False), dims=("region_a", "region_b"),
                        coords={"region_a": labels, "region_b": labels})


def fc_sc_correlation(fc, weights) -> float:
    """Pearson correlation between functional and structural connectivity.

    Over the region pairs above the diagonal: FC (symmetric) against the
    symmetrised weights ``(W + W.T) / 2``, both as given (apply e.g.
    ``np.log1p`` to the weights before if wanted).

    Parameters
    ----------
    fc : array-like or xarray.DataArray
        ``(n, n)`` functional connectivity (see :func:`functional_connectivity`).
    weights : array-like or xarray.Dataset
        ``(n, n)`` weights, or a result's ``connectivity`` Dataset.
    """
    if isinstance(weights, xr.Dataset):
        weights = weights["weights"]
    fc, weights = np.asarray(fc, dtype=float), np.asarray(weights, dtype=float)
    if fc.ndim != 2 or fc.shape[0] != fc.shape[1] or weights.shape != fc.shape:
        raise ConfigurationError(bad_value(
            "weights", f"shape {weights.shape}", f"the same square shape as fc {fc.shape}",
            "pass the connectivity of the simulated brain"))
    upper = np.triu_indices(fc.shape[0], 1)
    return float(np.corrcoef(fc[upper], ((weights + weights.T) / 2)[upper])[0, 1])


def population_summary(result) -> list[dict]:
    """Mean rate, CV of ISI and Fano factor of every spiking population.

    One row per (region, population): ``region``, ``region_label``,
    ``population``, ``neurons``, ``rate_hz`` (mean over neurons),
    ``cv_isi`` (mean over the neurons with at least 3 spikes; NaN if none)
    and ``fano`` (of the neurons' counts, :func:`fano_factor` with no
    window).
    """
    rows = []
    for region, block in sorted(result.spiking.items()):
        for st in block.segments[0].spiketrains:
            population = st.annotations.get("population")
            trains = result.spiketrains(region, population)
            cvs = cv_isi(trains)
            silent = all(len(t) == 0 for t in trains)
            rows.append({"region": region, "region_label": block.annotations.get("region_label"),
                         "population": population, "neurons": len(trains),
                         "rate_hz": float(mean_rates(trains).mean()),
                         "cv_isi": float(cvs.mean()) if cvs.size else float("nan"),
                         "fano": float("nan") if silent else fano_factor(trains)})
    return rows


def _time_sliced(trains, t_start):
    if not t_start:
        return trains
    return [t.time_slice(t_start * pq.ms, t.t_stop) for t in trains]


def _fc_monitor(result, t_start):
    """The monitor the FC-SC correlation is computed from, or None (see :func:`point_summary`)."""
    names = list(result.tvb.data_vars)
    bold = [n for n in names if n.lower().startswith("bold")]
    for name in bold + [n for n in names if n not in bold]:
        times = result.tvb[name][f"{name}_time"].values
        times = times[times >= t_start]
        if name in bold and times.size >= FC_MIN_BOLD_SAMPLES:
            return name
        if name not in bold and times.size >= 3 and times[-1] - times[0] >= FC_MIN_SPAN_MS:
            return name
    return None


def point_summary(result, transient_ms: float = 0.0) -> xr.Dataset:
    """A few numbers that describe one co-simulation: the default reducer of a sweep.

    * ``rate_hz`` and ``cv_isi``, dims ``("population",)``: each spiking
      population's mean rate and mean CV of ISI (:func:`population_summary`'s
      definitions), labelled ``"<region label>/<population>"``.
    * ``<monitor>_mean`` and ``<monitor>_var``, dims
      ``("<monitor>_variable", "region")``: each monitored variable's mean
      and variance over time, per region (first mode).
    * ``fc_sc``: the correlation of functional and structural connectivity
      (:func:`functional_connectivity`, :func:`fc_sc_correlation`) from a
      BOLD monitor with at least :data:`FC_MIN_BOLD_SAMPLES` samples or,
      without one, from the first monitor that spans at least
      :data:`FC_MIN_SPAN_MS` ms; NaN if there is none, or no
      connectivity.  Its ``monitor`` attribute names the monitor used.

    Everything is computed from ``transient_ms`` on (pass it through
    ``functools.partial`` as a sweep's reducer to drop a start transient).
    """
    t0 = 0.0 if transient_ms == 0 else float(_ms(transient_ms, "transient_ms").magnitude)
    data = {}
    labels, rates, cvs = [], [], []
    for region, block in sorted(result.spiking.items()):
        label = block.annotations.get("region_label") or str(region)
        for st in block.segments[0].spiketrains:
            population = st.annotations.get("population")
            trains = _time_sliced(result.spiketrains(region, population), t0)
            values = cv_isi(trains)
            labels.append(f"{label}/{population}")
            rates.append(float(mean_rates(trains).mean()) if trains else np.nan)
            cvs.append(float(values.mean()) if values.size else np.nan)
    if len(set(labels)) != len(labels):  # two regions with one label: name them by index
        labels = [f"{region}/{st.annotations.get('population')}"
                  for region, block in sorted(result.spiking.items())
                  for st in block.segments[0].spiketrains]
    if labels:
        data["rate_hz"] = xr.DataArray(rates, dims="population", coords={"population": labels},
                                       attrs={"units": "Hz"})
        data["cv_isi"] = xr.DataArray(cvs, dims="population", coords={"population": labels})
    for name in result.tvb.data_vars:
        values = result.tvb[name].isel(mode=0).sel({f"{name}_time": slice(t0, None)})
        data[f"{name}_mean"] = values.mean(f"{name}_time")
        data[f"{name}_var"] = values.var(f"{name}_time")
    monitor = _fc_monitor(result, t0)
    fc_sc = np.nan
    if monitor is not None and result.connectivity is not None:
        fc_sc = fc_sc_correlation(functional_connectivity(result, monitor, t_start=t0),
                                  result.connectivity)
    data["fc_sc"] = xr.DataArray(fc_sc, attrs={"monitor": monitor or "none"})
    out = xr.Dataset(data)
    out.attrs["transient_ms"] = t0
    return out
