"""How the co-simulation's costs grow with its spiking side (workload W2).

Two series of W1 (``benchmarks/cosim_overhead.py``: reduced Wong-Wang on
connectivity_68, Poisson proxies, sequential loop), on each simulator asked for:

* **regions**: 1, 2, 4, 8, 16 spiking regions of W1's 1000 neurons (800 E +
  200 I, ``FixedProbabilityConnector`` p 0.1), homologous pairs by label
  (:func:`cosim_overhead.homologous_regions`: 31 and 65 first);
* **neurons**: one region (31) of 1000, 4000, 16000, 64000 neurons (80% E),
  each neuron's inputs held at those of a 1000-neuron region
  (``cosim_overhead.make_cosim(fixed_inputs_of=1000)``): in-degree 100, 80
  from E and 20 from I, drawn with ``FixedNumberPreConnector``
  (``build_spiking_region(in_degree=100)``: W1's mean in-degree, p 0.1 of
  1000, without its binomial spread), the same weights, and TVB's rate scaled
  by 800 E neurons into each E neuron's Poisson input.  With W1's own
  ``FixedProbabilityConnector`` a neuron's input would grow with the region
  (6400 synapses per neuron at 64k), and so would TVB's drive (``G N_E``):
  the network would leave its low-rate regime, and the series would measure
  another network at each size.  The 1000-neuron point of this series is
  therefore not the 1-region point of the other (fixed against binomial
  in-degrees: their rates differ a little).

Each point runs as cosim_overhead runs W1, with its functions: the
co-simulation (:func:`cosim_overhead.timed_cosimulation`) and the same
network alone on the same input (:func:`cosim_overhead.spiking_alone_by_name`)
each in a fresh interpreter (:func:`cosim_overhead.in_child`), then TVB alone
(:func:`cosim_overhead.tvb_alone`) in this process, one after another (NEST
with one thread).  Per point:

* ``build_s``: building and the first window, with whatever compile cache
  there is (a network new to Brian2's or ANNarchy's cache compiles here);
* ``cosim_s`` and ``cosim_s_per_simulated_s`` (over the timed
  ``duration - sync_ms``); ``spiking_alone_s``, ``tvb_alone_s`` and
  ``ratio = cosim_s / (spiking_alone_s + tvb_alone_s)``;
* ``loop_ms_per_window``: the loop's own work (cosim_overhead's
  ``exchange_s``: scheduling, reading spikes, checks, the history rewrite,
  monitors; neither simulator's integration) over the timed windows;
* ``peak_rss_mb`` of the co-simulation's process, and
  ``peak_rss_above_baseline_mb``: minus the peak RSS of the same co-simulation
  with no spiking region on the same simulator (interpreter, TVB, the
  simulator's import and set-up, the loop: measured once per simulator, the
  ``baselines`` key), so that the exponent describes what the spiking regions
  add rather than a constant it would flatten;
* ``ratio_goal`` (per simulator, not per point): each point's ratio minus
  W1's (the 2-region point of the same run), and whether none is more than
  0.05 above it (:data:`RATIO_MARGIN`, one-sided: see there);
* ``rates_hz`` (co-simulation) and ``rates_alone_hz`` per region and
  population, and ``rates_live``: every one of both non-zero.  A silent
  network makes every figure meaningless.

Per simulator and series, ``fits`` holds the growth exponent ``k`` of each
figure (least squares of log figure on log size, ``figure ~ size**k``) and the
local exponents between neighbouring sizes (``local_k``), which show where a
fixed cost flattens the curve or a super-linear one bends it up.

Brian2 and ANNarchy compile a network before its first step.  So that no
point's ``build_s`` or peak RSS carries a compilation, an untimed build and
first window fill their caches first (:data:`WARM_UP`: on Brian2 before each
regions point, whose new regions bring new code objects, and once for the
neurons series, whose code does not depend on the size; before each point on
ANNarchy, whose code does; ``warm_up_s`` in the point; ``--no-warm-up`` skips
it).  On ANNarchy
the co-simulation with no spiking region fails to compile (an empty network),
so it has no baseline and only the whole peak RSS is fitted.

Size caps (:data:`CAPS`, ``--caps``): NEURON runs only the neurons series'
sizes its run time allows; see :data:`CAPS` for
the measurements behind each cap.  A capped point is listed under ``skipped``.

Usage::

    python benchmarks/scaling.py --json --out scaling.json
    python benchmarks/scaling.py --series neurons --sizes 1000,4000 --duration 200 --json
    python benchmarks/scaling.py --simulators nest --sizes regions=1,2 neurons=1000,2000 \\
        --duration 50 --json
    python benchmarks/plot_scaling.py scaling.json scaling.png

The last line printed is one JSON object (with ``--json``); progress goes to
stderr.  Exit status 1 if a point failed (its error is in the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cosim_overhead import (fixed_inputs, homologous_regions, in_child,  # noqa: E402
                            spiking_alone_by_name, timed_cosimulation, tvb_alone)
from pynn_multiscale.backends import SIMULATORS  # noqa: E402
from pynn_multiscale.models import red_wong_wang as rww  # noqa: E402

#: Each series' sizes: spiking regions of 1000 neurons, or neurons of one region.
SIZES = {"regions": [1, 2, 4, 8, 16], "neurons": [1000, 4000, 16000, 64000]}
#: Neurons per region in the regions series; the region size whose inputs per
#: neuron the neurons series keeps (in-degree and TVB drive, ``fixed_inputs``).
NEURONS = 1000
REFERENCE = 1000
SEED = 1

#: The largest size of each series a simulator runs by default (``--caps`` overrides).
#: NEST and Brian2 run every point.  Measured here on one core (2026-12-04, 50 ms
#: points; other work ran on the second core at times):
#:
#: * NEURON, regions series: 9.2 and 9.3 s per simulated s and 1000 neurons
#:   (1 and 2 regions), builds 2.3 and 4.0 s: 16 regions, about 2 min at 200 ms.
#: * NEURON, neurons series: the cost per neuron grows with the region (9.2,
#:   10.3, 14.9 s per simulated s and 1000 neurons at 1000, 4000, 16000; local
#:   exponent 1.26 from 4000 to 16000: NEURON's event queue, see
#:   ``neuron_event_queue.py``).  The 16000-neuron point took 96 s at
#:   50 ms (builds 32 s each), about 3 min at 200 ms; a 64000-neuron one would
#:   take about 13-16 min at 200 ms (two runs of 4-5 min, two builds of 2-4),
#:   longer than NEST's whole neurons series: capped at 16000.
#: * ANNarchy, regions series: compiling takes longer with more populations
#:   (warm-up 25 s for 1 region, 54 s for 4), runs are short: 16 regions, about
#:   3-4 min at 200 ms.
#: * ANNarchy, neurons series: the adapter's ``FixedNumberPreConnector`` keeps
#:   every post-synaptic neuron's whole permutation of the candidates alive
#:   until it concatenates them (a slice is a view of it), so building needs
#:   memory in n_pre x n_post: peak RSS 0.45 GB at 4000 neurons, 1.75 GB at
#:   16000, and the 64000-neuron build passed 20 GB within 100 s (stopped).
#:   The adapter now copies the slice (12800 neurons x 80 inputs: 1284.9 MB
#:   before, 41.4 MB after).  Measured on 2026-12-05 at 200 ms, two repeats:
#:   the 64000-neuron point took 318 s and a 72 s warm-up, peak RSS 1.5 GB, so
#:   ANNarchy runs every point.
CAPS = {"neuron": {"neurons": 16000}}

#: Simulators that compile a network before its first step, and which networks
#: their cache keeps, per series: Brian2's code objects do not depend on the
#: sizes, but are named per object, so one warm-up (one region) covers the
#: neurons series while each regions point compiles its new regions' objects
#: (129, 262, 510 and 1034 s of build_s at 2, 4, 8 and 16 regions, measured
#: when it warmed up once); ANNarchy's code depends on the sizes.  ``"each"``:
#: a warm-up before every point; ``"first"``: before the simulator's first point.
#: Without a warm-up, a point that compiles carries the compilation in its
#: ``build_s`` (Brian2: 107 s for a first 1000-neuron region here) and, on
#: Brian2 (Cython compiles in-process), in its peak RSS too (638 MB at 1000
#: neurons against 429 MB at 4000 once cached; 332.9 MB above the baseline at 4
#: regions compiled in the point, 57.6 MB cached).
WARM_UP = {"brian2": {"regions": "each", "neurons": "first"},
           "annarchy": {"regions": "each", "neurons": "each"}}

#: The ratio goal: no point's ratio more than ``RATIO_MARGIN`` above W1's, the
#: regions series' ``W1_POINT`` (two regions of 1000 neurons: W1 itself) of the
#: same run and simulator.  One-sided: a point below W1's costs less than W1
#: over its parts (the loop's fixed costs weigh less on a bigger network), which
#: is not a defect; such points are listed under ``below_band``.
RATIO_MARGIN = 0.05
W1_POINT = ("regions", 2)

#: The figures fitted per simulator and series.
FITTED = ("cosim_s_per_simulated_s", "spiking_alone_s_per_simulated_s", "loop_ms_per_window",
          "peak_rss_above_baseline_mb", "peak_rss_mb", "build_s")


def point_setup(series, size):
    """``(regions, neurons per region, fixed_inputs_of)`` of one point."""
    if series == "regions":
        return homologous_regions(size), NEURONS, None
    return homologous_regions(1), size, REFERENCE


def run_point(simulator, series, size, duration, seed, repeats=1):
    """One point: co-simulation and network alone in fresh interpreters, then TVB alone here.

    With ``repeats`` > 1 the three runs are repeated and the least time of
    each is kept (as ``cosim_overhead.py --repeats``); the loop's figures and
    the rates are those of the fastest co-simulation, the peak RSS the largest,
    and ``runs_s`` lists every time.
    """
    regions, neurons, fixed = point_setup(series, size)
    n_e = int(round(0.8 * neurons))
    start = time.perf_counter()
    runs, alones, tvbs = [], [], []
    for _ in range(repeats):  # main() refuses fewer than 1
        run = in_child(timed_cosimulation, simulator, regions, neurons, seed, "poisson", "tvb",
                       duration, False, None, False, None, "red_wong_wang", None, fixed)
        alones.append(in_child(spiking_alone_by_name, simulator, regions, run["build"], seed,
                               run["dt"], run["min_delay"], run["max_delay"], run["sync_ms"],
                               duration, run["log"], None))
        tvbs.append(tvb_alone(rww, seed, len(regions), run["sync_ms"], duration))
        runs.append(run)
    peak_rss = max(r["peak_rss_mb"] for r in runs)
    run = min(runs, key=lambda r: r["cosim_s"])
    alone_s, rates_alone = min(alones, key=lambda a: a[0])
    tvb_s = min(tvbs)
    timed_s = (duration - run["sync_ms"]) / 1000.0
    windows = len(run["log"]["windows"]) - 1  # the first, untimed window is in build_s
    rates = {f"{idx}/{pop}": round(v, 3) for (idx, pop), v in run["rates"].items()}
    alone = {f"{idx}/{pop}": round(v, 3) for (idx, pop), v in rates_alone.items()}
    return {
        "simulator": simulator, "series": series, "size": size,
        "n_spiking_regions": len(regions), "neurons_per_region": neurons,
        "spiking_neurons": len(regions) * neurons,
        "in_degree": (f"p_connect {rww.NETWORK_PARAMS['p_connect']}" if fixed is None
                      else rww.in_degrees(fixed_inputs(fixed)[0], n_e, neurons - n_e)),
        "duration_ms": duration, "sync_ms": round(run["sync_ms"], 6), "timed_windows": windows,
        "min_delay_ms": run["min_delay"], "nest_min_delay_ms": run["nest_min_delay"],
        "build_s": round(run["build_s"], 3),
        "cosim_s": round(run["cosim_s"], 3),
        "cosim_s_per_simulated_s": round(run["cosim_s"] / timed_s, 3),
        "spiking_alone_s": round(alone_s, 3),
        "spiking_alone_s_per_simulated_s": round(alone_s / timed_s, 3),
        "tvb_alone_s": round(tvb_s, 3),
        "ratio": round(run["cosim_s"] / (alone_s + tvb_s), 4),
        "tvb_in_loop_s": round(run["tvb_in_loop_s"], 3),
        "exchange_s": round(run["exchange_s"], 3),
        "loop_ms_per_window": round(1000.0 * run["exchange_s"] / windows, 4),
        "peak_rss_mb": peak_rss,
        "repeats": len(runs),
        "runs_s": {"cosim": [round(r["cosim_s"], 3) for r in runs],
                   "spiking_alone": [round(a, 3) for a, _ in alones],
                   "tvb_alone": [round(t, 3) for t in tvbs]},
        "rates_hz": rates, "rates_alone_hz": alone,
        "rates_live": bool(rates) and all(v > 0 for v in [*rates.values(), *alone.values()]),
        "point_wall_s": round(time.perf_counter() - start, 1),
    }


def warm_up(simulator, series, size, seed):
    """Build a point's network and run its first window, untimed: its compilation is cached."""
    regions, neurons, fixed = point_setup(series, size)
    start = time.perf_counter()
    in_child(timed_cosimulation, simulator, regions, neurons, seed, "poisson", "tvb", 0.0, False,
             None, False, None, "red_wong_wang", None, fixed)
    return round(time.perf_counter() - start, 1)


def baseline(simulator, duration, seed, sync_ms, min_delay):
    """The same co-simulation with no spiking region: what every point holds before its regions."""
    run = in_child(timed_cosimulation, simulator, [], NEURONS, seed, "poisson", "tvb", duration,
                   False, min_delay, False, sync_ms)
    windows = len(run["log"]["windows"]) - 1
    timed_s = (duration - run["sync_ms"]) / 1000.0
    return {"peak_rss_mb": run["peak_rss_mb"], "sync_ms": round(run["sync_ms"], 6),
            "cosim_s_per_simulated_s": round(run["cosim_s"] / timed_s, 3),
            "loop_ms_per_window": round(1000.0 * run["exchange_s"] / windows, 4)}


def growth(sizes, values, missing="fewer than two points"):
    """``k`` of ``values ~ sizes**k`` (least squares in log-log) and the neighbours' exponents."""
    pairs = sorted((s, v) for s, v in zip(sizes, values) if v is not None)
    if len(pairs) < 2:
        return {"k": None, "why": missing, "sizes": [s for s, _ in pairs]}
    if any(v <= 0 for _, v in pairs):
        return {"k": None, "why": "a value <= 0 has no logarithm", "sizes": [s for s, _ in pairs]}
    x, y = np.log([s for s, _ in pairs]), np.log([v for _, v in pairs])
    k = float(np.polyfit(x, y, 1)[0])
    local = [round(float((y[i + 1] - y[i]) / (x[i + 1] - x[i])), 3) for i in range(len(x) - 1)]
    return {"k": round(k, 3), "local_k": local, "sizes": [s for s, _ in pairs]}


def fits(points, baselines):
    """Per simulator and series, :func:`growth` of each of :data:`FITTED`."""
    out = {}
    for p in points:
        out.setdefault(p["simulator"], {}).setdefault(p["series"], []).append(p)

    def missing(sim, name):
        error = baselines.get(sim, {}).get("error")
        if name == "peak_rss_above_baseline_mb" and error:
            return f"no baseline on {sim} (its run with no spiking region failed: {error})"
        return "fewer than two points"

    return {sim: {series: {name: growth([p["size"] for p in ps], [p.get(name) for p in ps],
                                        missing(sim, name))
                           for name in FITTED}
                  for series, ps in by_series.items()}
            for sim, by_series in out.items()}


def ratio_goal(points):
    """Per simulator, every point's ratio against W1's point of the same run (:data:`RATIO_MARGIN`).

    ``met`` is None when the run has no W1 point to compare with.
    """
    out = {}
    for sim in dict.fromkeys(p["simulator"] for p in points):
        ps = [p for p in points if p["simulator"] == sim]
        w1 = [p for p in ps if (p["series"], p["size"]) == W1_POINT]
        if not w1:
            out[sim] = {"w1_ratio": None, "met": None,
                        "why": f"no {W1_POINT[0]}={W1_POINT[1]} point (W1) in this run"}
            continue
        ref = w1[0]["ratio"]
        above = {f"{p['series']}={p['size']}": round(p["ratio"] - ref, 4) for p in ps}
        worst = max(above, key=above.get)
        out[sim] = {"w1_ratio": ref, "limit": round(ref + RATIO_MARGIN, 4),
                    "above_w1": above, "largest_excess": {"point": worst, "by": above[worst]},
                    "met": all(v <= RATIO_MARGIN + 1e-9 for v in above.values()),
                    "below_band": sorted(k for k, v in above.items() if v < -RATIO_MARGIN)}
    return out


def parse_sizes(items, series):
    """``--sizes``: ``regions=1,2 neurons=1000,2000``, or a bare list for a single series."""
    sizes = {name: list(SIZES[name]) for name in series}
    for item in items or []:
        name, _, values = item.rpartition("=")
        if not name:
            if len(series) != 1:
                raise SystemExit(f"--sizes {item}: with two series, say which: "
                                 f"regions={item} or neurons={item}")
            name = series[0]
        if name not in series:
            raise SystemExit(f"--sizes {item}: {name!r} is not a series being run ({series})")
        try:
            sizes[name] = sorted({int(v) for v in values.split(",") if v})
        except ValueError:
            raise SystemExit(f"--sizes {item}: expected whole numbers, e.g. {name}=1,2,4")
        if not sizes[name] or min(sizes[name]) < 1:
            raise SystemExit(f"--sizes {item}: expected sizes >= 1")
    if "regions" in sizes and max(sizes["regions"]) > 68:
        raise SystemExit("--sizes: at most 68 regions (connectivity_68)")
    if "neurons" in sizes:
        for n in sizes["neurons"]:
            n_e = int(round(0.8 * n))
            try:
                rww.in_degrees(fixed_inputs(REFERENCE)[0], n_e, n - n_e)
            except ValueError as exc:
                raise SystemExit(f"--sizes neurons={n}: {exc}")
    return sizes


def parse_caps(items):
    """``--caps``: ``neuron:regions=4 annarchy:neurons=16000``, or ``none``."""
    caps = {sim: dict(c) for sim, c in CAPS.items()}
    for item in items or []:
        if item == "none":
            caps = {}
            continue
        try:
            sim, rest = item.split(":")
            series, value = rest.split("=")
            caps.setdefault(sim, {})[series] = int(value)
        except ValueError:
            raise SystemExit(f"--caps {item}: expected SIMULATOR:SERIES=MAX (neuron:regions=4) "
                             f"or none")
        if sim not in SIMULATORS or series not in SIZES:
            raise SystemExit(f"--caps {item}: simulators {sorted(SIMULATORS)}, "
                             f"series {sorted(SIZES)}")
    return caps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulators", default="nest,brian2",
                        help=f"comma-separated, of {sorted(SIMULATORS)} (default nest,brian2)")
    parser.add_argument("--series", default="both", choices=["regions", "neurons", "both"])
    parser.add_argument("--sizes", nargs="+", metavar="SERIES=N,N",
                        help="override the sizes: regions=1,2,4 neurons=1000,4000 (a bare list "
                             "with a single --series); defaults " + json.dumps(SIZES))
    parser.add_argument("--duration", type=float, default=1000.0,
                        help="ms simulated per point (default 1000; the first window is "
                             "untimed)")
    parser.add_argument("--caps", nargs="+", metavar="SIM:SERIES=MAX",
                        help=f"the largest size per simulator and series (default "
                             f"{json.dumps(CAPS)}); 'none' runs every size everywhere")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                        help="skip the untimed build and first window that fill Brian2's "
                             "and ANNarchy's compile caches before their points (WARM_UP)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per point; the least time of each is kept (default 1)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", action="store_true", help="print one JSON object, last")
    parser.add_argument("--out", help="write the JSON object to this file too")
    args = parser.parse_args(argv)

    simulators = [s.strip() for s in args.simulators.split(",") if s.strip()]
    unknown = [s for s in simulators if s not in SIMULATORS]
    if unknown or not simulators:
        parser.error(f"--simulators {args.simulators}: expected names of {sorted(SIMULATORS)}")
    series = ["regions", "neurons"] if args.series == "both" else [args.series]
    sizes = parse_sizes(args.sizes, series)
    caps = parse_caps(args.caps)
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: expected a whole number >= 1")
    if args.duration < 10.0:
        parser.error(f"--duration {args.duration}: at least 10 ms (a few windows of 2.6 ms)")

    def save(out):
        """``--out`` after every point (temporary file, then rename): a stopped run keeps its
        points, marked ``"complete": false``."""
        if args.out:
            temporary = f"{args.out}.tmp"
            with open(temporary, "w") as f:
                f.write(json.dumps(out) + "\n")
            os.replace(temporary, args.out)

    started = time.perf_counter()
    points, skipped, failed, baselines = [], [], [], {}
    for simulator in simulators:
        for name in series:
            warm = WARM_UP.get(simulator, {}).get(name) if args.warm_up else None
            for size in sizes[name]:
                cap = caps.get(simulator, {}).get(name)
                if cap is not None and size > cap:
                    skipped.append({"simulator": simulator, "series": name, "size": size,
                                    "why": f"above the cap {simulator}:{name}={cap}"})
                    print(f"[scaling] {simulator} {name}={size}: skipped, above the cap {cap} "
                          f"(--caps {simulator}:{name}=N overrides)", file=sys.stderr)
                    continue
                print(f"[scaling] {simulator} {name}={size} ...", file=sys.stderr, flush=True)
                try:
                    warm_s = None
                    if warm == "each" or (warm == "first" and not any(
                            p["simulator"] == simulator for p in points)):
                        warm_s = warm_up(simulator, name, size, args.seed)
                        print(f"[scaling] {simulator} {name}={size}: warm-up (untimed build and "
                              f"first window) {warm_s} s", file=sys.stderr, flush=True)
                    point = run_point(simulator, name, size, args.duration, args.seed,
                                      args.repeats)
                    point["warm_up_s"] = warm_s
                except Exception as exc:  # a point that fails is reported, the others still run
                    failed.append({"simulator": simulator, "series": name, "size": size,
                                   "error": f"{type(exc).__name__}: {exc}"})
                    print(f"[scaling] {simulator} {name}={size} failed: {exc}", file=sys.stderr)
                    continue
                points.append(point)
                print(f"[scaling] {simulator} {name}={size}: cosim {point['cosim_s']} s, "
                      f"ratio {point['ratio']}, loop {point['loop_ms_per_window']} ms/window, "
                      f"RSS {point['peak_rss_mb']} MB, {point['point_wall_s']} s wall",
                      file=sys.stderr, flush=True)
                if simulator not in baselines:
                    try:
                        baselines[simulator] = baseline(simulator, args.duration, args.seed,
                                                        point["sync_ms"],
                                                        point["min_delay_ms"])
                    except Exception as exc:
                        baselines[simulator] = {"error": f"{type(exc).__name__}: {exc}"}
                save(report(args, simulators, series, sizes, caps, points, skipped, failed,
                            baselines, started, complete=False))
    out = report(args, simulators, series, sizes, caps, points, skipped, failed, baselines,
                 started, complete=True)
    text = json.dumps(out)
    save(out)
    if args.json:
        print(text)
    else:
        for p in points:
            print(f"{p['simulator']:>8} {p['series']:>7}={p['size']:<6} "
                  f"cosim/s {p['cosim_s_per_simulated_s']:>9} ratio {p['ratio']:>7} "
                  f"loop {p['loop_ms_per_window']:>7} ms/win RSS {p['peak_rss_mb']:>7} MB")
        for sim, by_series in out["fits"].items():
            for name, figures in by_series.items():
                print(f"{sim:>8} {name:>7}: " + ", ".join(
                    f"k({f})={v['k']}" for f, v in figures.items()))
        for sim, goal in out["ratio_goal"].items():
            if goal["w1_ratio"] is None:
                print(f"{sim:>8} ratio goal: {goal['why']}")
            else:
                print(f"{sim:>8} ratio goal (at most W1's {goal['w1_ratio']} + {RATIO_MARGIN}): "
                      f"{'met' if goal['met'] else 'not met'}, largest excess "
                      f"{goal['largest_excess']['by']:+} at {goal['largest_excess']['point']}")
    return 1 if failed else 0


def report(args, simulators, series, sizes, caps, points, skipped, failed, baselines, started,
           complete):
    """The JSON object: every point so far, the fits, and whether every point has run."""
    import copy

    from pynn_multiscale.backends.brian2 import TARGET_ENV

    points = copy.deepcopy(points)
    for p in points:
        base = baselines.get(p["simulator"], {}).get("peak_rss_mb")
        p["peak_rss_above_baseline_mb"] = (None if base is None
                                           else round(p["peak_rss_mb"] - base, 1))
    return {
        "workload": "W2",
        "duration_ms": args.duration,
        "repeats": args.repeats,
        "seed": args.seed,
        "simulators": simulators,
        "series": series,
        "sizes": sizes,
        "caps": caps,
        "neurons_per_region_in_regions_series": NEURONS,
        "neurons_series_inputs_of": REFERENCE,
        "brian2_target": os.environ.get(TARGET_ENV) or "Brian2's default (cython)",
        "warm_up": {s: WARM_UP.get(s) if args.warm_up else None for s in simulators},
        "baselines": baselines,
        "points": points,
        "fits": fits(points, baselines),
        "ratio_goal": ratio_goal(points),
        "skipped": skipped,
        "failed": failed,
        "complete": complete,
        "wall_s": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    sys.exit(main())
