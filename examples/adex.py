"""TVB-AdEx whole brain, two regions replaced by networks of AdEx neurons.

Regions 31 and 65 of connectivity_68 (right and left superior temporal) are
replaced by E/I networks of PyNN ``EIF_cond_exp_isfa_ista`` neurons (E cells
adapt: b_e 60 pA, tau_w 500 ms) with the parameters tvb-library's
``ZerlautAdaptationSecondOrder`` transfer function was fitted for, and the
mass's in-degrees (400 E and 100 I synapses per neuron) at any region size.
TVB sends each region its coupling ``G sum_j w_ij E_j`` (a rate per external
synapse) plus the drive, as Poisson trains onto E and I; the networks' rates
come back as ``E`` and ``I``.  The E cells' adaptation starts at the mass's
steady ``W_e``.  See docs/models.md for the derivation and the
transfer check.

Usage::

    python examples/adex.py --simulator nest --duration 1000 --out results

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
from pynn_multiscale.models import adex  # noqa: E402


def main(argv=None):
    parser = example_parser(__doc__.splitlines()[0])
    parser.add_argument("--G", type=float, default=adex.G_DEFAULT, help="global coupling")
    parser.add_argument("--neurons", type=int, default=2000,
                        help="neurons per spiking region (E and I, 20%% I; at least 500)")
    parser.add_argument("--dt", type=float, default=0.1, help="TVB's step (ms)")
    args = parser.parse_args(argv)

    sim = simulator_module(args.simulator)
    tvb = adex.tvb_simulator(G=args.G, dt=args.dt)
    with pm.CoSimulation(tvb, sim, spiking_regions=[31, 65],
                         build_region=functools.partial(adex.build_spiking_region, n=args.neurons,
                                                        w_init=adex.steady_state(0.0)[5]),
                         to_spiking=adex.default_to_spiking(), to_tvb=adex.default_to_tvb(),
                         seed=args.seed, spiking_timestep=0.1, pipeline=args.pipeline) as cosim:
        result = cosim.run(args.duration)
    finish_example(result, args)


if __name__ == "__main__":
    main()
