"""The ``pynn-multiscale`` command.

::

    pynn-multiscale info                        what is installed, with versions
    pynn-multiscale run SCRIPT [ARGS...]        run a co-simulation script
    pynn-multiscale show RESULT_DIR             a saved result: run details and rates
    pynn-multiscale plot RESULT_DIR [--out F]   write a saved result's summary figure
    pynn-multiscale sweep SCRIPT --grid G=0.5,1 --seeds 3 --out DIR
                                                a parameter sweep on Dask (docs/sweeps.md)

``show`` and ``plot`` also take a sweep folder: its table of points, and a
heat map or line plot of its summary.

For example::

    pynn-multiscale run examples/red_wong_wang.py --simulator brian2 --duration 500 --out results/x
    pynn-multiscale show results/x
    pynn-multiscale plot results/x --out x.png
"""

from __future__ import annotations

import argparse
import runpy
import sys
from importlib import metadata
from pathlib import Path

#: Distributions reported by ``info``: (what it is, distribution name, PyNN module).
PACKAGES = [
    ("NEST (spiking simulator)", "nest-simulator", "pyNN.nest"),
    ("Brian2 (spiking simulator)", "Brian2", "pyNN.brian2"),
    ("NEURON (spiking simulator)", "neuron", "pyNN.neuron"),
    ("ANNarchy (spiking simulator)", "ANNarchy", None),
    ("PyNN", "PyNN", None),
    ("TVB (tvb-library)", "tvb-library", None),
    ("tvb-data", "tvb-data", None),
    ("Neo", "neo", None),
    ("Elephant", "elephant", None),
    ("xarray", "xarray", None),
]


def _version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def info(args) -> int:
    """Print the installed simulators and libraries with their versions."""
    from . import __version__

    print(f"pynn-multiscale {__version__} (Python {sys.version.split()[0]})")
    width = max(len(name) for name, _, _ in PACKAGES)
    for name, distribution, module in PACKAGES:
        version = _version(distribution)
        status = version or "not installed"
        if version and module and args.check:
            try:
                __import__(module)
                status += f" ({module} imports)"
            except Exception as exc:  # report, do not stop: the point is a diagnosis
                status += f" ({module} FAILS to import: {type(exc).__name__}: {exc})"
        print(f"  {name:<{width}}  {status}")
    if not args.check:
        print("(pass --check to also import each simulator through PyNN)")
    return 0


def _script(command, path, what):
    """SCRIPT as a Path, its folder first on ``sys.path``; None (said on stderr) if no file."""
    script = Path(path)
    if not script.is_file():
        print(f"pynn-multiscale {command}: SCRIPT={str(script)!r} is not a file. Fix: pass "
              f"{what}", file=sys.stderr)
        return None
    sys.path.insert(0, str(script.resolve().parent))
    return script


def run(args) -> int:
    """Run a script as ``python SCRIPT ARGS...`` would, in this interpreter."""
    script = _script("run", args.script, "the path of a Python script, e.g. "
                                         "examples/red_wong_wang.py")
    if script is None:
        return 2
    sys.argv = [str(script)] + list(args.args)
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    return 0


def _load(path):
    from .results import Result

    return Result.load(path)


def _is_sweep(path) -> bool:
    from .sweep.folder import SWEEP_FILE

    return (Path(path) / SWEEP_FILE).is_file()


def show(args) -> int:
    """Print a saved result's run details and every population's rate, CV and Fano factor.

    For a sweep folder: one line per point (parameters, seed, state, runs,
    time, error).
    """
    from .analysis import population_summary

    if _is_sweep(args.result):
        return show_sweep(args.result)
    result = _load(args.result)
    meta = result.metadata
    print(f"{args.result}: {'complete' if result.complete else 'INCOMPLETE (' + str(result.reason) + ')'}")
    for key in ("simulator", "simulator_version", "duration_ms", "tvb_dt_ms", "spiking_dt_ms",
                "sync_interval_ms", "coupling_mode", "seeds"):
        if key in meta:
            print(f"  {key}: {meta[key]}")
    print(f"  TVB monitors: {', '.join(map(str, result.tvb.data_vars))} "
          f"({result.tvb.sizes['region']} regions)")
    rows = population_summary(result)
    if rows:
        print(f"  {'region':<28} {'pop':<5} {'neurons':>7} {'rate (Hz)':>9} {'CV ISI':>7} "
              f"{'Fano':>6}")
    for row in rows:
        print(f"  {str(row['region']) + ' ' + str(row['region_label']):<28} "
              f"{row['population']:<5} {row['neurons']:>7} {row['rate_hz']:>9.3f} "
              f"{row['cv_isi']:>7.3f} {row['fano']:>6.3f}")
    return 0


def show_sweep(path) -> int:
    """Print a sweep folder's table of points and their states."""
    from .sweep import SweepFolder

    folder = SweepFolder.read(path)
    records = [folder.state(p) for p in folder.points()]
    spec = folder.spec
    names = list(spec["grid"]) if spec["mode"] == "grid" else list(spec["points"][0])
    counts = {}
    for r in records:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    print(f"{path}: sweep of {len(records)} points ({spec['function']['name']}, "
          f"{spec['duration_ms']:g} ms each): " +
          ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    widths = [max(len(n), 8) for n in names]
    print("  " + " ".join(f"{n:>{w}}" for n, w in zip(names, widths)) +
          f" {'seed':>5} {'state':<11} {'runs':>4} {'time (s)':>8}  key / error")
    for r in records:
        values = " ".join(f"{_cell(r['params'][n]):>{w}}" for n, w in zip(names, widths))
        wall = f"{r['wall_s']:8.1f}" if r.get("wall_s") is not None else f"{'':>8}"
        tail = r["key"]
        if r.get("error_type"):
            tail += f"  {r['error_type']}: {str(r.get('error', '')).splitlines()[0][:100]}"
        print(f"  {values} {r['seed']:>5} {r['state']:<11} {r.get('runs', 0):>4} {wall}  {tail}")
    return 0


def _cell(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def plot(args) -> int:
    """Write a saved result's summary figure (see :func:`pynn_multiscale.plot.summary`).

    For a sweep folder: a heat map of ``--measure`` over two parameters, or
    a line plot over one (:func:`pynn_multiscale.plot.sweep`).
    """
    from .plot import summary

    if _is_sweep(args.result):
        return plot_sweep(args)
    result = _load(args.result)
    out = Path(args.out) if args.out else Path(args.result) / "summary.png"
    summary(result, out, monitor=args.monitor, variable=args.variable)
    print(f"wrote {out}")
    return 0


def plot_sweep(args) -> int:
    """Write a sweep folder's summary figure."""
    from .plot import sweep as sweep_figure
    from .sweep import load

    summary = load(args.result)
    select = dict(_parse_select(text) for text in args.select or ())
    out = Path(args.out) if args.out else Path(args.result) / "summary.png"
    sweep_figure(summary, args.measure, x=args.x, y=args.y, select=select, path=out)
    print(f"wrote {out}")
    return 0


def _parse_select(text):
    from .errors import ConfigurationError
    from .sweep.points import parse_value

    name, sep, value = text.partition("=")
    if not sep:
        raise ConfigurationError(f"--select={text!r} is invalid: expected DIM=VALUE. Fix: write "
                                 "e.g. --select population=r_superiortemporal/E")
    return name, parse_value(value)


def sweep(args) -> int:
    """Run a parameter sweep of SCRIPT's ``point(params, seed)`` function on Dask."""
    from .errors import ConfigurationError
    from .sweep import run as run_sweep
    from .sweep.folder import SCRIPT_RUN_NAME
    from .sweep.points import parse_grid_option

    script = _script("sweep", args.script, "a Python script that defines point(params, seed), "
                                           "e.g. examples/sweep_red_wong_wang.py")
    if script is None:
        return 2
    # not "__main__": the script's own command line does not run, its functions are defined
    namespace = runpy.run_path(str(script), run_name=SCRIPT_RUN_NAME)
    function = namespace.get(args.function)
    if not callable(function):
        raise ConfigurationError(
            f"--function={args.function!r} is invalid: {script} defines no function of that "
            f"name. Fix: define {args.function}(params, seed) returning a CoSimulation, or pass "
            "--function NAME")
    grid = {}
    for text in args.grid:
        name, values = parse_grid_option(text)
        if name in grid:
            raise ConfigurationError(f"--grid {text!r} is invalid: {name} is given twice. Fix: "
                                     f"give all of {name}'s values in one --grid {name}=V1,V2")
        grid[name] = values
    run_sweep(function, grid=grid, seeds=args.seeds, duration=args.duration, out=args.out,
              scheduler=args.scheduler, workers=args.workers,
              cores_per_point=args.cores_per_point, extend=args.extend,
              progress=not args.no_progress)
    return show_sweep(args.out)


def example_parser(description: str) -> argparse.ArgumentParser:
    """The command line every example in ``examples/`` shares.

    ``--simulator`` (nest, brian2, neuron or annarchy), ``--duration`` (ms),
    ``--out`` (a result folder), ``--seed`` (the one seed) and
    ``--pipeline``/``--no-pipeline`` (``CoSimulation``'s ``pipeline``; neither:
    None, the default); an example adds its model's own options.
    :func:`finish_example` writes what it promises.
    """
    from .backends import SIMULATORS

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--simulator", choices=sorted(SIMULATORS), default="nest",
                   help="spiking simulator (default nest)")
    p.add_argument("--duration", type=float, default=1000.0, help="biological time in ms")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=42, help="the one seed (default 42)")
    p.add_argument("--pipeline", action=argparse.BooleanOptionalAction, default=None,
                   help="TVB one window ahead in a second process (--pipeline), or not "
                        "(--no-pipeline); default: pipelined where exact and 2 cores are "
                        "free, with the same results either way")
    return p


def finish_example(result, args) -> None:
    """Save ``result`` in ``args.out`` with its ``summary.png``, and print one line of mean rates.

    The line is ``mean rates (SIMULATOR, DURATION ms): LABEL/POP RATE Hz, ...``
    over the whole run.
    """
    import os

    from .plot import summary

    result.save(args.out)
    summary(result, os.path.join(args.out, "summary.png"))
    parts = []
    for idx, block in sorted(result.spiking.items()):
        for st in block.segments[0].spiketrains:
            rate = 1000.0 * len(st) / (st.annotations["size"] * args.duration)
            parts.append(f"{block.annotations['region_label']}/{st.annotations['population']} "
                         f"{rate:.2f} Hz")
    print(f"mean rates ({args.simulator}, {args.duration:g} ms): " + ", ".join(parts))


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="pynn-multiscale",
        description="Multiscale brain simulation: TVB whole-brain models with spiking regions "
                    "written once in PyNN.",
        epilog="Run 'pynn-multiscale COMMAND --help' for a command's options.")
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("info", help="list the installed simulators and libraries",
                            description=info.__doc__)
    p.add_argument("--check", action="store_true",
                   help="also import each PyNN simulator module (slower; shows broken installs)")
    p.set_defaults(func=info)

    p = commands.add_parser(
        "run", help="run a co-simulation script with its own arguments",
        description="Run SCRIPT with ARGS as 'python SCRIPT ARGS' would, e.g. "
                    "'pynn-multiscale run examples/red_wong_wang.py --simulator brian2 "
                    "--duration 500 --out results/x'. The script's own --help lists its options.")
    p.add_argument("script", metavar="SCRIPT", help="path of the Python script")
    p.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER,
                   help="arguments passed to the script unchanged")
    p.set_defaults(func=run)

    for name, func, text in (("show", show, "print a saved result's details and rates, or a "
                                            "sweep's points"),
                             ("plot", plot, "write a saved result's or a sweep's summary figure "
                                            "(PNG)")):
        p = commands.add_parser(name, help=text, description=func.__doc__)
        p.add_argument("result", metavar="DIR",
                       help="directory written by Result.save() or run(out=...), or a sweep "
                            "folder")
        if name == "plot":
            p.add_argument("--out", help="PNG file to write (default DIR/summary.png)")
            p.add_argument("--monitor", help="TVB monitor to plot (default the first)")
            p.add_argument("--variable", help="TVB variable to plot (default the monitor's first)")
            p.add_argument("--measure", default="rate_hz",
                           help="sweep folder: the summary's measure (default rate_hz)")
            p.add_argument("--x", help="sweep folder: the parameter along x")
            p.add_argument("--y", help="sweep folder: the parameter along y (a heat map)")
            p.add_argument("--select", action="append", metavar="DIM=VALUE",
                           help="sweep folder: keep one value of a dim (repeatable), e.g. "
                                "--select population=r_superiortemporal/E")
        p.set_defaults(func=func)

    p = commands.add_parser(
        "sweep", help="run a parameter sweep of co-simulations on Dask",
        description="Run SCRIPT's point(params, seed) -> CoSimulation for every combination of "
                    "the --grid values and every seed, each in a fresh process on a Dask "
                    "worker, into --out (docs/sweeps.md). Running it again resumes.")
    p.add_argument("script", metavar="SCRIPT",
                   help="Python script defining point(params, seed) -> CoSimulation")
    p.add_argument("--grid", action="append", required=True, metavar="NAME=V1,V2,...",
                   help="a parameter and its values (repeat for each parameter)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds, 0 .. N-1 (default 1)")
    p.add_argument("--duration", type=float, default=1000.0,
                   help="each co-simulation's duration in ms (default 1000)")
    p.add_argument("--out", required=True, help="the sweep's folder")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=int,
                   help="local cluster: worker processes (default cores / cores-per-point)")
    p.add_argument("--cores-per-point", type=int, default=1,
                   help="local cluster: cores per point (2 for pipelined points)")
    p.add_argument("--function", default="point",
                   help="the script's point function (default point)")
    p.add_argument("--extend", action="store_true",
                   help="add this grid's points to an existing sweep folder of another grid")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=sweep)
    return main_parser


def main(argv=None) -> int:
    """Entry point of the ``pynn-multiscale`` console script."""
    from .errors import ConfigurationError
    from .results import ResultIOError

    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ResultIOError, ConfigurationError) as exc:
        if isinstance(exc, ConfigurationError) and args.command == "run":
            raise  # the user's script: its traceback says where
        print(f"pynn-multiscale {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
