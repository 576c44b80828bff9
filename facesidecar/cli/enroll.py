"""``facesidecar enroll NAME PHOTO|DIR…``: the largest face of each photo becomes NAME."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import FacesidecarError
from ..naming_commands import enroll, enroll_photos, library_settings, roots_for_photos
from .common import scanner_for, settings_from


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    raw = [Path(p) for p in args.photos]
    photos = enroll_photos(raw, settings.extensions)
    refuse_outside_roots(photos, settings)
    settings = library_settings(settings, roots_for_photos(photos))
    with scanner_for(settings) as scanner:
        outcome = enroll(scanner, args.name, raw, force=args.force)
    for item in outcome.named:
        print(f"{item.path} face {item.face_nr}: {item.new}" + (f" (was {item.old!r})" if item.old else ""))
    for path in outcome.unchanged:
        print(f"{path}: already {args.name}")
    for path, why in outcome.failed:
        print(f"{path}: not enrolled: {why}")
    print(f"{args.name}: {len(outcome.named)} photos enrolled, {len(outcome.unchanged)} already, "
          f"{len(outcome.failed)} not enrolled")
    return 1 if outcome.failed else 0


def refuse_outside_roots(photos: list[Path], settings) -> None:
    """Everything facesidecar writes must lie below its roots, where ``forget`` and ``export`` find it."""
    roots = [r.resolve() for r in settings.root_paths()]
    outside = [p for p in photos if roots and not any(p.resolve().is_relative_to(r) for r in roots)]
    if outside:
        listed = ", ".join(str(p) for p in outside[:3]) + (f" and {len(outside) - 3} more" if len(outside) > 3 else "")
        raise FacesidecarError(
            f"{listed}: outside the configured roots ({', '.join(map(str, roots))}); facesidecar keeps names only"
            " below its roots, where 'forget' and 'export' find them. Move the photos below a root, or add their"
            " folder as a [[roots]] entry in the config")


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "enroll", parents=[parent], help="name the largest face of each photo (a folder per person)",
        description="Confirm NAME for the largest face of each PHOTO (and of each photo directly inside DIR), "
        "scanning their folders first where needed. A largest face that already has another name keeps it "
        "unless --force. Exit status 1 when a photo could not be enrolled.",
    )
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("photos", nargs="+", metavar="PHOTO|DIR")
    parser.add_argument("--force", action="store_true", help="also rename largest faces that have another name")
    parser.set_defaults(func=run)
