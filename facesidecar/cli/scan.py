"""``facesidecar scan PATH…``: one pass over folders, with a progress bar on a terminal."""

from __future__ import annotations

import argparse
import logging

from ..config import with_roots
from ..scan import ScanReport
from .common import existing_paths, is_terminal, scanner_for, settings_from

log = logging.getLogger(__name__)


class Progress:
    """A tqdm bar over the photos to decode; silent when stderr is not a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __call__(self, step: int) -> None:
        if not self.enabled:
            return
        if step >= 0:
            from tqdm import tqdm

            self.close()
            self.bar = tqdm(total=step, unit="photo", desc="scanning", leave=False)
        elif self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_scan(settings, paths, progress=None) -> ScanReport:
    with scanner_for(settings, progress=progress) as scanner:
        return scanner.scan_paths(paths)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    paths = existing_paths(args.paths) if args.paths else settings.root_paths()
    if not paths:
        log.error("nothing to scan: give a folder (facesidecar scan ~/Pictures) or set [[roots]] in the config")
        return 2
    if not settings.roots:
        settings = with_roots(settings, [str(p) for p in paths])
    progress = Progress(is_terminal() and not args.quiet)
    try:
        report = run_scan(settings, paths, progress)
    finally:
        progress.close()
    print(report.summary())
    if report.errors:
        print("photos that failed are retried when they change; 'facesidecar status' lists them")
    return 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "scan", parents=[parent], help="one pass: find faces in new/changed photos, guess names, write sidecars",
        description="Scan folders once: detect faces in new or changed photos, merge edits of faces.csv, "
        "guess names, write faces.csv/faces.pkl and the confirmed names into the photos. "
        "Exit status is non-zero only for fatal errors; photos that fail are listed and retried when they change.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="folders or photos (default: the configured roots)")
    parser.set_defaults(func=run)
