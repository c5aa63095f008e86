"""Parameter sweeps of co-simulations on ``dask.distributed``.

One co-simulation per point of a grid (or list of points) and per seed, each
in a fresh process on a Dask worker, each streaming its
:class:`~pynn_multiscale.Result` into its own folder, gathered into one
xarray summary::

    import pynn_multiscale as pm
    from pynn_multiscale.models import red_wong_wang as rww

    def point(params, seed):
        import pyNN.nest as sim
        return pm.CoSimulation(rww.tvb_simulator(G=params["G"]), sim, [31, 65],
                               rww.build_spiking_region, rww.default_to_spiking(G=params["G"]),
                               rww.default_to_tvb(), seed=seed)

    if __name__ == "__main__":
        summary = pm.sweep.run(point, grid={"G": [0.5, 1.0]}, seeds=3, duration=1000.0,
                               out="sweeps/G")

See ``docs/sweeps.md``: the folder layout (:mod:`~pynn_multiscale.sweep.folder`),
how a point runs (:mod:`~pynn_multiscale.sweep.point`), failures, resuming,
and running on a cluster.
"""

from ..errors import MissingDependency  # noqa: F401  (where it was before errors.py had it)
from .engine import local_cluster, run
from .folder import SweepFolder
from .points import Point, point_key

__all__ = ["run", "load", "status", "local_cluster", "SweepFolder", "Point", "point_key"]


def load(path):
    """A sweep folder's summary (``summary.nc``), gathered again from its points' files."""
    return SweepFolder.read(path).summary()


def status(path) -> list[dict]:
    """Every point of a sweep folder: params, seed, key, state, runs, timings and error."""
    folder = SweepFolder.read(path)
    return [folder.state(p) for p in folder.points()]
