"""The ``pynn-multiscale`` command.

::

    pynn-multiscale info                        what is installed, with versions
    pynn-multiscale run SCRIPT [ARGS...]        run a co-simulation script
    pynn-multiscale show RESULT_DIR             a saved result: run details and rates
    pynn-multiscale plot RESULT_DIR [--out F]   write a saved result's summary figure

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


def run(args) -> int:
    """Run a script as ``python SCRIPT ARGS...`` would, in this interpreter."""
    script = Path(args.script)
    if not script.is_file():
        print(f"pynn-multiscale run: SCRIPT={str(script)!r} is not a file. Fix: pass the path of "
              "a Python script, e.g. examples/red_wong_wang.py", file=sys.stderr)
        return 2
    sys.argv = [str(script)] + list(args.args)
    sys.path.insert(0, str(script.resolve().parent))
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


def show(args) -> int:
    """Print a saved result's run details and every population's rate, CV and Fano factor."""
    from .analysis import population_summary

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


def plot(args) -> int:
    """Write a saved result's summary figure (see :func:`pynn_multiscale.plot.summary`)."""
    from .plot import summary

    result = _load(args.result)
    out = Path(args.out) if args.out else Path(args.result) / "summary.png"
    summary(result, out, monitor=args.monitor, variable=args.variable)
    print(f"wrote {out}")
    return 0


def example_parser(description: str) -> argparse.ArgumentParser:
    """The command line every example in ``examples/`` shares.

    ``--simulator`` (nest, brian2, neuron or annarchy), ``--duration`` (ms),
    ``--out`` (a result folder) and ``--seed`` (the one seed); an example adds
    its model's own options.  :func:`finish_example` writes what it promises.
    """
    from .backends import SIMULATORS

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--simulator", choices=sorted(SIMULATORS), default="nest",
                   help="spiking simulator (default nest)")
    p.add_argument("--duration", type=float, default=1000.0, help="biological time in ms")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=42, help="the one seed (default 42)")
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

    for name, func, text in (("show", show, "print a saved result's details and rates"),
                             ("plot", plot, "write a saved result's summary figure (PNG)")):
        p = commands.add_parser(name, help=text, description=func.__doc__)
        p.add_argument("result", metavar="RESULT_DIR",
                       help="directory written by Result.save() or run(out=...)")
        if name == "plot":
            p.add_argument("--out", help="PNG file to write (default RESULT_DIR/summary.png)")
            p.add_argument("--monitor", help="TVB monitor to plot (default the first)")
            p.add_argument("--variable", help="TVB variable to plot (default the monitor's first)")
        p.set_defaults(func=func)
    return main_parser


def main(argv=None) -> int:
    """Entry point of the ``pynn-multiscale`` console script."""
    from .results import ResultIOError

    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ResultIOError) as exc:
        print(f"pynn-multiscale {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
