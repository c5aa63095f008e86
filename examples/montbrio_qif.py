"""Montbrió-Pazó-Roxin whole brain, two regions replaced by networks of QIF neurons.

Regions 31 and 65 of connectivity_68 (right and left superior temporal) are
replaced by 1000 quadratic integrate-and-fire neurons each (PyNN's Izhikevich
cell with a = b = d = 0), whose excitabilities are the Lorentzian quantiles of
the mean field's eta and Delta: the network whose exact mean field TVB
integrates in the other regions.  TVB sends each region its input
``G tau sum_j w_ij r_j`` as a current; the network's rate comes back as ``r``.
See docs/models.md for the mapping and its transfer check.

Usage::

    python examples/montbrio_qif.py --simulator nest --duration 1000 --out results

``--simulator`` is nest, brian2, neuron or annarchy (this package's PyNN adapter).

It writes ``--out``: ``tvb.nc`` (xarray), ``spiking_region_<i>.nix`` (neo),
``metadata.json`` and ``summary.png``, and prints the mean rate of every
spiking population on one line.
"""

from __future__ import annotations

import functools
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import pynn_multiscale as pm  # noqa: E402
from pynn_multiscale.backends import simulator_module  # noqa: E402
from pynn_multiscale.cli import example_parser, finish_example  # noqa: E402
from pynn_multiscale.models import montbrio_qif as mpr  # noqa: E402


def main(argv=None):
    parser = example_parser(__doc__.splitlines()[0])
    parser.add_argument("--G", type=float, default=mpr.G_DEFAULT,
                        help="global coupling, in units of J")
    parser.add_argument("--neurons", type=int, default=1000, help="QIF neurons per region")
    args = parser.parse_args(argv)

    sim = simulator_module(args.simulator)
    tvb = mpr.tvb_simulator(G=args.G)
    with pm.CoSimulation(tvb, sim, spiking_regions=[31, 65],
                         build_region=functools.partial(mpr.build_spiking_region, n=args.neurons),
                         to_spiking=mpr.default_to_spiking(), to_tvb=mpr.default_to_tvb(),
                         seed=args.seed, spiking_timestep=0.05, pipeline=args.pipeline) as cosim:
        result = cosim.run(args.duration)
    finish_example(result, args)

if __name__ == "__main__":
    main()
