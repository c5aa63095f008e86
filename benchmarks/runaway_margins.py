"""How far the model library's populations stay below the runaway check, in their documented regimes.

Each scenario runs in a fresh process with the runaway check replaced by a
recorder: every window's spike count per population is kept, and the
scenario reports, per population, the highest rate over one window (what
the check compared with ``max_rate`` before it averaged over
``max_rate_span``) and the highest mean over any ``max_rate_span`` ms (what
it compares now), both in Hz, with the time at which each was reached.

Scenarios: ``example:NAME`` runs ``examples/NAME.py`` as documented (default
arguments, ``--duration``); ``transfer:NAME`` runs the pair's transfer check
at the levels of ``tests/test_NAME.py`` (one seed), the most strongly driven
regime the library documents.

Usage::

    python benchmarks/runaway_margins.py --json [--span 50] [--duration 1000] [SCENARIO ...]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")

EXAMPLES = ["red_wong_wang", "red_wong_wang_deco2014", "wilson_cowan", "jansen_rit",
            "montbrio_qif", "adex"]
TRANSFERS = ["red_wong_wang", "wilson_cowan", "montbrio_qif"]
SCENARIOS = [f"example:{name}" for name in EXAMPLES] + [f"transfer:{name}" for name in TRANSFERS]


def _recorder(store, span_ms):
    """A stand-in for ``cosim._check_runaway`` that keeps the highest rates instead."""
    import numpy as np

    from pynn_multiscale import cosim as cosim_module

    tracks = {}

    def record(cosim, window_spikes, t0, n_steps):
        if not window_spikes:
            return
        key = id(cosim)
        if key not in tracks:
            keys = list(window_spikes)
            sizes = [cosim.regions[cosim.spiking_regions[slot]].populations[name].size
                     for slot, name in keys]
            tracks[key] = cosim_module._RateSpan(keys, sizes,
                                                 int(math.ceil(span_ms / cosim.dt - 1e-9)))
        track = tracks[key]
        counts = np.array([len(window_spikes[k]) for k in track.keys], dtype=np.int64)
        window = 1000.0 * counts / (track.sizes * n_steps * cosim.dt)
        covered = track.add(int(round(t0 / cosim.dt)), n_steps, counts)
        span = 1000.0 * track.counts / (track.sizes * track.steps * cosim.dt)
        for j, (slot, name) in enumerate(track.keys):
            entry = store.setdefault(f"region {cosim.spiking_regions[slot]} {name}", {
                "window_hz": 0.0, "window_at_ms": None, "span_hz": 0.0, "span_at_ms": None})
            if window[j] > entry["window_hz"]:
                entry["window_hz"], entry["window_at_ms"] = float(window[j]), float(t0)
            if covered and span[j] > entry["span_hz"]:
                entry["span_hz"] = float(span[j])
                entry["span_at_ms"] = float(t0 + n_steps * cosim.dt)

    return record


def _transfer(name):
    """The pair's transfer check as its test runs it, one seed: (callable, its description)."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import pyNN.nest as sim

    from pynn_multiscale.models import transfer

    if name == "red_wong_wang":
        from pynn_multiscale.models import red_wong_wang as m
        import test_red_wong_wang_transfer as t

        return functools.partial(
            transfer.spiking_transfer, sim, functools.partial(m.tvb_simulator, nsig=0.0),
            m.build_spiking_region, m.default_to_spiking(G=1.0), m.default_to_tvb(), t.LEVELS,
            "Rin_e", t.DURATION, t.TRANSIENT, (1,), couple=m.long_range_input), t.LEVELS
    if name == "wilson_cowan":
        from pynn_multiscale.models import wilson_cowan as m
        import test_wilson_cowan as t

        return functools.partial(
            transfer.spiking_transfer, sim, m.tvb_simulator, m.build_spiking_region,
            m.default_to_spiking(), m.default_to_tvb(), t.LEVELS, "E", t.DURATION, t.TRANSIENT,
            (1,)), t.LEVELS
    if name == "montbrio_qif":
        from pynn_multiscale.models import montbrio_qif as m
        import test_montbrio_qif as t

        build = functools.partial(m.build_spiking_region, n=t.N)
        return functools.partial(
            transfer.spiking_transfer, sim, m.tvb_simulator, build, m.default_to_spiking(),
            m.default_to_tvb(), t.LEVELS, "r", t.DURATION, t.TRANSIENT, (1,),
            spiking_timestep=0.05), t.LEVELS
    raise SystemExit(f"no transfer scenario {name}")


def child(scenario, span_ms, duration):
    sys.path.insert(0, ROOT)
    import numpy as np

    from pynn_multiscale import cosim as cosim_module

    store = {}
    cosim_module._check_runaway = _recorder(store, span_ms)
    kind, name = scenario.split(":")
    described = {}
    if kind == "example":
        sys.path.insert(0, os.path.join(ROOT, "examples"))
        example = __import__(name)
        with tempfile.TemporaryDirectory() as out:
            example.main(["--duration", str(duration), "--out", out])
        described["duration_ms"] = duration
    else:
        run, levels = _transfer(name)
        run(progress=False, max_rate=np.inf)
        described["levels"] = list(levels)
    print(json.dumps({"scenario": scenario, "max_rate_span_ms": span_ms, **described,
                      "populations": store}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=SCENARIOS,
                        help=f"default: all ({', '.join(SCENARIOS)})")
    parser.add_argument("--span", type=float, default=50.0, help="max_rate_span (ms)")
    parser.add_argument("--duration", type=float, default=1000.0, help="ms per example")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.span, args.duration)
        return
    for scenario in args.scenarios:
        proc = subprocess.run([sys.executable, __file__, "--child", scenario, "--span",
                               str(args.span), "--duration", str(args.duration)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(json.dumps({"scenario": scenario, "error": proc.stderr[-1500:]}), flush=True)
            continue
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(out) if args.json else json.dumps(out, indent=2), flush=True)


if __name__ == "__main__":
    main()
