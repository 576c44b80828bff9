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

from .clusters import ClusterChanges
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
    """Every visible face with an encoding of the primary model, by folder.

    Besides the faces it keeps what changed since someone last looked (``changes`` for the
    clusters, ``confirmed_changes`` for the guesses), so that a change is followed up where it
    matters instead of across the whole library.
    """

    def __init__(self, model: str):
        self.model = model
        self.folders: dict[Path, list[IndexedFace]] = {}
        self.unnamed_faces: dict[str, IndexedFace] = {}
        self.confirmed_faces: dict[str, IndexedFace] = {}
        self.confirmed_version = 0
        """Changes whenever the set of confirmed faces (or their names) changes: a gallery cache key."""
        self.version = 0
        """Changes whenever any folder's faces are set or dropped: a cache key for the unnamed faces."""
        self.changes = ClusterChanges()
        self.confirmed_changes: list[IndexedFace] = []
        """Confirmed faces added, removed or renamed (their old and new entries)."""

    def set_folder(self, folder: Path, state: FolderState) -> None:
        faces = []
        for photo, face in state.faces():
            vector = face.encodings.get(self.model)
            if face.visible and vector is not None:
                faces.append(IndexedFace(folder, photo.file, face.face_id, face.name, face.guess,
                                         face.distance, face.cluster, vector, tuple(face.not_names), face.why))
        self._replace(folder, faces)

    def _replace(self, folder: Path, faces: list[IndexedFace] | None) -> None:
        """Put ``faces`` (None: nothing) in the place of the folder's faces, noting what changed."""
        old = self.folders.get(folder, [])
        new = faces or []
        if faces is None:
            self.folders.pop(folder, None)
        else:
            self.folders[folder] = faces
        self.version += 1
        self._note_confirmed(old, new)
        self._note_unnamed(old, new)

    def _note_confirmed(self, old: list[IndexedFace], new: list[IndexedFace]) -> None:
        for face in old:
            if self.confirmed_faces.get(face.face_id) is face:
                del self.confirmed_faces[face.face_id]
        self.confirmed_faces.update((f.face_id, f) for f in new if f.name and f.name != IGNORE)
        before, after = _confirmed_ids(old), _confirmed_ids(new)
        if before != after:
            self.confirmed_version += 1
            self.confirmed_changes.extend(f for f in old if (f.face_id, f.name) in before - after)
            self.confirmed_changes.extend(f for f in new if (f.face_id, f.name) in after - before)

    def _note_unnamed(self, old: list[IndexedFace], new: list[IndexedFace]) -> None:
        before = {f.face_id: f for f in old if not f.name}
        after = {f.face_id: f for f in new if not f.name}
        for face_id, face in before.items():
            if face_id not in after:
                self.changes.left.add(face_id)
                if self.unnamed_faces.get(face_id) is face:
                    del self.unnamed_faces[face_id]
        for face_id, face in after.items():
            previous = before.get(face_id)
            if previous is None or not np.array_equal(previous.vector, face.vector):
                self.changes.joined.add(face_id)
            elif previous.cluster != face.cluster:
                self.changes.relabeled[face_id] = face.cluster
            self.unnamed_faces[face_id] = face

    def take_changes(self) -> tuple[ClusterChanges, list[IndexedFace]]:
        """What changed since the last call (and forget it)."""
        changes, confirmed = self.changes, self.confirmed_changes
        self.changes, self.confirmed_changes = ClusterChanges(), []
        return changes, confirmed

    def drop_folder(self, folder: Path) -> None:
        self._replace(folder, None)

    def drop_person(self, name: str) -> None:
        """Forget every face confirmed or guessed as ``name`` (GDPR erasure), until folders are re-read."""
        for folder, faces in list(self.folders.items()):
            self._replace(folder, [f for f in faces if name not in (f.name, f.guess)])

    def load(self, folders: Iterable[Path]) -> None:
        """Index the folders not indexed yet (read-only: no lock, no merge)."""
        for folder in folders:
            if folder not in self.folders and confined.lstat(FolderStore(folder).pkl_path) is not None:
                self.set_folder(folder, FolderStore(folder).load())

    def all_faces(self) -> Iterator[IndexedFace]:
        for faces in self.folders.values():
            yield from faces

    def confirmed(self) -> list[IndexedFace]:
        return list(self.confirmed_faces.values())

    def unnamed(self) -> list[IndexedFace]:
        return [f for f in self.all_faces() if not f.name]


def _confirmed_ids(faces: list[IndexedFace]) -> set[tuple[str, str]]:
    return {(f.face_id, f.name) for f in faces if f.name and f.name != IGNORE}
