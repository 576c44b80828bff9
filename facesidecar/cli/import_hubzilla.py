"""``facesidecar import-hubzilla PATH… [--dry-run]``: names from the Hubzilla faces add-on."""

from __future__ import annotations

import argparse

from ..hubzilla_import import ALREADY, CONFLICT, IMPORTED, NO_PHOTO, REFUSED, UNMATCHED, ImportReport, import_hubzilla
from .common import is_terminal, roots_locked, scanner_for, settings_from, target_roots
from .scan import scan_progress

SHOWN = {IMPORTED: "would import", ALREADY: "already named", CONFLICT: "not imported", UNMATCHED: "no face found",
         REFUSED: "refused", NO_PHOTO: "no photo"}


def print_report(report: ImportReport, every_name: bool) -> None:
    """Per folder where the names came from and, one per line, every name that was not imported
    (or, with ``every_name``, every name); then the totals."""
    for item in report.folders:
        if item.error:
            print(f"{item.folder}: error: {item.error}")
            continue
        kept = f"; kept the add-on's files as {', '.join(item.kept)}" if item.kept else ""
        print(f"{item.folder}: {item.count(IMPORTED)} names {'to import' if report.dry_run else 'imported'}, "
              f"{item.count(ALREADY)} already there (names from {item.source}{kept})")
        for outcome in item.outcomes:
            if outcome.result in (IMPORTED, ALREADY) and not every_name:
                continue
            verb = "imported" if outcome.result == IMPORTED and not report.dry_run else SHOWN[outcome.result]
            detail = f" ({outcome.detail})" if outcome.detail else ""
            print(f"  {outcome.file} face {outcome.face_nr}: {outcome.name}: {verb}{detail}")
    unplaced = report.count(UNMATCHED) + report.count(NO_PHOTO)
    print(f"{len(report.folders)} folders with the add-on's names: {report.count(IMPORTED)} names "
          f"{'to import' if report.dry_run else 'imported'}, {report.count(ALREADY)} already there, "
          f"{unplaced} unmatched, {report.count(CONFLICT)} conflicts, {report.count(REFUSED)} refused, "
          f"{len(report.errors)} folders with errors" + (" (dry run: nothing written)" if report.dry_run else ""))


def run(args: argparse.Namespace) -> int:
    target = target_roots(args, settings_from(args), "import")
    if target is None:
        return 2
    progress, bar = scan_progress(is_terminal(), args.quiet)
    locked = [] if args.dry_run else target.paths  # it scans the folders: not at the same time as a scan of them
    with roots_locked(target.settings, locked, "scan"):
        try:
            with scanner_for(target.settings, progress=progress) as scanner:
                report = import_hubzilla(scanner, target.paths, dry_run=args.dry_run)
        finally:
            if bar is not None:
                bar.close()
    print_report(report, every_name=args.dry_run or args.verbose > 0)
    return 1 if report.errors else 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "import-hubzilla", parents=[parent], help="take the names typed into the Hubzilla faces add-on's faces.csv",
        description="Find the faces.csv files of the Hubzilla 'faces' add-on below each PATH (told apart from "
        "facesidecar's own by their header) and confirm every name typed there (-ignore- included) on the face "
        "facesidecar detects at the same place. The add-on's faces.csv and faces.pkl are kept, unchanged, as "
        "faces.hubzilla.csv and faces.hubzilla.pkl before facesidecar writes its own faces.csv and faces.pkl; the "
        "add-on's faces.pkl is never unpickled. Faces already named keep their name (reported as conflicts); "
        "names whose place matches no face are reported (with --dry-run or -v: every name). Exit status 1 when a "
        "folder could not be imported.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument("--dry-run", action="store_true", help="show what would be imported; write nothing")
    parser.set_defaults(func=run)
