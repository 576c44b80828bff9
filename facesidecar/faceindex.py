"""The in-memory index of every face in the library's folders.

The index is what guessing and clustering work on: all confirmed faces across all roots form the
gallery, all unnamed faces are candidates for guesses and clusters. It is rebuilt from faces.pkl
files (read-only, no lock) and updated after every folder transaction. Finding the folders is
:mod:`facesidecar.folders`; keeping a long-lived index current is :mod:`facesidecar.librarysync`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .model import IGNORE, FolderState
from .store import confined
from .store.folder import FolderStore


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
    why: dict = field(default_factory=dict)
    """What the face's last guess weighed (``Face.why``): a refresh rewrites the folder when that changes."""


class Library:
    """Every visible face with an encoding of the primary model, by folder."""

    def __init__(self, model: str):
        self.model = model
        self.folders: dict[Path, list[IndexedFace]] = {}
        self.confirmed_version = 0
        """Changes whenever the set of confirmed faces (or their names) changes: a gallery cache key."""
        self.version = 0
        """Changes whenever any folder's faces are set or dropped: a cache key for the unnamed faces."""

    def set_folder(self, folder: Path, state: FolderState) -> None:
        faces = []
        for photo, face in state.faces():
            vector = face.encodings.get(self.model)
            if face.visible and vector is not None:
                faces.append(IndexedFace(folder, photo.file, face.face_id, face.name, face.guess,
                                         face.distance, face.cluster, vector, tuple(face.not_names), face.why))
        if _confirmed_ids(self.folders.get(folder, [])) != _confirmed_ids(faces):
            self.confirmed_version += 1
        self.folders[folder] = faces
        self.version += 1

    def drop_folder(self, folder: Path) -> None:
        if _confirmed_ids(self.folders.pop(folder, [])):
            self.confirmed_version += 1
        self.version += 1

    def drop_person(self, name: str) -> None:
        """Forget every face confirmed or guessed as ``name`` (GDPR erasure), until folders are re-read."""
        for folder, faces in self.folders.items():
            kept = [f for f in faces if name not in (f.name, f.guess)]
            if _confirmed_ids(kept) != _confirmed_ids(faces):
                self.confirmed_version += 1
            self.folders[folder] = kept
        self.version += 1

    def load(self, folders: Iterable[Path]) -> None:
        """Index the folders not indexed yet (read-only: no lock, no merge)."""
        for folder in folders:
            if folder not in self.folders and confined.lstat(FolderStore(folder).pkl_path) is not None:
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
