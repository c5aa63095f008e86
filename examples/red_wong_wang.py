"""The EBRAINS use case (workload W1): reduced Wong-Wang whole brain, two spiking regions.

Regions 31 and 65 of connectivity_68 (right and left superior temporal) are
replaced by spiking networks of 800 E + 200 I IF_cond_alpha neurons.  TVB
sends each of them its delayed, weighted excitatory rate as Poisson input;
their E and I rates come back into TVB as Rin_e and Rin_i.

Usage::

    python examples/red_wong_wang.py --simulator nest --duration 1000 --out results

``--simulator`` is nest, brian2, neuron or annarchy (this package's PyNN adapter).

It writes ``--out``: ``tvb.nc`` (xarray), ``spiking_region_<i>.nix`` (neo),
``metadata.json`` and ``summary.png``, and prints the mean rate of every
spiking population on one line.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import pynn_multiscale as pm  # noqa: E402
from pynn_multiscale.backends import simulator_module  # noqa: E402
from pynn_multiscale.cli import example_parser, finish_example  # noqa: E402
from pynn_multiscale.models import red_wong_wang as rww  # noqa: E402



def main(argv=None):
    parser = example_parser(__doc__.splitlines()[0])
    parser.add_argument("--G", type=float, default=rww.G_DEFAULT, help="global coupling")
    parser.add_argument("--lamda", type=float, default=0.0, help="feedforward inhibition")
    args = parser.parse_args(argv)

    sim = simulator_module(args.simulator)
    tvb = rww.tvb_simulator(G=args.G, lamda=args.lamda)
    with pm.CoSimulation(tvb, sim, spiking_regions=[31, 65],
                         build_region=rww.build_spiking_region,
                         to_spiking=rww.default_to_spiking(G=args.G, lamda=args.lamda),
                         to_tvb=rww.default_to_tvb(), seed=args.seed,
                         pipeline=args.pipeline) as cosim:
        result = cosim.run(args.duration)
    finish_example(result, args)

if __name__ == "__main__":
    main()
