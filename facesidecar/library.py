"""Finding photo folders and keeping an in-memory index of every face in them.

The index is what guessing and clustering work on: all confirmed faces across all roots form the
gallery, all unnamed faces are candidates for guesses and clusters. It is rebuilt from faces.pkl
files (read-only, no lock) and updated after every folder transaction.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model import IGNORE, FolderState
from .store import SIDECAR_NAMES
from .store.folder import FolderStore
from .store.leftovers import is_csv_leftover

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


@dataclass
class FolderListing:
    """What one read of a folder tells the scanner: its photos, and whether a save may wait in a
    killed writer's temporary file (store/leftovers.py), which only a transaction merges."""

    photos: dict[str, os.stat_result]
    leftovers: bool = False


def list_folder(folder: Path, extensions: Iterable[str]) -> FolderListing:
    """The photos of ``folder`` (regular files; symlinks are not followed) and its leftovers."""
    listing = FolderListing({})
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_photo_name(entry.name, extensions) and entry.is_file(follow_symlinks=False):
                listing.photos[entry.name] = entry.stat(follow_symlinks=False)
            elif is_csv_leftover(entry.name):
                listing.leftovers = True
    return listing


def list_photos(folder: Path, extensions: Iterable[str]) -> dict[str, os.stat_result]:
    """Photo file name -> stat of the regular files in ``folder`` (symlinks are not followed)."""
    return list_folder(folder, extensions).photos


@dataclass
class IndexedFace:
    folder: Path
    file: str
    face_id: str
    name: str
    guess: str
    distance: float | None
    cluster: str
    vector: np.ndarray
    not_names: tuple[str, ...] = ()


class Library:
    """Every visible face with an encoding of the primary model, by folder."""

    def __init__(self, model: str):
        self.model = model
        self.folders: dict[Path, list[IndexedFace]] = {}
        self.confirmed_version = 0
        """Changes whenever the set of confirmed faces (or their names) changes: a gallery cache key."""

    def set_folder(self, folder: Path, state: FolderState) -> None:
        faces = []
        for photo, face in state.faces():
            vector = face.encodings.get(self.model)
            if face.visible and vector is not None:
                faces.append(IndexedFace(folder, photo.file, face.face_id, face.name, face.guess,
                                         face.distance, face.cluster, vector, tuple(face.not_names)))
        if _confirmed_ids(self.folders.get(folder, [])) != _confirmed_ids(faces):
            self.confirmed_version += 1
        self.folders[folder] = faces

    def drop_folder(self, folder: Path) -> None:
        if _confirmed_ids(self.folders.pop(folder, [])):
            self.confirmed_version += 1

    def drop_person(self, name: str) -> None:
        """Forget every face confirmed or guessed as ``name`` (GDPR erasure), until folders are re-read."""
        for folder, faces in self.folders.items():
            kept = [f for f in faces if name not in (f.name, f.guess)]
            if _confirmed_ids(kept) != _confirmed_ids(faces):
                self.confirmed_version += 1
            self.folders[folder] = kept

    def load(self, folders: Iterable[Path]) -> None:
        """Index the folders not indexed yet (read-only: no lock, no merge)."""
        for folder in folders:
            if folder not in self.folders and FolderStore(folder).pkl_path.exists():
                self.set_folder(folder, FolderStore(folder).load())

    def all_faces(self) -> Iterator[IndexedFace]:
        for faces in self.folders.values():
            yield from faces

    def confirmed(self) -> list[IndexedFace]:
        return [f for f in self.all_faces() if f.name and f.name != IGNORE]

    def unnamed(self) -> list[IndexedFace]:
        return [f for f in self.all_faces() if not f.name]


def _confirmed_ids(faces: list[IndexedFace]) -> list[tuple[str, str]]:
    return [(f.face_id, f.name) for f in faces if f.name and f.name != IGNORE]
