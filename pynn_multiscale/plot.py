"""Figures of a co-simulation result, with matplotlib.

Each panel function draws onto axes you pass (or new ones) and returns
them, so they compose into your own figures; :func:`summary` puts them all
on one page and is what ``make demo`` writes.  Nothing here changes
matplotlib's global state, except selecting the non-interactive ``Agg``
backend when :func:`summary` or :func:`sweep` writes a file and no backend was chosen.
"""

from __future__ import annotations

import numpy as np

__all__ = ["population_rate", "spiking_region", "tvb_timeseries", "connectome", "summary",
           "transfer", "sweep"]

#: At most this many panels (values of a measure's own dims, e.g. populations) in one figure.
MAX_PANELS = 12

#: Colour of each population name (others are drawn in black).
COLOURS = {"E": "tab:red", "I": "tab:blue"}


def population_rate(train, bin_ms: float = 5.0):
    """Population rate (Hz per neuron) of a population train in bins of ``bin_ms``.

    ``train`` is one train for a whole population, as results store them
    (annotation ``size`` = number of neurons).  Returns the bin centres (ms)
    and the rates.  For lists of per-neuron trains use
    :func:`pynn_multiscale.analysis.population_rate`.
    """
    t_start = float(train.t_start.rescale("ms"))
    t_stop = float(train.t_stop.rescale("ms"))
    edges = np.arange(t_start, t_stop + bin_ms / 2, bin_ms)
    counts, _ = np.histogram(train.rescale("ms").magnitude, bins=edges)
    return (edges[:-1] + edges[1:]) / 2, counts * 1000.0 / (bin_ms * train.annotations["size"])


def _pyplot(path):
    """``matplotlib.pyplot``; writing a file (``path``) selects Agg unless a backend was chosen."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _axes(axes, n):
    if axes is not None:
        return axes
    import matplotlib.pyplot as plt

    _, new = plt.subplots(n, 1, figsize=(8, 2.2 * n), sharex=True, constrained_layout=True)
    return new


def _region_label(result, region):
    return result.spiking[region].annotations.get("region_label", str(region))


def spiking_region(result, region: int, axes=None, max_neurons: int = 200, bin_ms: float = 5.0):
    """Raster (top axes) and population rates (bottom axes) of one spiking region.

    Parameters
    ----------
    result : Result
    region : int
        Index of the spiking region in the connectome.
    axes : pair of matplotlib Axes, optional
        Where to draw; default a new figure.
    max_neurons : int
        Neurons shown per population in the raster (the first ones).
    bin_ms : float
        Bin width of the population rates.
    """
    ax_raster, ax_rate = _axes(axes, 2)
    offset = 0
    label = _region_label(result, region)
    for st in result.spiking[region].segments[0].spiketrains:
        pop = st.annotations["population"]
        index = np.asarray(st.array_annotations["source_index"])
        keep = index < max_neurons
        shown = min(max_neurons, st.annotations["size"])
        ax_raster.plot(st.rescale("ms").magnitude[keep], index[keep] + offset, "|", ms=2,
                       color=COLOURS.get(pop, "k"), label=f"{pop} ({shown} of {st.annotations['size']})")
        offset += shown
        t, rate = population_rate(st, bin_ms)
        ax_rate.plot(t, rate, color=COLOURS.get(pop, "k"), lw=1,
                     label=f"{pop}: mean {1000.0 * len(st) / (st.annotations['size'] * float(st.duration.rescale('ms'))):.2f} Hz")
    ax_raster.set_ylabel("neuron")
    ax_raster.set_ylim(-1, offset)
    ax_raster.set_title(f"Spiking region {region} ({label}): spikes", fontsize=10)
    ax_raster.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, markerscale=4)
    ax_rate.set_ylabel("rate (Hz)")
    ax_rate.set_xlabel("time (ms)")
    ax_rate.set_title(f"{label}: population rate per neuron ({bin_ms:g} ms bins)", fontsize=10)
    ax_rate.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return ax_raster, ax_rate


def tvb_timeseries(result, ax=None, monitor: str | None = None, variable: str | None = None):
    """One TVB variable of every region: grey, with the spiking regions in colour.

    Parameters
    ----------
    result : Result
    ax : matplotlib Axes, optional
    monitor : str, optional
        Default: the first monitor.
    variable : str, optional
        Default: the monitor's first variable.
    """
    ax = ax if ax is not None else _axes(None, 1)
    name = monitor or list(result.tvb.data_vars)[0]
    data = result.monitor(name)
    var = variable or str(data["variable"].values[0])
    series = data.sel(variable=var).isel(mode=0)
    time = series["time"].values
    spiking = {str(result.tvb["region"].values[i]) for i in result.spiking}
    for label in series["region"].values:
        if str(label) not in spiking:
            ax.plot(time, series.sel(region=label).values, color="0.7", lw=0.5)
    ax.plot([], [], color="0.7", lw=0.5, label=f"{series.sizes['region'] - len(spiking)} TVB regions")
    for i in sorted(result.spiking):
        label = str(result.tvb["region"].values[i])
        ax.plot(time, series.sel(region=label).values, lw=1.5, label=f"{label} (spiking, {i})")
    ax.set_ylabel(var)
    ax.set_xlabel("time (ms)")
    ax.set_title(f"TVB {name} monitor: {var} of every region", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return ax


def connectome(result, ax=None):
    """The connectome's weights (log scale), with the spiking regions marked.

    Entry (row i, column j) is the connection from region j to region i, as
    in TVB.  Needs ``result.connectivity`` (saved with every co-simulation).
    """
    import matplotlib.colors as mcolors

    if result.connectivity is None:
        raise ValueError("connectome(): this result has no connectivity (it was saved before "
                         "results carried connectivity.nc); plot the TVB Connectivity instead")
    ax = ax if ax is not None else _axes(None, 1)
    weights = result.connectivity["weights"].values
    positive = weights[weights > 0]
    image = ax.imshow(np.where(weights > 0, weights, np.nan), cmap="viridis",
                      norm=mcolors.LogNorm(positive.min(), positive.max()) if positive.size else None,
                      interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label="weight")
    n = weights.shape[0]
    for i in sorted(result.spiking):
        for line in (ax.axhline, ax.axvline):
            line(i, color="tab:red", lw=0.8, alpha=0.8)
    ticks = sorted(result.spiking)
    ax.set_xticks(ticks, [str(i) for i in ticks], fontsize=8, color="tab:red")
    ax.set_yticks(ticks, [str(i) for i in ticks], fontsize=8, color="tab:red")
    ax.set_xlabel(f"source region (index, of {n})")
    ax.set_ylabel("target region (index)")
    ax.set_title("Connectome weights (log colour scale)\nred lines: spiking regions "
                 + ", ".join(str(i) for i in ticks), fontsize=10)
    return ax


def summary(result, path=None, max_neurons: int = 200, monitor: str | None = None,
            variable: str | None = None):
    """The one-page summary: connectome, TVB time series, and each spiking region.

    Top row: the connectome with the spiking regions marked, and one TVB
    variable of every region.  Then, per spiking region, its raster and
    its population rates.  A line under the title gives the simulator, the
    duration and the synchronisation interval from the result's metadata.

    Parameters
    ----------
    result : Result
    path : str or Path, optional
        PNG file to write (then the figure is closed and ``path`` returned);
        without it the figure is returned.
    """
    plt = _pyplot(path)

    regions = sorted(result.spiking)
    heights = [3.2] + [1.6, 1.4] * len(regions)
    fig = plt.figure(figsize=(11, sum(heights) + 0.8), constrained_layout=True)
    grid = fig.add_gridspec(len(heights), 2, height_ratios=heights, width_ratios=[1, 1.8])
    if result.connectivity is not None:
        connectome(result, fig.add_subplot(grid[0, 0]))
        tvb_timeseries(result, fig.add_subplot(grid[0, 1]), monitor, variable)
    else:
        tvb_timeseries(result, fig.add_subplot(grid[0, :]), monitor, variable)
    for k, region in enumerate(regions):
        ax_raster = fig.add_subplot(grid[1 + 2 * k, :])
        ax_rate = fig.add_subplot(grid[2 + 2 * k, :], sharex=ax_raster)
        spiking_region(result, region, (ax_raster, ax_rate), max_neurons=max_neurons)
    meta = result.metadata
    details = []
    if "simulator" in meta:
        details.append(f"spiking simulator {meta['simulator']} {meta.get('simulator_version', '')}")
    if "duration_ms" in meta:
        details.append(f"{meta['duration_ms']:g} ms")
    if "sync_interval_ms" in meta:
        details.append(f"synchronised every {meta['sync_interval_ms']:g} ms")
    if not result.complete:
        details.append(f"INCOMPLETE: {result.reason}")
    fig.suptitle("Multiscale co-simulation: TVB whole brain with spiking regions\n"
                 + ", ".join(details), fontsize=11)
    if path is None:
        return fig
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def transfer(levels, mean, sem, mean_field, corrected=None, ax=None, path=None,
             xlabel="constant input", ylabel="rate (Hz)", title=None):
    """A pair's transfer check: the mass's steady states as a curve, the spiking points with error bars.

    Parameters
    ----------
    levels : array (n,)
        The inputs.
    mean, sem : array (n,)
        The spiking region's value and its standard error (over seeds).
    mean_field : array (n,) or (levels_fine, values_fine)
        The mass's steady states at ``levels``, or a finer curve.
    corrected : array (n,), optional
        The mass's value corrected by the pair's derived deviation (drawn as
        open circles).
    path : str, optional
        Save the figure there.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    if isinstance(mean_field, tuple):
        ax.plot(*mean_field, color="0.3", label="mean field")
    else:
        ax.plot(levels, mean_field, "-", color="0.3", label="mean field")
    if corrected is not None:
        ax.plot(levels, corrected, "o", mfc="none", color="C1",
                label="mean field + derived deviation")
    ax.errorbar(levels, mean, yerr=3 * np.asarray(sem), fmt=".", color="C0",
                label="spiking (± 3 SE)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    if path is not None:
        ax.figure.savefig(path, dpi=120)
    return ax


def sweep(summary, measure: str = "rate_hz", x: str | None = None, y: str | None = None,
          select: dict | None = None, path=None):
    """A sweep's summary: a heat map over two parameters, or a line over one.

    The value is the mean over seeds; a line plot draws ± 1 standard error
    (over seeds) as error bars, and a heat map writes the mean in each cell.
    A measure with its own dimensions (``rate_hz`` has ``population``) gets
    one panel per value.

    Parameters
    ----------
    summary : xarray.Dataset
        What :func:`pynn_multiscale.sweep.run` returns, or ``summary.nc``.
    measure : str
        A data variable of the summary.
    x, y : str, optional
        The parameters along x (and y, for a heat map).  Default: the
        parameters that take more than one value, in grid order.
    select : dict, optional
        ``{dim: value}``: keep one value of a parameter or of the measure's
        own dims (e.g. ``{"population": "r_superiortemporal/E"}``).
    path : str, optional
        Write the figure there (PNG) and close it; otherwise return it.
    """
    from .errors import ConfigurationError, bad_value

    plt = _pyplot(path)

    if measure not in summary.data_vars or summary[measure].dtype.kind not in "biuf":
        numeric = [n for n, v in summary.data_vars.items() if v.dtype.kind in "biuf"]
        raise ConfigurationError(bad_value("measure", measure, f"a numeric measure: {numeric}",
                                           f"pass one of {numeric}"))
    data = summary[measure]
    for dim, value in (select or {}).items():
        if dim not in summary.coords:
            raise ConfigurationError(bad_value("select", {dim: value},
                                               f"dims of the summary: {list(summary.dims)}",
                                               "select along one of them"))
        summary = summary.sel({dim: value})
        data = data.sel({dim: value})
    if "point" in data.dims:  # explicit points: their parameters are coordinates along point
        swept = [n for n in summary.coords if summary[n].dims == ("point",) and n != "point"]
        if y is not None or (x is not None and x not in swept):
            raise ConfigurationError(bad_value(
                "x" if y is None else "y", x if y is None else y,
                f"for a sweep of explicit points, x only, one of {swept}",
                f"pass x={swept[0]!r} and no y"))
        axes_names = [x or swept[0]]
    else:
        swept = [d for d in summary["state"].dims if d != "seed"]
        axes_names = _choose(summary, swept, x, y)
    own = [d for d in data.dims if d not in swept and d not in ("seed", "point")]
    panels = [{}]
    for dim in own:
        panels = [dict(p, **{dim: v}) for p in panels for v in data[dim].values]
    if len(panels) > MAX_PANELS:
        raise ConfigurationError(bad_value(
            "select", select, f"at most {MAX_PANELS} panels (dims {own} give {len(panels)})",
            f"select one value of {own[0]}, e.g. select={{'{own[0]}': "
            f"{data[own[0]].values[0]!r}}}"))
    n = len(panels)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axs = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False,
                            layout="constrained")
    for ax, panel in zip(axs.flat, panels):
        values = data.sel(panel) if panel else data
        seeds = values.count("seed")
        mean = values.mean("seed")
        sem = values.std("seed", ddof=1) / np.sqrt(seeds)
        parts = [f"{k}={_label(v)}" for k, v in (select or {}).items()] + \
            [_label(v) for v in panel.values()]
        title = measure + (": " + ", ".join(parts) if parts else "")
        if "point" in values.dims:
            xs = summary[axes_names[0]].values
            ax.errorbar(xs, mean.values, yerr=sem.values, fmt="o", capsize=3)
            ax.set_xlabel(axes_names[0])
            ax.set_ylabel(measure)
        elif len(axes_names) == 1:
            mean = mean.squeeze(drop=True)
            sem = sem.squeeze(drop=True)
            ax.errorbar(mean[axes_names[0]].values, mean.values, yerr=sem.values, fmt="o-",
                        capsize=3)
            ax.set_xlabel(axes_names[0])
            ax.set_ylabel(f"{measure} (mean ± SE, {values.sizes['seed']} seeds)")
        else:
            xs, ys = axes_names
            grid = mean.squeeze(drop=True).transpose(ys, xs)
            image = ax.imshow(grid.values, origin="lower", aspect="auto", cmap="viridis")
            ax.set_xticks(range(grid.sizes[xs]), [_label(v) for v in grid[xs].values])
            ax.set_yticks(range(grid.sizes[ys]), [_label(v) for v in grid[ys].values])
            for (i, j), value in np.ndenumerate(grid.values):
                if np.isfinite(value):  # dark text on the colour map's bright end
                    bright = image.norm(value) > 0.6
                    ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=7,
                            color="k" if bright else "w")
            ax.set_xlabel(xs)
            ax.set_ylabel(ys)
            fig.colorbar(image, ax=ax, label=f"{measure} (mean over seeds)")
        ax.set_title(title, fontsize=9)
    for ax in list(axs.flat)[n:]:
        ax.set_visible(False)
    if path is None:
        return fig
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _label(value):
    """A coordinate value as text: numbers without trailing zeros."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value.item() if hasattr(value, "item") else value)


def _choose(summary, swept, x, y):
    """The grid parameters along x (and y): given, or those that take more than one value."""
    from .errors import ConfigurationError, bad_value

    for name, value in (("x", x), ("y", y)):
        if value is not None and value not in swept:
            raise ConfigurationError(bad_value(name, value, f"a swept parameter: {swept}",
                                               f"pass one of {swept}"))
    varying = [d for d in swept if summary.sizes[d] > 1]
    chosen = [v for v in (x, y) if v is not None]
    if not chosen:
        chosen = varying[:2]
    elif x is not None and y is None and len(varying) > 1:
        chosen = [x] + [d for d in varying if d != x][:1]
    others = [d for d in varying if d not in chosen]
    if others:
        raise ConfigurationError(bad_value(
            "select", None, f"at most two parameters to draw; {others} also vary",
            f"select one value of {others[0]}, e.g. select={{'{others[0]}': "
            f"{summary[others[0]].values[0].item()!r}}}"))
    if not chosen:
        raise ConfigurationError(bad_value(
            "x", x, f"a parameter with more than one value (the grid is {dict(summary.sizes)})",
            "sweep at least two values of a parameter"))
    return chosen
