"""A parameter sweep of the EBRAINS use case: global coupling G x feedforward inhibition lambda x seeds.

Each point is the use case (``examples/red_wong_wang.py``: regions 31 and 65
of connectivity_68 as spiking networks of 800 E + 200 I neurons) with its
own G, lambda and seed, run in a fresh process on a local Dask cluster, one
point per core.  Running it again resumes: the points that are done are
skipped.

Usage::

    python examples/sweep_red_wong_wang.py --out sweeps/rww --G 0.5,1,2 --lamda 0,1 --seeds 3
    pynn-multiscale show sweeps/rww
    pynn-multiscale plot sweeps/rww --measure rate_hz --select population=r_superiortemporal/E

or, with the same ``point`` function, through the command line::

    pynn-multiscale sweep examples/sweep_red_wong_wang.py --grid G=0.5,1,2 --grid lamda=0,1 \\
        --seeds 3 --duration 1000 --out sweeps/rww

A point's parameters are ``G``, ``lamda`` (TVB's spelling of lambda; ``lambda``
is accepted too) and, optionally, ``n_e`` (E neurons per region, with n_e / 4
I neurons: the suite runs it at n_e = 160) and ``simulator`` (nest, brian2,
neuron or annarchy).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import pynn_multiscale as pm  # noqa: E402
from pynn_multiscale.models import red_wong_wang as rww  # noqa: E402


def point(params, seed):
    """One co-simulation of the sweep: the use case at ``params``'s G and lambda, with ``seed``."""
    from pynn_multiscale.backends import simulator_module

    unknown = set(params) - {"G", "lamda", "lambda", "n_e", "simulator"}
    if unknown:
        raise pm.ConfigurationError(
            f"params={params!r} is invalid: expected G, lamda (or lambda), n_e and simulator, "
            f"not {sorted(unknown)}. Fix: sweep only these parameters")
    G = float(params.get("G", rww.G_DEFAULT))
    lamda = float(params.get("lamda", params.get("lambda", 0.0)))
    n_e = int(params.get("n_e", 800))
    sim = simulator_module(params.get("simulator", "nest"))

    def build(sim, idx, label, rng):
        return rww.build_spiking_region(sim, idx, label, rng, n_e=n_e, n_i=n_e // 4)

    return pm.CoSimulation(rww.tvb_simulator(G=G, lamda=lamda), sim, spiking_regions=[31, 65],
                           build_region=build, to_spiking=rww.default_to_spiking(
                               G=G, lamda=lamda, n_e=n_e),
                           to_tvb=rww.default_to_tvb(), seed=seed)


def _values(text):
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the sweep's folder")
    parser.add_argument("--G", type=_values, default=[0.5, 1.0, 2.0],
                        help="global couplings, comma-separated (default 0.5,1,2)")
    parser.add_argument("--lamda", type=_values, default=[0.0, 1.0],
                        help="feedforward inhibitions, comma-separated (default 0,1)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (default 3)")
    parser.add_argument("--duration", type=float, default=1000.0, help="ms per point")
    parser.add_argument("--n-e", type=int, default=800, help="E neurons per region (default 800)")
    parser.add_argument("--workers", type=int, help="worker processes (default: the cores)")
    args = parser.parse_args(argv)
    summary = pm.sweep.run(point, grid={"G": args.G, "lamda": args.lamda, "n_e": [args.n_e]},
                           seeds=args.seeds, duration=args.duration, out=args.out,
                           workers=args.workers)
    pm.plot.sweep(summary, "rate_hz", path=os.path.join(args.out, "summary.png"))
    rates = summary["rate_hz"].mean("seed").isel(n_e=0)
    for population in rates["population"].values:
        row = ", ".join(f"G={g:g}/lamda={lam:g}: {rates.sel(population=population, G=g, lamda=lam).item():.2f}"
                        for g in args.G for lam in args.lamda)
        print(f"{population} (Hz, mean over seeds): {row}")


if __name__ == "__main__":
    main()
