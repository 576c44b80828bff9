"""``facesidecar confirm [PATH] [--name N] [--max-distance D]``: turn guesses into names."""

from __future__ import annotations

import argparse

from ..names import clean_name
from ..naming_commands import confirm_guesses, library_settings, sidecar_folders
from .common import existing_paths, scanner_for, settings_from


def run(args: argparse.Namespace) -> int:
    paths = existing_paths(args.paths)
    settings = library_settings(settings_from(args), paths)
    name = clean_name(args.name, allow_empty=False) if args.name is not None else None
    folders = sidecar_folders(paths or settings.root_paths(), settings.exclude)
    with scanner_for(settings) as scanner:
        done = confirm_guesses(scanner, folders, name, args.max_distance, args.dry_run)
    for item in done:
        distance = "" if item.distance is None else f" ({item.distance:.3f})"
        print(f"{item.path} face {item.face_nr}: {item.new}{distance}")
    verb = "would confirm" if args.dry_run else "confirmed"
    print(f"{verb} {len(done)} guess" + ("es" if len(done) != 1 else ""))
    return 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "confirm", parents=[parent], help="accept guesses: turn them into confirmed names",
        description="Turn the guesses below PATH (default: the configured roots) "
        "into confirmed names, as if you had typed them into faces.csv. --name and --max-distance "
        "limit which guesses are taken; --dry-run only lists them.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="folders or photos' folders")
    parser.add_argument("--name", metavar="N", help="only guesses of this person")
    parser.add_argument("--max-distance", metavar="D", type=float, help="only guesses at most this far from a confirmed face")
    parser.add_argument("--dry-run", action="store_true", help="list what would be confirmed, change nothing")
    parser.set_defaults(func=run)
