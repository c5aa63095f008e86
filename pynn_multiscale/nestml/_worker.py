"""Generate, compile and check one NEST extension module from NESTML files, in its own process.

Run by :func:`pynn_multiscale.nestml.build` as ``python -m pynn_multiscale.nestml._worker
REQUEST.json``.  NESTML keeps its parse results, options and log in module-level state, and
the new module is loaded into a NEST kernel to check it: both belong in a process of their
own, not in the user's.  The outcome is written as JSON to the request's ``result`` path:

``{"ok": true, "library": ..., "node_models": [...], "synapse_models": [...]}``, or
``{"ok": false, "stage": "parse" | "compile" | "load", "message": ...}``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
from pathlib import Path


def _nestml_errors(files: list[str]) -> list[str]:
    """The ERROR entries of NESTML's log, as 'file:line:column: message'."""
    from pynestml.utils.logger import Logger, LoggingLevel

    lines = []
    for artifact, _node, _level, _code, position, message in Logger.get_messages(
            level=LoggingLevel.ERROR):
        # a syntax error has a position but no file: with one file, it is that one
        name = Path(artifact).name if artifact else (Path(files[0]).name if len(files) == 1 else "")
        where = name
        if position is not None and getattr(position, "start_line", None) is not None:
            where = f"{name}:{position.start_line}:{position.start_column}" if name else \
                f"line {position.start_line}, column {position.start_column}"
        lines.append(f"{where}: {message}" if where else str(message))
    return lines


#: a compiler diagnostic ("file:line:col: error: ...", "fatal error: ..."), a linker
#: error, or CMake's
_FIRST_ERROR = re.compile(r"(\berror\b|CMake Error|undefined reference)", re.IGNORECASE)


def first_error(text: str) -> str:
    """The first error line of a build log (and the line after, for CMake's two-line errors)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if _FIRST_ERROR.search(line) and "Error occurred during" not in line:
            return "\n".join(x.strip() for x in lines[i:i + 2] if x.strip())
    tail = [x for x in lines if x.strip()][-5:]
    return "\n".join(tail)


def generate_and_compile(request: dict) -> dict:
    from pynestml.exceptions.generated_code_build_exception import GeneratedCodeBuildException
    from pynestml.frontend.pynestml_frontend import generate_target

    logs = Path(request["work_dir"]) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            errors_occurred = generate_target(
                request["files"], target_platform="NEST",
                target_path=str(Path(request["work_dir"]) / "code"),
                install_path=request["install_dir"], module_name=request["module_name"],
                logging_level="ERROR",
                codegen_opts={"nest_path": request["nest_prefix"],
                              "redirect_build_output": True, "build_output_dir": str(logs)})
    except GeneratedCodeBuildException as exc:
        build_log = "".join(p.read_text(errors="replace") for p in sorted(logs.glob("*.txt")))
        return {"ok": False, "stage": "compile", "message": first_error(build_log),
                "detail": str(exc), "log": str(logs)}
    errors = _nestml_errors(request["files"])
    if errors_occurred or errors:
        return {"ok": False, "stage": "parse",
                "message": "\n".join(errors) or captured.getvalue().strip()[-2000:]}
    return {"ok": True}


def check_loads(request: dict) -> dict:
    """Load the module into a fresh NEST kernel and list the models it adds."""
    library = Path(request["install_dir"]) / f"{request['module_name']}.so"
    if not library.is_file():
        return {"ok": False, "stage": "compile",
                "message": f"the build finished but {library.name} is not in {library.parent}"}
    os.environ["PYNEST_QUIET"] = "1"
    with contextlib.redirect_stdout(io.StringIO()):
        import nest

        nest.verbosity = nest.VerbosityLevel.ERROR
        nodes, synapses = set(nest.node_models), set(nest.synapse_models)
        try:
            nest.Install(str(library))
        except Exception as exc:  # NEST raises its own error types
            return {"ok": False, "stage": "load", "message": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "library": str(library),
            "node_models": sorted(set(nest.node_models) - nodes),
            "synapse_models": sorted(set(nest.synapse_models) - synapses)}


def main(path: str) -> None:
    request = json.loads(Path(path).read_text())
    result = generate_and_compile(request)
    if result["ok"]:
        result = check_loads(request)
    Path(request["result"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
