"""Finding photo folders below the roots and listing the photos in one.

Everything here treats the tree as hostile input: symbolic links are not followed, dotfiles and
our own sidecars are never photos, and a folder that cannot be read is reported, never taken for
an empty one. The in-memory index of the faces in these folders is :mod:`facesidecar.faceindex`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .store import SIDECAR_NAMES, confined
from .store.confined import RefusedFile
from .store.leftovers import is_csv_leftover

log = logging.getLogger(__name__)

NOFACES_MARKER = ".nofaces"


def is_photo_name(name: str, extensions: Iterable[str]) -> bool:
    """Whether ``name`` is a photo by its extension (``photo.jpg `` too: a trailing space is part of a
    file name a Mac or a sync client may leave, not another kind of file)."""
    return not name.startswith(".") and name not in SIDECAR_NAMES and \
        os.path.splitext(name)[1].rstrip().lower() in extensions


def walk_folders(paths: Iterable[Path], exclude: list[str]) -> Iterator[Path]:
    """Every folder below ``paths`` that is not excluded and has no ``.nofaces`` file.

    The walk goes through the confined layer: each folder is opened from the one above it without
    following links, so a symbolic link (to a folder outside the root or inside it) is skipped and
    reported once, never followed (no loops, nothing outside the tree, see SECURITY.md); a folder
    that cannot be read is reported and skipped, never treated as empty.
    """
    for top in paths:
        top = Path(top)
        if confined.is_regular(top):
            yield top.parent
            continue
        try:
            folder = confined.Folder.open(top)
        except RefusedFile as exc:
            confined.report_once(exc.path, exc.reason)
            continue
        except OSError as exc:
            _report_walk_error(exc, top)
            continue
        yield from _walk(folder, exclude)


def _walk(folder: confined.Folder, exclude: list[str]) -> Iterator[Path]:
    """``folder`` and the folders below it, depth first in name order; closes ``folder``."""
    with folder:
        try:
            entries = sorted(folder.scandir(), key=lambda e: e.name)
        except OSError as exc:
            _report_walk_error(exc, folder.path)
            return
        if any(e.name == NOFACES_MARKER for e in entries):
            return
        yield folder.path
        for entry in entries:
            if entry.name.startswith(".") or _excluded(entry.name, exclude):
                continue
            if entry.is_symlink() and entry.name not in SIDECAR_NAMES:  # the store reports those
                confined.report_once(folder.path / entry.name, confined.not_regular(stat.S_IFLNK))
            elif entry.is_dir(follow_symlinks=False):
                try:
                    below = folder.subfolder(entry.name)
                except RefusedFile as exc:
                    confined.report_once(exc.path, exc.reason)
                    continue
                except OSError as exc:
                    _report_walk_error(exc, folder.path / entry.name)
                    continue
                yield from _walk(below, exclude)


def _excluded(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def _report_walk_error(exc: OSError, folder: Path) -> None:
    log.error("cannot read folder %s: %s (check its permissions); skipped", folder, exc.strerror)


@dataclass
class FolderListing:
    """What one read of a folder tells the scanner: its photos, and whether a save may wait in a
    killed writer's temporary faces.csv (store/leftovers.py), which only a transaction merges."""

    photos: dict[str, os.stat_result]
    leftovers: bool = False


def list_folder(folder: Path, extensions: Iterable[str]) -> FolderListing:
    """The photos of ``folder`` (name -> stat of each regular file) and whether it holds leftovers.

    The folder is reached through the confined layer (RefusedFile when it is a link); a photo name
    that is not a regular file (a link, a FIFO, a socket) is reported once and left out.
    """
    listing = FolderListing({})
    with confined.opened(folder) as opened:
        for entry in opened.scandir():
            if is_csv_leftover(entry.name):
                listing.leftovers = True
            if not is_photo_name(entry.name, extensions):
                continue
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode):
                listing.photos[entry.name] = info
            elif not stat.S_ISDIR(info.st_mode):
                confined.report_once(folder / entry.name, confined.not_regular(info.st_mode))
    return listing


def list_photos(folder: Path, extensions: Iterable[str]) -> dict[str, os.stat_result]:
    """Photo file name -> stat of the regular files in ``folder`` (see :func:`list_folder`)."""
    return list_folder(folder, extensions).photos


def file_sha256(path: Path) -> str:
    """The content hash of a photo: how a moved or renamed photo is recognised (the regular file at
    ``path``, reached through the confined layer)."""
    digest = hashlib.sha256()
    with confined.open_file(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
