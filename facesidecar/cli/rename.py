"""``facesidecar rename OLD NEW``: rename a person everywhere."""

from __future__ import annotations

import argparse

from ..naming_commands import library_settings, rename_person, sidecar_folders
from .common import existing_paths, scanner_for, settings_from


def run(args: argparse.Namespace) -> int:
    paths = existing_paths(args.paths)
    settings = library_settings(settings_from(args), paths)
    folders = sidecar_folders(settings.root_paths(), settings.exclude)
    with scanner_for(settings) as scanner:
        done = rename_person(scanner, folders, args.old, args.new)
    photos = {n.path for n in done}
    print(f"renamed {args.old!r} to {args.new!r} on {len(done)} face" + ("s" if len(done) != 1 else "")
          + f" in {len(photos)} photo" + ("s" if len(photos) != 1 else ""))
    return 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "rename", parents=[parent], help="rename a person everywhere",
        description="Change every confirmed OLD to NEW in all faces.csv files and photos of the configured roots "
        "(without roots: below --root PATH). If NEW already exists, the two become one person.",
    )
    parser.add_argument("old", metavar="OLD")
    parser.add_argument("new", metavar="NEW")
    parser.add_argument("--root", dest="paths", action="append", default=[], metavar="PATH",
                        help="where to rename when no roots are configured (repeatable)")
    parser.set_defaults(func=run)
