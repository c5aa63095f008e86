"""Figures of a co-simulation result (matplotlib, no global state changed)."""

from __future__ import annotations

import numpy as np


def population_rate(train, bin_ms: float = 5.0):
    """Population rate (Hz) of a population train in bins of ``bin_ms``.

    Returns the bin centres (ms) and the rate per neuron.
    """
    t_stop = float(train.t_stop.rescale("ms"))
    edges = np.arange(0.0, t_stop + bin_ms / 2, bin_ms)
    counts, _ = np.histogram(train.rescale("ms").magnitude, bins=edges)
    return (edges[:-1] + edges[1:]) / 2, counts * 1000.0 / (bin_ms * train.annotations["size"])


def overview(result, path, max_neurons: int = 200, variable: str | None = None):
    """Write the overview figure: rasters, population rates, TVB time series.

    Parameters
    ----------
    result : Result
    path : str
        PNG file to write.
    max_neurons : int
        Neurons shown per population in the rasters.
    variable : str, optional
        TVB variable to plot; default the first one of the first monitor.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    regions = sorted(result.spiking)
    n_rows = len(regions) + 2
    fig, axes = plt.subplots(n_rows, 1, figsize=(10, 2.4 * n_rows), sharex=True,
                             constrained_layout=True)
    colours = {"E": "tab:red", "I": "tab:blue"}
    for ax, idx in zip(axes, regions):
        block = result.spiking[idx]
        offset = 0
        for st in block.segments[0].spiketrains:
            pop = st.annotations["population"]
            index = np.asarray(st.array_annotations["source_index"])
            keep = index < max_neurons
            ax.plot(st.rescale("ms").magnitude[keep], index[keep] + offset, "|",
                    ms=2, color=colours.get(pop, "k"), label=pop)
            offset += min(max_neurons, st.annotations["size"])
        ax.set_ylabel("neuron")
        ax.set_title(f"Spiking region {idx} ({block.annotations['region_label']}): raster, "
                     f"first {max_neurons} neurons per population", fontsize=10)
        ax.legend(loc="upper right", fontsize=8, markerscale=4)
    ax = axes[len(regions)]
    for idx in regions:
        for st in result.spiking[idx].segments[0].spiketrains:
            t, r = population_rate(st)
            pop = st.annotations["population"]
            ax.plot(t, r, label=f"{result.spiking[idx].annotations['region_label']} {pop}",
                    color=colours.get(pop), ls="-" if idx == regions[0] else "--")
    ax.set_ylabel("rate (Hz)")
    ax.set_title("Population rates (5 ms bins)", fontsize=10)
    ax.legend(loc="upper right", fontsize=8, ncol=2)
    ax = axes[-1]
    name = list(result.tvb.data_vars)[0]
    data = result.monitor(name)
    var = variable or str(data["variable"].values[0])
    series = data.sel(variable=var).isel(mode=0)
    time = series["time"].values
    spiking_labels = {result.spiking[i].annotations["region_label"] for i in regions}
    for label in series["region"].values:
        if str(label) not in spiking_labels:
            ax.plot(time, series.sel(region=label).values, color="0.75", lw=0.5)
    for label in sorted(spiking_labels):
        ax.plot(time, series.sel(region=label).values, lw=1.5, label=f"{label} (spiking)")
    ax.set_ylabel(var)
    ax.set_xlabel("time (ms)")
    ax.set_title(f"TVB {name} monitor: {var} of every region (grey), spiking regions in colour",
                 fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
