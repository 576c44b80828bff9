"""``facesidecar name-cluster ID NAME``: suggest NAME for a cluster's faces (guesses only)."""

from __future__ import annotations

import argparse
import shlex

from ..naming_commands import library_settings, listed_faces, name_cluster, sidecar_folders
from .common import existing_paths, scanner_for, settings_from


def run(args: argparse.Namespace) -> int:
    paths = existing_paths(args.paths)
    settings = library_settings(settings_from(args), paths)
    folders = sidecar_folders(settings.root_paths(), settings.exclude)
    with scanner_for(settings) as scanner:
        count = name_cluster(scanner, folders, args.id, args.name, listed_faces(settings, args.id))
    print(f"cluster {args.id}: {count} faces now guessed as {args.name!r}; confirm them in faces.csv, on the "
          f"review page, or with:\n  facesidecar confirm --name {shlex.quote(args.name)}")
    return 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "name-cluster", parents=[parent], help="guess NAME for all faces of a cluster",
        description="Give the unnamed faces of cluster ID (see 'facesidecar clusters') the guess NAME. Nothing "
        "is confirmed: confirm the faces that really are NAME in faces.csv or with 'facesidecar confirm'. "
        "A cluster id stays with the same faces across scans; a cluster that gained or lost faces since "
        "'facesidecar clusters' listed it is refused (list it again and look at its photos).",
    )
    parser.add_argument("id", metavar="ID", help="the cluster id, e.g. u2696728621")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--root", dest="paths", action="append", default=[], metavar="PATH",
                        help="where the cluster is when no roots are configured (repeatable)")
    parser.set_defaults(func=run)
