"""Jansen-Rit whole brain, two regions replaced by three spiking populations each.

Regions 31 and 65 of connectivity_68 (right and left superior temporal) are
replaced by a Jansen-Rit column of three IF_curr_exp populations (pyramidal
P, excitatory E and inhibitory I interneurons; thresholds at the quantiles of
JR's sigmoid, all-to-all projections whose weights give JR's C1..C4 mean
potentials).  TVB sends each region its long-range pulse density
``G sum_j w_ij S(y1_j - y2_j)`` as a current into P; the P population's pulse
density comes back through the inverse sigmoid as ``y1 - y2``.
See docs/models.md for the mapping and its transfer check.

Usage::

    python examples/jansen_rit.py --simulator nest --duration 1000 --out results

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
from pynn_multiscale.models import jansen_rit as jr  # noqa: E402


def main(argv=None):
    parser = example_parser(__doc__.splitlines()[0])
    parser.add_argument("--G", type=float, default=jr.G_DEFAULT,
                        help="global coupling (SigmoidalJansenRit's a)")
    parser.add_argument("--neurons", type=int, default=jr.N_POP, help="neurons per population")
    args = parser.parse_args(argv)

    sim = simulator_module(args.simulator)
    tvb = jr.tvb_simulator(G=args.G)
    with pm.CoSimulation(tvb, sim, spiking_regions=[31, 65],
                         build_region=functools.partial(jr.build_spiking_region, n=args.neurons),
                         to_spiking=jr.default_to_spiking(), to_tvb=jr.default_to_tvb(),
                         seed=args.seed, spiking_timestep=0.1,
                         pipeline=args.pipeline) as cosim:
        result = cosim.run(args.duration)
    finish_example(result, args)


if __name__ == "__main__":
    main()
