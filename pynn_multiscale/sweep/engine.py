"""Running a sweep on ``dask.distributed``: submission, retries, progress, interruption.

Without a client, :func:`local_cluster` starts a ``LocalCluster`` on the
loopback interface with one single-threaded worker process per point that
may run at once (see :func:`run`), and a scheduler that retries a point once
if its worker dies (``distributed.scheduler.allowed-failures = 1``).  The
sweep keeps only as many points in flight as the cluster has threads, so a
point waits in the sweep, not on a busy worker, and a worker's death costs
only the point it was running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from numbers import Real

from ..errors import ConfigurationError, ConfigurationTypeError, MissingDependency, bad_value
from ..plan import CORES_ENV
from .folder import SweepFolder, describe_function, versions
from .point import POINT_FILE, SUMMARY_FILE, execute, write_json
from .points import check_grid, check_points, check_seeds

__all__ = ["run", "local_cluster"]

#: Scheduler settings of the local cluster (and what a user's cluster should set).
SCHEDULER_CONFIG = {
    "distributed.scheduler.allowed-failures": 1,
    # the rest quiets Dask's own timers: a point keeps a core busy for seconds to hours, and the
    # defaults (a profiler sampling every 10 ms, a 20 ms tick, stealing) cost a 2-point sweep
    # here 5 s of CPU in 32 s, taken from the points
    "distributed.scheduler.work-stealing": False,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def _dask():
    try:
        import dask
        import distributed
    except ImportError as exc:
        raise MissingDependency(
            f"sweeps run on dask.distributed, which is not installed ({exc}). Fix: pip install "
            "'pynn-multiscale[dask]'") from None
    return dask, distributed


@contextlib.contextmanager
def local_cluster(workers: int | None = None, cores_per_point: int = 1, dashboard: bool = True,
                  quiet: bool = False):
    """A ``LocalCluster`` for sweeps and a client of it, closed on exit.

    Parameters
    ----------
    workers : int, optional
        Worker processes (points that run at once).  Default: the cores
        (``os.cpu_count()``) divided by ``cores_per_point``.
    cores_per_point : int
        Cores one point uses: 2 for points that run pipelined (TVB in a
        second process), 1 otherwise.
    dashboard : bool
        Serve Dask's dashboard on a free loopback port (needs bokeh) and
        print its address.

    Yields
    ------
    distributed.Client
    """
    dask, distributed = _dask()
    _check_cores_per_point(cores_per_point)
    if workers is None:
        workers = max(1, (os.cpu_count() or 1) // int(cores_per_point))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigurationError(bad_value("workers", workers, "a positive int",
                                           "pass the number of points to run at once"))
    try:
        import bokeh  # noqa: F401
        has_bokeh = True
    except ImportError:
        has_bokeh = False
    address = "127.0.0.1:0" if dashboard and has_bokeh else None
    # the scheduler runs in this process: its routine INFO lines would drown the progress bar
    logging.getLogger("distributed").setLevel(logging.WARNING)
    with dask.config.set(SCHEDULER_CONFIG):
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=address, silence_logs=40)
    try:
        client = distributed.Client(cluster)
        try:
            if not quiet:
                link = client.dashboard_link if address else \
                    "none (pip install bokeh for Dask's dashboard)"
                print(f"sweep: local Dask cluster with {workers} worker process(es), "
                      f"{cores_per_point} core(s) per point; dashboard: {link}", file=sys.stderr)
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _spec(point, grid, points, seeds, duration, reducer):
    if not callable(point):
        raise ConfigurationTypeError(bad_value(
            "point", point, "a function point(params, seed) -> CoSimulation",
            "pass a function defined at a module's top level or in a notebook cell"))
    if (grid is None) == (points is None):
        raise ConfigurationError(bad_value(
            "grid", grid, "exactly one of grid= (a product of values) or points= (a list)",
            "pass grid={'G': [...], ...} or points=[{'G': ...}, ...]"))
    if isinstance(duration, bool) or not isinstance(duration, Real) or not duration > 0:
        raise ConfigurationError(bad_value("duration", duration, "a positive time in ms",
                                           "pass e.g. duration=1000.0"))
    spec = {"mode": "grid" if grid is not None else "points",
            "grid": check_grid(grid) if grid is not None else None,
            "points": check_points(points) if points is not None else None,
            "seeds": check_seeds(seeds), "duration_ms": float(duration),
            "function": describe_function(point), "reducer": describe_function(reducer)}
    return spec


def run(point, *, grid=None, points=None, seeds=1, duration, out, client=None,
        scheduler=None, workers=None, cores_per_point=1, reducer=None, extend=False,
        retries=1, progress=True):
    """Run one co-simulation per point of a grid (or list of points) and seed, on Dask.

    Parameters
    ----------
    point : callable
        ``point(params, seed) -> CoSimulation``, not yet run: ``params`` is
        the point's dict of parameters and ``seed`` its seed (pass it to
        :class:`~pynn_multiscale.CoSimulation`).  It runs in a fresh process,
        so it imports its simulator itself (e.g. ``import pyNN.nest as sim``
        inside it).  A module-level function, or one defined in a notebook.
    grid : dict, optional
        ``{name: [values]}``: every combination is a point.
    points : list of dict, optional
        Explicit points instead of a grid.
    seeds : int or list of int
        The seeds of every point (an int n means 0 .. n-1).
    duration : float
        Each co-simulation's duration (ms).
    out : str or Path
        The sweep's folder (:mod:`pynn_multiscale.sweep.folder`).  Running
        the same sweep again skips the points that are done.  It must be on
        a filesystem the workers share.
    client : distributed.Client, optional
        Use this cluster unchanged (e.g. one from dask-jobqueue).
    scheduler : str, optional
        Or connect to the scheduler at this address.
    workers : int, optional
        Without ``client`` or ``scheduler``: the local cluster's worker
        processes (default: cores // cores_per_point).
    cores_per_point : int
        Cores each point uses: 2 when ``point`` passes ``pipeline=True``.
        Each point gets it as ``$PYNN_MULTISCALE_CORES`` (unless set
        already), so a co-simulation left at ``pipeline=None`` runs
        pipelined only with 2 or more (same results either way).
    reducer : callable, optional
        ``reducer(result) -> xarray.Dataset or dict of numbers``, run on
        each finished point's :class:`~pynn_multiscale.Result`.  Default:
        :func:`pynn_multiscale.analysis.point_summary`.
    extend : bool
        Allow ``out`` to hold a sweep with other values, seeds or points
        (same parameters, duration and functions): this sweep's points are
        added to it.
    retries : int
        Extra attempts for a point whose process dies without an outcome
        (killed, out of memory).  A point that raises is not retried.
    progress : bool
        Show a progress bar (points done, failed, running).

    Returns
    -------
    xarray.Dataset
        The summary (also written as ``out/summary.nc``): see
        :meth:`SweepFolder.summary <pynn_multiscale.sweep.folder.SweepFolder.summary>`.
    """
    from ..analysis import point_summary

    reducer = point_summary if reducer is None else reducer
    if not callable(reducer):
        raise ConfigurationTypeError(bad_value("reducer", reducer,
                                               "a function reducer(result) -> Dataset",
                                               "pass a function, or None for point_summary"))
    if client is not None and scheduler is not None:
        raise ConfigurationError(bad_value("scheduler", scheduler,
                                           "either client= or scheduler=, not both",
                                           "pass one of them"))
    if workers is not None and (client is not None or scheduler is not None):
        raise ConfigurationError(bad_value(
            "workers", workers, "no workers= with client= or scheduler= (the cluster has its own)",
            "size that cluster itself (e.g. cluster.scale), or drop client= for a local one"))
    _check_cores_per_point(cores_per_point)
    spec = _spec(point, grid, points, seeds, duration, reducer)
    folder = SweepFolder.prepare(out, spec, extend=extend)
    requested = SweepFolder(folder.path, spec).points()
    states = {p.key: folder.state(p) for p in folder.points()}
    todo = [p for p in requested if states[p.key]["state"] != "done"]
    found = versions()
    folder.write(states, found)
    if todo:
        with contextlib.ExitStack() as stack:
            if client is None and scheduler is not None:
                _, distributed = _dask()
                client = stack.enter_context(distributed.Client(scheduler))
            elif client is None:
                client = stack.enter_context(local_cluster(workers, cores_per_point))
            _submit_and_wait(client, folder, todo, states, found, point, reducer,
                             float(duration), retries, progress, cores_per_point)
    summary = folder.write_summary()
    failed = [states[p.key] for p in requested if states[p.key]["state"] != "done"]
    if failed:
        print(f"sweep: {len(requested) - len(failed)} of {len(requested)} points done, "
              f"{len(failed)} not (see 'pynn-multiscale show {folder.path}'); first: "
              f"{failed[0]['params']} seed {failed[0]['seed']}: {failed[0].get('error_type')}: "
              f"{failed[0].get('error')}", file=sys.stderr)
    return summary


def _check_cores_per_point(cores_per_point):
    if isinstance(cores_per_point, bool) or not isinstance(cores_per_point, (int, float)) \
            or cores_per_point < 1 or int(cores_per_point) != cores_per_point:
        raise ConfigurationError(bad_value("cores_per_point", cores_per_point,
                                           "a positive int", "pass 1, or 2 for pipelined points"))


def _submit_and_wait(client, folder, todo, states, found, point_fn, reducer, duration, retries,
                     progress, cores_per_point=1):
    import cloudpickle
    import dask
    from distributed import wait
    from tqdm.auto import tqdm

    futures = {}
    cwd = os.getcwd()
    sys_path = [entry for entry in sys.path if entry]
    nanny_environ = {**(dask.config.get("distributed.nanny.environ", None) or {}),
                     **(dask.config.get("distributed.nanny.pre-spawn-environ", None) or {})}
    environ = {key: os.environ.get(key) for key in nanny_environ}
    # a point's default loop is pipelined only if it has the cores for it (plan.free_cores)
    environ[CORES_ENV] = os.environ.get(CORES_ENV) or str(int(cores_per_point))
    queue = list(todo)

    def submit(p):
        directory = folder.directory(p)
        payload = cloudpickle.dumps({"make": point_fn, "reducer": reducer, "point": dict(p),
                                     "duration": duration, "directory": str(directory)})
        task = {"point": dict(p), "directory": str(directory), "payload": payload, "cwd": cwd,
                "sys_path": sys_path, "environ": environ}
        future = client.submit(execute, task, key=f"pynn-multiscale-point-{p.key}-"
                                                  f"{uuid.uuid4().hex[:8]}",
                               pure=False, retries=retries)
        futures[future] = p
        return future

    def capacity():
        # as many points in flight as the cluster has threads: the scheduler then gives each
        # free worker one point, and a worker that dies takes only the point it was running
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:
            return 1

    done = failed = 0
    bar = tqdm(total=len(todo), desc="sweep", unit="point", disable=not progress,
               file=sys.stderr)
    pending = set()
    try:
        while queue or pending:
            while queue and len(pending) < capacity():
                pending.add(submit(queue.pop(0)))
            try:
                finished, pending = wait(pending, timeout=5.0, return_when="FIRST_COMPLETED")
            except TimeoutError:  # nothing finished for a while: refresh the bar's clock
                finished = ()
            for future in finished:
                p = futures[future]
                record = _outcome(future, folder, p)
                states[p.key] = record
                done += record["state"] == "done"
                failed += record["state"] != "done"
                bar.update(1)
            bar.set_postfix(done=done, failed=failed, running=len(pending), refresh=False)
            if finished:
                folder.write(states, found)
            bar.refresh()
    except BaseException:
        client.cancel(list(pending))
        for future in pending:
            p = futures[future]
            record = folder.state(p)  # the worker's word; "running" if it was stopped mid-way
            if record["state"] == "running":
                record["state"] = "interrupted"
                # if its process still runs (a cluster that outlives this client), its own
                # outcome replaces this when it ends
                write_json(folder.directory(p) / POINT_FILE, record)
            states[p.key] = record
        folder.write(states, found)
        raise
    finally:
        bar.close()
    folder.write(states, found)


def _outcome(future, folder, p) -> dict:
    """A finished future's record: the point's own, or a failure the worker could not record."""
    try:
        record = future.result()
    except Exception as exc:
        record = folder.state(p)
        died = type(exc).__name__ in ("KilledWorker", "PointProcessDied")
        record.update(state="failed", error_type=type(exc).__name__,
                      error=(f"{exc} (its worker or process died on every attempt: killed, or "
                             "out of memory)") if died else str(exc))
        folder.directory(p).mkdir(parents=True, exist_ok=True)
        write_json(folder.directory(p) / POINT_FILE, record)
        return record
    if record["state"] == "done" and not (folder.directory(p) / SUMMARY_FILE).exists():
        record = dict(record, state="failed", error_type="SharedFilesystemError",
                      error=f"the worker wrote {folder.directory(p)}, which this machine does "
                            "not see: out must be on a filesystem the workers share")
    return record
