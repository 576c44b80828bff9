"""``facesidecar reset PATH [--guesses | --errors | --all [--names]]``: start parts over.

Confirmed names survive every reset except ``--all --names``.
"""

from __future__ import annotations

import argparse

from ..config import Settings
from ..errors import FacesidecarError
from ..folders import walk_folders
from ..liveclusters import clusters_marker
from ..model import FolderState
from ..store.folder import FolderStore
from .common import existing_paths, settings_from


def reset_guesses(state: FolderState) -> None:
    for _, face in state.faces():
        face.guess, face.distance, face.cluster = "", None, ""


def reset_errors(state: FolderState) -> None:
    for photo in state.photos.values():
        if photo.error:
            photo.size, photo.error = -1, ""


def reset_all(state: FolderState, names: bool) -> None:
    """Forget detections, rejections and erasure marks; keep named faces unless ``names``."""
    for photo in state.photos.values():
        keep = [] if names else [f for f in photo.faces if f.name]
        for face in keep:
            face.rejected = face.forgotten = False
        photo.faces, photo.size, photo.model, photo.error = keep, -1, "", ""
        photo.imported = photo.imported and not names


def forget_clusters(settings: Settings) -> None:
    """The next scan (or the running daemon) recomputes every cluster: the stored ones are gone."""
    try:
        clusters_marker(settings).unlink(missing_ok=True)
    except OSError as exc:
        raise FacesidecarError(f"cannot remove {clusters_marker(settings)}: {exc.strerror}; remove it by hand "
                               "so that clusters are recomputed") from None


def run(args: argparse.Namespace) -> int:
    if args.names and not args.all:
        raise FacesidecarError("--names only goes with --all (it erases confirmed names)")
    if not (args.guesses or args.errors or args.all):
        raise FacesidecarError("say what to reset: --guesses, --errors or --all")
    settings = settings_from(args)
    count = 0
    for folder in walk_folders(existing_paths(args.paths), settings.exclude):
        store = FolderStore(folder)
        if not store.exists():
            continue
        with store.transaction() as txn:
            if args.guesses:
                reset_guesses(txn.state)
            if args.errors:
                reset_errors(txn.state)
            if args.all:
                reset_guesses(txn.state)
                reset_all(txn.state, args.names)
        count += 1
    if args.guesses or args.all:
        forget_clusters(settings)
    print(f"reset {count} folders; run 'facesidecar scan' (or let the daemon) to redo the work")
    return 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "reset", parents=[parent], help="start parts over: guesses, errors, or everything but names",
        description="Reset state below PATH. Confirmed names survive unless --all --names is given.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument("--guesses", action="store_true", help="drop guesses and clusters (recomputed next scan)")
    parser.add_argument("--errors", action="store_true", help="retry photos that failed")
    parser.add_argument("--all", action="store_true", help="redo detection; brings back rejected and erased faces")
    parser.add_argument("--names", action="store_true", help="with --all: erase confirmed names too")
    parser.set_defaults(func=run)
