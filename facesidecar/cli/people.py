"""``facesidecar people [PATH] [--json]``: every name with its confirmed and guessed counts."""

from __future__ import annotations

import argparse
import json

from ..naming_commands import library_settings, people_counts, sidecar_folders
from .common import existing_paths, settings_from


def run(args: argparse.Namespace) -> int:
    paths = existing_paths(args.paths)
    settings = library_settings(settings_from(args), paths)
    people = people_counts(sidecar_folders(paths or settings.root_paths(), settings.exclude))
    if args.json:
        print(json.dumps([p.to_json() for p in people], ensure_ascii=False, indent=2))
        return 0
    if not people:
        print("nobody named or guessed yet: type names into faces.csv or use 'facesidecar name'")
        return 0
    width = max(len("person"), *(len(p.name) for p in people))
    print(f"{'person':<{width}}  confirmed  guessed  photos")
    for p in people:
        print(f"{p.name:<{width}}  {p.confirmed:>9}  {p.guessed:>7}  {len(p.photos):>6}")
    return 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "people", parents=[parent], help="names with confirmed and guessed counts",
        description="Every person with the number of confirmed faces, guessed faces and photos with a confirmed "
        "face, below PATH (default: the configured roots).",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)
