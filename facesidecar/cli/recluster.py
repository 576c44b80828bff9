"""``facesidecar recluster``: recompute every cluster of unnamed faces from scratch.

Clusters normally follow each change where it happens (a scan, the daemon); a full recomputation
runs by itself after ``reset`` or a change of model or cluster settings. This command forces one,
for example after changing ``cluster_threshold`` while the daemon keeps running.
"""

from __future__ import annotations

import argparse

from .common import roots_locked, scanner_for, settings_from, target_roots


def run(args: argparse.Namespace) -> int:
    target = target_roots(args, settings_from(args), "recluster")
    if target is None:
        return 2
    settings = target.settings
    with roots_locked(settings, settings.root_paths(), "recluster", wait=not args.no_wait):  # every root's clusters
        with scanner_for(settings) as scanner:
            report = scanner.refresher.recluster()
            keeper = scanner.clusters.keeper
            faces, groups, written = len(keeper.labels), len(keeper.members), scanner.refresher.folders_written
    print(f"{groups} clusters among {faces} unnamed faces; {written} folders written, {len(report.errors)} errors")
    for line in report.error_lines():
        print(line)
    return 1 if report.errors else 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "recluster", parents=[parent], help="recompute every cluster of unnamed faces from scratch",
        description="Recompute the clusters of all unnamed faces of the configured roots (or of PATH) from "
        "scratch and write the folders whose clusters or guesses change. Clusters normally follow each change "
        "by themselves; a full recomputation also runs by itself after 'facesidecar reset' or a change of "
        "model or cluster settings. It takes time proportional to the square of the number of unnamed faces; "
        "the running daemon goes on meanwhile and takes the new clusters over.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="roots to recluster (default: the configured roots)")
    parser.add_argument("--no-wait", action="store_true",
                        help="when a scan or the daemon's catch-up works through these roots, stop (exit 1) "
                        "instead of waiting for it")
    parser.set_defaults(func=run)
