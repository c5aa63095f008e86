"""One point of a sweep, run in a fresh child process of the Dask worker.

Why a child process: NEST's kernel is global to a process and PyNN never
frees a NEURON network, so two points must never share one; a fresh
interpreter also makes a point's result exactly that of the same
co-simulation run directly, whatever the worker ran before.  The worker's
task (:func:`execute`) starts ``python -m pynn_multiscale.sweep.point``,
sends it the point through its standard input (the user's functions as
cloudpickle bytes: a pipe, never a file, so no file that is loaded later
holds code), and waits.  The child dies with the worker (Linux
``PR_SET_PDEATHSIG``, and a watch on its parent elsewhere), so a killed
worker leaves no orphan writing into the point's folder.

A point's folder::

    <sweep>/points/<key>/
        point.json     state ("running", "done", "failed"), runs, timings, error
        result/        the co-simulation's Result, streamed by run(out=...)
        summary.nc     the reducer's xarray Dataset (done points only)
        log.txt        the child's standard output and error
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

__all__ = ["execute", "read_point", "PointProcessDied", "POINT_FILE", "SUMMARY_FILE",
           "RESULT_DIR"]

POINT_FILE = "point.json"
SUMMARY_FILE = "summary.nc"
RESULT_DIR = "result"
LOG_FILE = "log.txt"


class PointProcessDied(RuntimeError):
    """The point's process ended without recording an outcome (killed, out of memory)."""


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def write_json(path: Path, data: dict) -> None:
    """Write JSON through a temporary name, so a kill never leaves half a file."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(temp, path)


def read_point(directory: Path) -> dict | None:
    """A point folder's ``point.json``, or None if it has none (never started)."""
    try:
        return json.loads((Path(directory) / POINT_FILE).read_text())
    except FileNotFoundError:
        return None


# ------------------------------------------------------------------ worker side
def execute(task: dict) -> dict:
    """The Dask task: run one point in a child process and return its ``point.json``.

    ``task`` holds ``point`` (params, seed, key), ``directory``, ``duration``
    and ``payload`` (cloudpickle bytes of the point and reducer functions).
    A point that raises is an outcome (state "failed"), returned like a
    success.  A child that ends without an outcome (a signal, the
    out-of-memory killer) raises :class:`PointProcessDied`, which Dask's
    ``retries`` turns into one more attempt.
    """
    directory = Path(task["directory"])
    directory.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYNN_MULTISCALE_SWEEP_PARENT=str(os.getpid()),
               PYNN_MULTISCALE_SWEEP_PATH=json.dumps(task.get("sys_path", [])))
    # what Dask's nanny set for its workers is not the point's: its MALLOC_TRIM_THRESHOLD_=65536
    # made the small W1 17% slower here; the point gets the caller's values (or none)
    for key, value in task.get("environ", {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    started = time.monotonic()
    with open(directory / LOG_FILE, "ab") as log:
        # its own session: a Ctrl-C at the terminal stops the sweep, whose workers' exit ends
        # the children; the children never see it as an error of the point
        cwd = task.get("cwd")
        child = subprocess.Popen([sys.executable, "-m", "pynn_multiscale.sweep.point"],
                                 stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                 env=env, cwd=cwd if cwd and os.path.isdir(cwd) else None,
                                 start_new_session=True)
        try:
            child.stdin.write(task["payload"])
            child.stdin.close()
        except BrokenPipeError:
            pass
        code = child.wait()
    state = read_point(directory) or {}
    if state.get("state") not in ("done", "failed", "interrupted"):
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        raise PointProcessDied(
            f"point {task['point']['key']} ({task['point']['params']}, seed "
            f"{task['point']['seed']}): its process ended by {how} after "
            f"{time.monotonic() - started:.1f} s without recording an outcome (killed, or out of "
            f"memory); see {directory / LOG_FILE}")
    state["worker_pid"] = os.getpid()
    state["wall_s_with_startup"] = time.monotonic() - started
    return state


# ------------------------------------------------------------------- child side
def _die_with_parent(parent: int) -> None:
    """End this process when the worker that started it ends (a kill included)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch():
        while True:
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="watch-parent").start()
    if os.getppid() != parent:  # the worker died before the death signal was armed
        os._exit(1)


def _dataset(summary, where):
    import xarray as xr

    if isinstance(summary, dict):
        summary = xr.Dataset({k: xr.DataArray(v) if not isinstance(v, xr.DataArray) else v
                              for k, v in summary.items()})
    if not isinstance(summary, xr.Dataset):
        raise TypeError(f"reducer={where} returned {type(summary).__name__}: expected an "
                        "xarray.Dataset or a dict of name -> number or xarray.DataArray. Fix: "
                        "return e.g. {'rate_hz': 3.2}")
    for name, var in summary.data_vars.items():
        if var.dtype.kind not in "biuf":
            raise TypeError(f"reducer={where} returned {name!r} of dtype {var.dtype}: expected "
                            "numbers (they are averaged and plotted across points). Fix: "
                            "return numbers, and put names in coordinates")
    return summary


def _peak_rss_mb():
    """This process's peak resident memory (MB), or None where it cannot be read."""
    try:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError):
        return None
    return kb / 1024.0 if sys.platform != "darwin" else kb / 2**20


def run_point(make, reducer, point: dict, duration: float, directory: Path) -> dict:
    """Run one point in this process and record its outcome in ``directory``."""
    from ..cosim import CoSimulation
    from ..results import Result

    previous = read_point(directory) or {}
    if previous.get("state") == "done":  # another attempt got there first: nothing to redo
        return previous
    for stale in (directory / RESULT_DIR, directory / SUMMARY_FILE):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    record = {"params": point["params"], "seed": point["seed"], "key": point["key"],
              "state": "running", "runs": int(previous.get("runs", 0)) + 1,
              "host": socket.gethostname(), "pid": os.getpid(), "parent_pid": os.getppid(),
              "started": _now(), "duration_ms": duration}
    write_json(directory / POINT_FILE, record)
    t0 = time.monotonic()
    name = getattr(make, "__qualname__", repr(make))
    try:
        cosim = make(dict(point["params"]), point["seed"])
        if not isinstance(cosim, CoSimulation):
            if hasattr(cosim, "close"):
                cosim.close()
            raise TypeError(f"the point function {name} returned {type(cosim).__name__}: "
                            "expected a CoSimulation, not yet run. Fix: return the "
                            "CoSimulation; the sweep runs it for duration ms")
        with cosim:
            cosim.run(duration, out=directory / RESULT_DIR)
        record["run_s"] = time.monotonic() - t0
        summary = _dataset(reducer(Result.load(directory / RESULT_DIR)),
                           getattr(reducer, "__qualname__", repr(reducer)))
        temp = directory / f".{SUMMARY_FILE}.tmp"
        summary.to_netcdf(temp, engine="h5netcdf")
        os.replace(temp, directory / SUMMARY_FILE)
        record["state"] = "done"
    except (KeyboardInterrupt, SystemExit) as exc:  # stopped, not failed: a resume re-runs it
        record.update(state="interrupted", error_type=type(exc).__name__, error=str(exc))
    except BaseException as exc:  # the outcome of the point, recorded; the sweep goes on
        record.update(state="failed", error_type=type(exc).__name__, error=str(exc),
                      traceback=traceback.format_exc())
    record["finished"] = _now()
    record["wall_s"] = time.monotonic() - t0
    record["peak_rss_mb"] = _peak_rss_mb()
    write_json(directory / POINT_FILE, record)
    return record


def _main() -> None:
    parent = int(os.environ.get("PYNN_MULTISCALE_SWEEP_PARENT", os.getppid()))
    _die_with_parent(parent)
    import cloudpickle

    data = sys.stdin.buffer.read()
    # the caller's import path (a script may have added its own folder), after this one's
    for entry in json.loads(os.environ.get("PYNN_MULTISCALE_SWEEP_PATH", "[]")):
        if entry not in sys.path and os.path.isdir(entry):
            sys.path.append(entry)
    task = cloudpickle.loads(data)
    run_point(task["make"], task["reducer"], task["point"], task["duration"],
              Path(task["directory"]))


if __name__ == "__main__":
    _main()
