"""``facesidecar doctor [--json]``: self-check; exit status 0 when healthy, 1 when not."""

from __future__ import annotations

import argparse
import json

from ..doctor import healthy, render_text, run_checks


def run(args: argparse.Namespace) -> int:
    checks = run_checks(args.config)
    if args.json:
        print(json.dumps({"healthy": healthy(checks), "checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        print(render_text(checks))
    return 0 if healthy(checks) else 1


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "doctor", parents=[parent], help="self-check: exiftool, model files, memory, roots, inotify, database",
        description="Check what facesidecar needs: the config, exiftool with MWG support, the engine's model "
        "files, free memory against what the engine needs, the roots (readable and writable), the state "
        "folder, the inotify watch limit against the number of folders, and the database when the mirror "
        "is on. Exit status 0 when healthy (warnings allowed), 1 when something fails.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)
