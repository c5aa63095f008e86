"""A tour of the proxies: each interface kind on the use-case network, and what it delivers.

For every TVB -> spiking kind, W1 (regions 31 and 65 spiking) runs briefly
and the figure shows, for region 31, what the proxy delivered to each E
neuron (the input rate or current TVB sent) next to the E population's rate.
For the spiking -> TVB kinds, it shows the value TVB received in ``Rin_e``.

Usage::

    python examples/proxies_tour.py --simulator nest --duration 100 --out results/tour
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import pynn_multiscale as pm  # noqa: E402
from pynn_multiscale.backends import SIMULATORS, simulator_module  # noqa: E402
from pynn_multiscale.models import red_wong_wang as rww  # noqa: E402
from pynn_multiscale.plot import population_rate  # noqa: E402

REGION = 31


def to_spiking_kinds():
    p = rww.NETWORK_PARAMS
    rate = dict(weight=rww.G_DEFAULT * rww.N_E, synapse_weight=p["w_ee"], delay=p["delay"])
    scale = rww.current_scale()
    return {
        "RateToPoisson (independent)": [pm.proxies.RateToPoisson("R_e", "E", **rate)],
        "RateToPoisson (10% shared)": [pm.proxies.RateToPoisson("R_e", "E", shared_fraction=0.1,
                                                                **rate)],
        "ElephantTrains (Poisson)": [pm.proxies.ElephantTrains("R_e", "E", **rate)],
        "ElephantTrains (SIP, c=0.1)": [pm.proxies.ElephantTrains("R_e", "E", process="sip",
                                                                  correlation=0.1, **rate)],
        "ElephantTrains (MIP, c=0.1)": [pm.proxies.ElephantTrains("R_e", "E", process="mip",
                                                                  correlation=0.1, **rate)],
        "CurrentFromCoupling (dc)": [pm.proxies.CurrentFromCoupling("S_e", "E", weight=scale,
                                                                    delay=p["delay"])],
        "OffsetFromCoupling (I_e)": [pm.proxies.OffsetFromCoupling("S_e", "E", weight=scale)],
    }


def to_tvb_kinds():
    return {
        "SpikeRate (raw histogram)": [pm.proxies.SpikeRate("E", "Rin_e"),
                                      pm.proxies.SpikeRate("I", "Rin_i")],
        "SpikeRate (tau = 5 ms)": [pm.proxies.SpikeRate("E", "Rin_e", tau=5.0),
                                   pm.proxies.SpikeRate("I", "Rin_i", tau=5.0)],
        "InstantaneousRate (exp. kernel, 5 ms)": [pm.proxies.InstantaneousRate("E", "Rin_e"),
                                                  pm.proxies.InstantaneousRate("I", "Rin_i")],
    }


def run(simulator, *args, **kwargs):
    """:func:`run_here` in a fresh interpreter.

    Each kind gets its own process: PyNN never frees a NEURON network, so in
    one process every later run would integrate all the earlier ones' cells.
    """
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(run_here, (simulator,) + args, kwargs)


def run_here(simulator, duration, seed, to_spiking, to_tvb, tau_rin=10.0, regions=(31, 65)):
    """One short W1 run; returns the result and what the proxies sent to region 31.

    ``regions`` are the spiking regions (region 31 must be one of them).
    """
    sim = simulator_module(simulator)
    sent = []
    tvb = rww.tvb_simulator(tau_rin=tau_rin)
    kind = to_spiking[0].capability
    min_delay = rww.NETWORK_PARAMS["delay"] if kind == "offset_current" else None
    with pm.CoSimulation(tvb, sim, spiking_regions=list(regions),
                         build_region=rww.build_spiking_region,
                         to_spiking=to_spiking, to_tvb=to_tvb, seed=seed,
                         min_delay=min_delay) as cosim:
        backend = cosim.backend
        first = cosim.bindings[0][0].handles[0]  # region 31's source of the first proxy
        for name in ("set_rates", "set_currents", "set_offset", "set_trains"):
            original = getattr(backend, name)

            def logged(handle, *args, original=original, name=name):
                if handle is first:
                    sent.append((name, cosim.engine.time, args))
                return original(handle, *args)

            setattr(backend, name, logged)
        result = cosim.run(duration)
    return result, sent


def delivered(sent, dt, n_neurons, duration):
    """Per-neuron input of region 31 at every TVB step: (times, values, unit)."""
    steps = int(round(duration / dt))
    values = np.zeros(steps)
    unit = ""
    starts = [t0 for _, t0, _ in sent] + [duration]
    for (name, t0, args), end in zip(sent, starts[1:]):
        a, b = int(round(t0 / dt)), int(round(end / dt))
        if name == "set_rates":
            values[a:b] = args[2][:b - a]
            unit = "input rate per neuron (Hz)"
        elif name == "set_currents":
            values[a:b] = 1000.0 * np.asarray(args[2][:b - a])
            unit = "injected current (pA)"
        elif name == "set_trains":
            spikes = np.concatenate([np.asarray(t) for t in args[0]])
            counts = np.bincount(np.ceil(spikes / dt - 1e-6).astype(int) - 1, minlength=steps)
            values[a:b] = counts[a:b] * 1000.0 / (dt * n_neurons)
            unit = "input rate per neuron (Hz)"
        else:
            values[a:b] = 1000.0 * args[0]
            unit = "offset current (pA)"
    return dt * np.arange(1, steps + 1), values, unit


def tour(simulator, duration, seed, runner=run, regions=(31, 65)):
    """Run every kind and draw the tour's figure; returns ``(figure, summary lines)``.

    ``runner`` is :func:`run` (each kind in a fresh process: needed on
    NEURON) or :func:`run_here` (in this process: enough on NEST and Brian2).
    """
    import matplotlib.pyplot as plt

    kinds = to_spiking_kinds()
    fig, axes = plt.subplots(len(kinds) + 1, 2, figsize=(12, 2.2 * (len(kinds) + 1)),
                             constrained_layout=True)
    summary = []
    for row, (label, proxies) in enumerate(kinds.items()):
        try:
            result, sent = runner(simulator, duration, seed, proxies, rww.default_to_tvb(),
                                  regions=regions)
        except pm.CapabilityError as exc:  # this backend lacks the kind: say so in the figure
            for ax in axes[row]:
                ax.axis("off")
            axes[row, 0].set_title(f"{label}: not available on {simulator}", fontsize=9)
            summary.append(f"{label}: not available on {simulator} ({exc})")
            continue
        t, v, unit = delivered(sent, 0.1, rww.N_E, duration)
        axes[row, 0].plot(t, v, lw=0.8)
        axes[row, 0].set_ylabel(unit, fontsize=8)
        axes[row, 0].set_title(f"{label}: what region {REGION}'s E neurons receive", fontsize=9)
        (st,) = [s for s in result.spiking[REGION].segments[0].spiketrains
                 if s.annotations["population"] == "E"]
        tr, rate = population_rate(st)
        axes[row, 1].plot(tr, rate, color="tab:red", lw=0.8)
        axes[row, 1].set_ylabel("E rate (Hz)", fontsize=8)
        mean = 1000.0 * len(st) / (st.annotations["size"] * duration)
        axes[row, 1].set_title(f"{label}: E population rate (5 ms bins), mean {mean:.2f} Hz",
                               fontsize=9)
        summary.append(f"{label}: mean input {v.mean():.3g} {unit.split('(')[-1].rstrip(')')}, "
                       f"E rate {mean:.2f} Hz")
    ax = axes[-1, 0]
    for label, proxies in to_tvb_kinds().items():
        result, _ = runner(simulator, duration, seed, rww.default_to_spiking(), proxies,
                           tau_rin=0.0, regions=regions)
        rin = result.monitor("Raw").sel(variable="Rin_e", region=result.spiking[REGION]
                                        .annotations["region_label"]).isel(mode=0)
        ax.plot(rin["time"], rin, lw=0.8, label=label)
        summary.append(f"{label}: mean Rin_e {float(rin.mean()):.2f} Hz")
    ax.set_ylabel("Rin_e received (Hz)", fontsize=8)
    ax.set_xlabel("time (ms)")
    ax.set_title(f"Spiking -> TVB: what region {REGION}'s Rin_e receives (model filter off)",
                 fontsize=9)
    ax.legend(fontsize=7)
    axes[-1, 1].axis("off")
    axes[-2, 1].set_xlabel("time (ms)")
    return fig, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", default="nest", choices=sorted(SIMULATORS))
    parser.add_argument("--duration", type=float, default=100.0, help="ms per run (default 100)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    import matplotlib

    matplotlib.use("Agg")
    fig, summary = tour(args.simulator, args.duration, args.seed)
    path = os.path.join(args.out, "proxies_tour.png")
    fig.savefig(path, dpi=90)
    print("\n".join(summary))
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
