"""Wilson-Cowan whole brain, two regions replaced by E/I networks of IF_cond_alpha neurons.

Regions 31 and 65 of connectivity_68 (right and left superior temporal) are
replaced by tvb-multiscale's default Wilson-Cowan node: 100 E + 100 I
``IF_cond_alpha`` cells with NEST's ``iaf_cond_alpha`` defaults, all to all,
and 7000 Hz of Poisson background onto E.  TVB sends each node its coupling
on E as Poisson input onto E (``N_E * NU_MAX`` Hz per unit, at 1 nS); the
node's E and I rates come back as activities (``/ NU_MAX``, low-passed with
tau_e).  See docs/models.md for how NU_MAX and the factors are derived.

Usage::

    python examples/wilson_cowan.py --simulator nest --duration 1000 --out results

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
from pynn_multiscale.models import wilson_cowan as wc  # noqa: E402


def main(argv=None):
    parser = example_parser(__doc__.splitlines()[0])
    parser.add_argument("--G", type=float, default=wc.G_DEFAULT,
                        help="global coupling (TVB's Linear a)")
    args = parser.parse_args(argv)

    sim = simulator_module(args.simulator)
    tvb = wc.tvb_simulator(G=args.G)
    with pm.CoSimulation(tvb, sim, spiking_regions=[31, 65],
                         build_region=wc.build_spiking_region,
                         to_spiking=wc.default_to_spiking(), to_tvb=wc.default_to_tvb(),
                         seed=args.seed, max_rate=wc.MAX_RATE,
                         pipeline=args.pipeline) as cosim:
        result = cosim.run(args.duration)
    finish_example(result, args)


if __name__ == "__main__":
    main()
