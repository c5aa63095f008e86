"""The figure of ``benchmarks/scaling.py``'s JSON (workload W2), written to a PNG.

Three log-log panels against the number of spiking neurons (the regions
series at 1000 neurons a region, the neurons series in one region), one colour
per simulator, solid for the regions series and dashed for the neurons
series, each labelled with its fitted growth exponent ``k``:

1. co-simulation wall time per simulated second (dotted: the network alone);
2. the loop's own work per window (ms; thin dash-dot: the same loop with no
   spiking region);
3. peak RSS above that no-region baseline (MB), or the whole peak RSS where
   a simulator has no baseline;
4. the ratio (co-simulation over network alone + TVB alone), linear, with
   each simulator's goal as a thin line: W1's ratio (its 2-region point) + 0.05
   (``scaling.ratio_goal``, computed here for a JSON written before it was reported).

Usage::

    python benchmarks/plot_scaling.py scaling.json scaling.png
"""

from __future__ import annotations

import argparse
import json
import sys

COLOURS = {"nest": "tab:blue", "brian2": "tab:orange", "neuron": "tab:green",
           "annarchy": "tab:red"}
STYLES = {"regions": ("-", "o"), "neurons": ("--", "s")}


def _k(fits, simulator, series, figure):
    k = fits.get(simulator, {}).get(series, {}).get(figure, {}).get("k")
    return "k n/a" if k is None else f"k={k:.2f}"


def draw(data, path):
    """Write the figure of ``data`` to ``path``; return the ratio goals drawn, per simulator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points, fits, baselines = data["points"], data["fits"], data.get("baselines", {})
    if not points:
        raise SystemExit("plot_scaling: the JSON has no points to draw")
    groups = {}
    for p in points:
        groups.setdefault((p["simulator"], p["series"]), []).append(p)
    fig, grid = plt.subplots(2, 2, figsize=(14, 10))
    axes = grid.ravel()
    ax_time, ax_loop, ax_rss, ax_ratio = axes
    for (simulator, series), ps in sorted(groups.items()):
        ps = sorted(ps, key=lambda p: p["spiking_neurons"])
        x = [p["spiking_neurons"] for p in ps]
        colour = COLOURS.get(simulator, "black")
        line, marker = STYLES[series]
        label = f"{simulator}, {series}"
        ax_time.plot(x, [p["cosim_s_per_simulated_s"] for p in ps], line, marker=marker,
                     color=colour,
                     label=f"{label} ({_k(fits, simulator, series, 'cosim_s_per_simulated_s')})")
        ax_time.plot(x, [p["spiking_alone_s_per_simulated_s"] for p in ps], ":", marker=marker,
                     color=colour, alpha=0.5, markerfacecolor="none")
        ax_loop.plot(x, [p["loop_ms_per_window"] for p in ps], line, marker=marker, color=colour,
                     label=f"{label} ({_k(fits, simulator, series, 'loop_ms_per_window')})")
        above = [p.get("peak_rss_above_baseline_mb") for p in ps]
        figure = "peak_rss_above_baseline_mb"
        if any(v is None for v in above):
            above, figure = [p["peak_rss_mb"] for p in ps], "peak_rss_mb"
            label += ", whole RSS (no baseline)"
        ax_rss.plot(x, above, line, marker=marker, color=colour,
                    label=f"{label} ({_k(fits, simulator, series, figure)})")
        ax_ratio.plot(x, [p["ratio"] for p in ps], line, marker=marker, color=colour,
                      label=f"{simulator}, {series}")
    goals = data.get("ratio_goal")
    if goals is None:  # a JSON written before scaling.py reported it: the same rule
        import os

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from scaling import ratio_goal

        goals = ratio_goal(points)
    for simulator, goal in goals.items():
        if goal.get("limit") is not None:
            ax_ratio.axhline(goal["limit"], color=COLOURS.get(simulator, "black"),
                             linestyle=":", linewidth=1.0,
                             label=f"{simulator}: W1's {goal['w1_ratio']:.3f} + "
                                   f"{goal['limit'] - goal['w1_ratio']:.2f} "
                                   f"({'met' if goal['met'] else 'not met'})")
    for simulator, base in baselines.items():
        if "loop_ms_per_window" in base:
            ax_loop.axhline(base["loop_ms_per_window"], color=COLOURS.get(simulator, "black"),
                            linestyle="-.", linewidth=0.8, alpha=0.7)
    titles = ("co-simulation s per simulated s\n(dotted, open: the network alone)",
              "the loop's own work per window (ms)\n(dash-dot: no spiking region)",
              "peak RSS above the no-region run (MB)",
              "ratio: co-simulation / (network alone + TVB alone)\n"
              "(dotted: the goal, at most W1's + a margin)")
    for ax, title in zip(axes, titles):
        ax.set_xscale("log")
        if ax is not ax_ratio:
            ax.set_yscale("log")
        ax.set_xlabel("spiking neurons (regions x 1000, or one region)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    intervals = ", ".join(f"{v:g}" for v in sorted({p["sync_ms"] for p in points}))
    fig.suptitle(f"W2 scaling: {data['duration_ms']:g} ms per point, interval {intervals} ms",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return goals


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="scaling.py's JSON (its --out file, or its last line)")
    parser.add_argument("png", help="the figure to write")
    args = parser.parse_args(argv)
    with open(args.json) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    draw(json.loads(lines[-1]), args.png)


if __name__ == "__main__":
    sys.exit(main())
