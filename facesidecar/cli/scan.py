"""``facesidecar scan PATH…``: one pass over folders, with a progress bar on a terminal and progress
lines elsewhere."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..model import ScanReport
from ..progress import LogLines, Progress, Snapshot
from .common import is_terminal, roots_locked, scanner_for, settings_from, target_roots

log = logging.getLogger(__name__)


class Bar:
    """A progress listener drawing tqdm bars on the terminal: folders while checking, then photos."""

    def __init__(self):
        self.bar = None

    def __call__(self, event: str, snapshot: Snapshot) -> None:
        if event == "checking":
            self._open(snapshot.folders_total, "folder", "checking")
        elif event == "planned":
            self._open(snapshot.photos_total - snapshot.photos_done, "photo", "scanning")
        elif event in ("checked", "photo") and self.bar is not None:
            self.bar.update(1)
        elif event == "folder" and self.bar is not None:
            self.bar.set_postfix_str(Path(snapshot.folder).name, refresh=False)
        elif event == "done":
            self.close()

    def _open(self, total: int, unit: str, desc: str) -> None:
        from tqdm import tqdm

        self.close()
        self.bar = tqdm(total=total, unit=unit, desc=desc, leave=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def scan_progress(terminal: bool, quiet: bool) -> tuple[Progress, Bar | None]:
    """A progress bar on a terminal, a line every half minute elsewhere (cron, a pipe, a log file)."""
    if quiet:
        return Progress("scan"), None
    if terminal:
        bar = Bar()
        return Progress("scan", [bar]), bar
    return Progress("scan", [LogLines(log)]), None


def run_scan(settings, paths, progress=None) -> ScanReport:
    with scanner_for(settings, progress=progress) as scanner:
        return scanner.scan_paths(paths)


def run(args: argparse.Namespace) -> int:
    target = target_roots(args, settings_from(args), "scan")
    if target is None:
        return 2
    progress, bar = scan_progress(is_terminal(), args.quiet)
    with roots_locked(target.settings, target.paths, "scan", wait=not args.no_wait):
        try:
            report = run_scan(target.settings, target.paths, progress)
        finally:
            if bar is not None:
                bar.close()
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
    parser.add_argument("--no-wait", action="store_true",
                        help="when another scan or the daemon's catch-up works through these folders, say which "
                        "process it is and stop (exit 1) instead of waiting for it")
    parser.set_defaults(func=run)
