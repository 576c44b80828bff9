"""Finding photo folders below the roots and listing the photos in one.

Everything here treats the tree as hostile input: symbolic links are not followed, dotfiles and
our own sidecars are never photos, and a folder that cannot be read is reported, never taken for
an empty one. The in-memory index of the faces in these folders is :mod:`facesidecar.faceindex`.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .store import SIDECAR_NAMES

log = logging.getLogger(__name__)

NOFACES_MARKER = ".nofaces"


def is_photo_name(name: str, extensions: Iterable[str]) -> bool:
    return not name.startswith(".") and name not in SIDECAR_NAMES and os.path.splitext(name)[1].lower() in extensions


def walk_folders(paths: Iterable[Path], exclude: list[str]) -> Iterator[Path]:
    """Every folder below ``paths`` that is not excluded and has no ``.nofaces`` file.

    Symbolic links to folders are not followed (no loops, nothing outside the tree); a folder
    that cannot be read is reported and skipped, never treated as empty.
    """
    for top in paths:
        top = Path(top)
        if top.is_file():
            yield top.parent
            continue
        for current, dirs, files in os.walk(top, onerror=_report_walk_error):
            if NOFACES_MARKER in files:
                dirs.clear()
                continue
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _excluded(d, exclude))
            yield Path(current)


def _excluded(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def _report_walk_error(exc: OSError) -> None:
    log.error("cannot read folder %s: %s (check its permissions); skipped", exc.filename, exc.strerror)


def list_photos(folder: Path, extensions: Iterable[str]) -> dict[str, os.stat_result]:
    """Photo file name -> stat of the regular files in ``folder`` (symlinks are not followed)."""
    found = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_photo_name(entry.name, extensions) and entry.is_file(follow_symlinks=False):
                found[entry.name] = entry.stat(follow_symlinks=False)
    return found
