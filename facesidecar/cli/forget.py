"""``facesidecar forget NAME [--dry-run]`` and ``forget --photo FILE``: GDPR erasure."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import FacesidecarError
from ..gdpr import ErasureReport, check_person, forget_person, forget_photo, report_json
from ..serve.learning import delete_learned, learned_photos
from .common import scanner_for, settings_from
from .db import library_roots
from .person_match import did_you_mean, library_people, match_person, mention_similar, resolve_names


def print_report(report: ErasureReport, what: str) -> None:
    verb = "would erase" if report.dry_run else "erased"
    totals = report.totals()
    if not report.found:
        print(f"nothing found for {what}: nothing {'to erase' if report.dry_run else 'erased'}")
    else:
        print(f"{verb} for {what}: {totals['confirmed']} confirmed faces, {totals['guessed']} guessed faces, "
              f"{totals['encodings']} encodings, {totals['history']} earlier names, {totals['rejections']} 'not this person' marks, {totals['pending']} pending rows "
              f"in {totals['photos']} photos of {totals['folders']} folders; "
              f"metadata of {totals['metadata_photos']} photos"
              + (f"; {totals['set_aside']} set-aside sidecar copies" if totals["set_aside"] else ""))
        for folder in report.folders:
            for face in folder.faces:
                number = f" face {face.face_nr}" if face.face_nr else ""
                print(f"  {folder.folder / face.file}{number} ({face.how})")
    database = {k: v for k, v in report.database.items() if isinstance(v, int)}
    if report.database.get("queued"):
        print("database: not reachable now; the erasure is queued and done when it is back")
    elif "error" in report.database:
        print(f"database: {report.database['error']}")
    elif database:
        print("database: " + ", ".join(f"{v} {k}" for k, v in database.items()) + (" would go" if report.dry_run else " deleted"))
    if report.thumbnails:
        print(f"the review page's thumbnail cache was emptied ({report.thumbnails} files)")
    for item in report.leftovers:
        print(f"warning: {item}")
    for where, error in report.errors:
        print(f"error: {where}: {error}")


def run(args: argparse.Namespace) -> int:
    if bool(args.name) == bool(args.photo):
        raise FacesidecarError("give either NAME or --photo FILE")
    settings = library_roots(settings_from(args), args.paths)
    match = None
    if args.name:
        match = match_person(check_person(args.name), library_people(settings))
        names = resolve_names(match, "forget", args.yes or args.dry_run)
    with scanner_for(settings) as scanner:
        if args.photo:
            reports = [(forget_photo(scanner, args.photo, dry_run=args.dry_run), args.photo, None)]
        else:
            reports = [_forget_person(scanner, settings, name, args.dry_run) for name in names]
    for report, what, learned in reports:
        if args.json:
            extra = {} if learned is None else {"learned_photos": [str(p) for p in learned]}
            print(json.dumps({**report_json(report), **extra}, ensure_ascii=False, indent=2, default=str))
        else:
            print_report(report, what)
            if learned:
                print(f"{'would delete' if args.dry_run else 'deleted'} {len(learned)} photos that 'serve' kept for "
                      f"learning: {', '.join(str(p) for p in learned)}")
    if match is not None and not any(report.found for report, _, _ in reports):
        print(did_you_mean(match, "forget"), file=sys.stderr)
        return 1
    if match is not None:
        mention_similar(match, "forget")
    return 1 if any(report.errors or report.leftovers for report, _, _ in reports) else 0


def _forget_person(scanner, settings, name: str, dry_run: bool) -> tuple[ErasureReport, str, list]:
    """Erase ``name``, and the photos ``serve`` kept for learning them (found by the name, so first)."""
    learned = learned_photos(settings, name)
    report = forget_person(scanner, settings.root_paths(), name, dry_run=dry_run)
    if learned and not dry_run:
        delete_learned(scanner, learned)
    return report, repr(name), learned


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "forget", parents=[parent], help="GDPR erasure of a person (or of one photo's faces) everywhere",
        description="Erase a person: their name from every faces.csv, the encodings of every face confirmed or "
        "guessed as them from every faces.pkl (those faces are not encoded or guessed again until "
        "'reset --all'), their keywords, regions and PersonInImage from the photos, and their database rows. "
        "With --photo: erase every face of one photo. An erasure log in the state folder records what was "
        "erased (without the name or any face data). --dry-run lists it all and changes nothing. NAME is "
        "matched exactly; if nobody has exactly that name, names equal without case and accents are listed and "
        "erased after a confirmation (--yes). Exit status 1 when nothing was found.",
    )
    parser.add_argument("name", nargs="?", metavar="NAME")
    parser.add_argument("--photo", metavar="FILE", help="erase all face data of this photo instead")
    parser.add_argument("--dry-run", action="store_true", help="list what would be erased, change nothing")
    parser.add_argument("--yes", action="store_true",
                        help="when NAME is not stored exactly but matches names without case and accents "
                        "(zoe: Zoë), erase those without asking")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--root", dest="paths", action="append", default=[], metavar="PATH",
                        help="the library below PATH instead of the configured roots (repeatable)")
    parser.set_defaults(func=run)
