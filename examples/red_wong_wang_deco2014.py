"""Reduced Wong-Wang whole brain with Deco et al. 2014's AMPA/NMDA/GABA spiking regions (NEST).

The use case of examples/red_wong_wang.py (regions 31 and 65 of connectivity_68, the
same TVB model and coupling), with the spiking network that reduced Wong-Wang is a
reduction of: E and I ``iaf_cond_deco2014_neuron`` cells, a NESTML model compiled for
the installed NEST on the first run (about 30 s; cached after).  TVB's excitatory rate
arrives as Poisson input on the cells' external AMPA receptor.

Usage::

    python examples/red_wong_wang_deco2014.py --duration 1000 --out results

``--simulator`` must be nest (the neuron is a custom NEST module).  ``--scale`` sets the
region size relative to 800 E + 200 I (default 0.2: 160 + 40, Deco et al. 2014's network,
whose summed synaptic weights every size keeps).  Writes ``--out`` as
examples/red_wong_wang.py does and prints the mean rates on one line.
"""

from __future__ import annotations

import functools
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import pynn_multiscale as pm  # noqa: E402
from pynn_multiscale.backends import simulator_module  # noqa: E402
from pynn_multiscale.cli import example_parser, finish_example  # noqa: E402
from pynn_multiscale.models import red_wong_wang_deco2014 as deco  # noqa: E402


def main(argv=None):
    parser = example_parser(__doc__.splitlines()[0])
    parser.add_argument("--G", type=float, default=deco.G_DEFAULT, help="global coupling")
    parser.add_argument("--lamda", type=float, default=0.0, help="feedforward inhibition")
    parser.add_argument("--scale", type=float, default=deco.SCALE_DEFAULT,
                        help="region size relative to 800 E + 200 I (default 0.2)")
    args = parser.parse_args(argv)

    sim = simulator_module(args.simulator)
    deco.check_nest(sim)
    tvb = deco.tvb_simulator(G=args.G, lamda=args.lamda)
    with pm.CoSimulation(tvb, sim, spiking_regions=[31, 65],
                         build_region=functools.partial(deco.build_deco2014_region,
                                                        scale=args.scale),
                         to_spiking=deco.deco2014_to_spiking(G=args.G, lamda=args.lamda),
                         to_tvb=deco.default_to_tvb(), seed=args.seed,
                         pipeline=args.pipeline) as cosim:
        result = cosim.run(args.duration)
    finish_example(result, args)


if __name__ == "__main__":
    main()
