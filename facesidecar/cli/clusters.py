"""``facesidecar clusters [PATH] [--json]``: groups of unnamed faces that look like one person."""

from __future__ import annotations

import argparse
import json

from ..naming_commands import library_settings, list_clusters, remember_listing, sidecar_folders
from .common import existing_paths, settings_from


def run(args: argparse.Namespace) -> int:
    paths = existing_paths(args.paths)
    settings = library_settings(settings_from(args), paths)
    clusters = list_clusters(sidecar_folders(paths or settings.root_paths(), settings.exclude))
    remember_listing(settings, clusters)
    if args.json:
        print(json.dumps([c.to_json(args.samples) for c in clusters], ensure_ascii=False, indent=2))
        return 0
    if not clusters:
        print("no clusters: there are no groups of similar unnamed faces (yet)")
        return 0
    for c in clusters:
        label = f"{c.id} (named)" if c.named else c.id
        print(f"{label}: {c.size} faces in {len(c.photos)} photos")
        for sample in c.samples(args.samples):
            print(f"    {sample}")
    print("\nname one: facesidecar name-cluster ID NAME (guesses only), or type the name into faces.csv")
    return 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "clusters", parents=[parent], help="list groups of unnamed faces (unknown people)",
        description="List the clusters of unnamed faces (the cluster column of faces.csv) with their size "
        "and sample photos, largest first, below PATH (default: the configured roots).",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH")
    parser.add_argument("--samples", type=int, default=5, metavar="N", help="sample photos per cluster (default 5)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)
