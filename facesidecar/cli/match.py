"""``facesidecar match IMAGE…``: who is in a photo, by the confirmed faces; nothing is written."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..compose import build_scanner
from ..naming_commands import library_settings, match_photos
from .common import existing_paths, settings_from


def run(args: argparse.Namespace) -> int:
    settings = library_settings(settings_from(args), existing_paths(args.library))
    scanner = build_scanner(settings, sidecars_only=True)  # match writes nothing
    results = match_photos(scanner, [Path(i) for i in args.images])
    if args.json:
        print(json.dumps([r.to_json() for r in results], ensure_ascii=False, indent=2))
    else:
        for r in results:
            if r.error:
                print(f"{r.path}: {r.error}")
                continue
            if not r.faces:
                print(f"{r.path}: no faces")
            for m in r.faces:
                who = f"{m.name} ({m.distance:.3f})" if m.name and m.distance is not None else m.name or "unknown"
                print(f"{r.path} face {m.face_nr}: {who}")
    return 1 if any(r.error for r in results) else 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "match", parents=[parent], help="who is in a photo (nothing is written)",
        description="Find the faces in each IMAGE and say who they are by the confirmed faces of the configured "
        "roots (without roots: --library PATH). Nothing is written anywhere. "
        "Exit status 1 when a photo could not be read.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("--library", action="append", default=[], metavar="PATH",
                        help="where the confirmed faces are when no roots are configured (repeatable)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)
