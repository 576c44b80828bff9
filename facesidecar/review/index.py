"""A read-only view of the library for the pages: every visible face, where it is, who it is.

Folders are addressed by a *folder key* ``"<root number>/<path inside the root>"`` and photos by
their file name in faces.pkl; ``resolve_folder`` and ``resolve_photo`` are the only ways from a
request to a path, and they refuse anything outside the configured roots (``..``, absolute paths,
symbolic links leading elsewhere, files the store does not know).
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..folders import walk_folders
from ..gallery import describe, is_named_cluster
from ..model import IGNORE, Box, FolderState
from ..store import confined
from ..store.folder import FolderStore


class NotFound(LookupError):
    """A request named something that is not (or may not be) served."""


@dataclass(frozen=True)
class FaceView:
    key: str
    """Folder key (see module docstring)."""
    folder: Path
    file: str
    face_id: str
    face_nr: int
    box: Box
    name: str
    guess: str
    distance: float | None
    cluster: str
    token: str = ""
    """What the page showed for the face (``name`` or ``guess:<guess>``), sent back with an action."""
    where: str = ""
    """The folder as people know it: the root's name and the path below it (``photos/2019/summer``)."""
    why: str = ""
    """Why an unnamed face got its guess or none (``gallery.describe`` of ``Face.why``)."""

    @property
    def confirmed(self) -> bool:
        return bool(self.name) and self.name != IGNORE

    @property
    def label(self) -> str:
        """Folder, file and face number: file names alone repeat (every camera starts at IMG_0001)."""
        return f"{self.where}/{self.file} #{self.face_nr}" if self.where else f"{self.file} #{self.face_nr}"


@dataclass
class PersonView:
    name: str
    confirmed: int = 0
    guessed: int = 0
    sample: FaceView | None = None


@dataclass
class ClusterView:
    """An unknown person: the faces of one cluster, and the guess most of them already carry."""

    label: str
    faces: list[FaceView]
    guess: str = ""
    guessed: list[FaceView] = field(default_factory=list)
    """The faces of the cluster guessed as ``guess`` (confirming them names only those)."""

    @property
    def named(self) -> bool:
        """Named with ``name-cluster`` (a suggestion), rather than a plain ``uN`` label."""
        return is_named_cluster(self.label)

    @property
    def photos(self) -> int:
        return len({(f.key, f.file) for f in self.faces})


class LibraryView:
    """Faces below the roots, read from faces.pkl without the lock (cached by the file's stat)."""

    def __init__(self, roots: list[Path], exclude: list[str]):
        self.roots = [Path(r).resolve() for r in roots]
        self.exclude = exclude
        self._cache: dict[Path, tuple[tuple[int, int], FolderState]] = {}

    # -- addressing ---------------------------------------------------------------------------
    def folder_key(self, folder: Path) -> str:
        folder = Path(folder).resolve()
        for number, root in enumerate(self.roots):
            if folder == root or root in folder.parents:
                rel = folder.relative_to(root).as_posix()
                return f"{number}/{'' if rel == '.' else rel}".rstrip("/")
        raise NotFound(f"{folder} is not below a root")

    def resolve_folder(self, key: str) -> Path:
        """The folder a key names, refusing everything outside the roots."""
        head, _, rest = (key or "").partition("/")
        if not head.isdigit() or int(head) >= len(self.roots):
            raise NotFound("no such root")
        root = self.roots[int(head)]
        rel = PurePosixPath(rest)
        if rel.is_absolute() or "\x00" in rest or any(p in ("..", ".") for p in rel.parts):
            raise NotFound("not a folder below the root")
        candidate = (root / rel).resolve()
        if candidate != root and root not in candidate.parents:
            raise NotFound("outside the root")
        if not candidate.is_dir():
            raise NotFound("no such folder")
        return candidate

    def resolve_photo(self, key: str, file: str) -> tuple[Path, Path]:
        """(folder, photo path) for a photo the store knows; a regular file, never a symlink."""
        folder = self.resolve_folder(key)
        if not file or file != PurePosixPath(file).name or file.startswith(".") or "\x00" in file:
            raise NotFound("not a file name")
        if file not in self.state(folder).photos:
            raise NotFound("not a known photo")
        path = folder / file
        try:
            info = os.lstat(path)
        except OSError:
            raise NotFound("no such photo") from None
        if not stat.S_ISREG(info.st_mode):
            raise NotFound("not a regular file")
        return folder, path

    # -- reading ------------------------------------------------------------------------------
    def folders(self) -> list[Path]:
        found = []
        for folder in walk_folders(self.roots, self.exclude):
            if confined.is_regular(folder / "faces.pkl"):
                found.append(folder.resolve())
        return found

    def state(self, folder: Path) -> FolderState:
        store = FolderStore(folder)
        info = confined.lstat(store.pkl_path)
        if info is None:
            return FolderState()
        stamp = (info.st_mtime_ns, info.st_size)
        cached = self._cache.get(folder)
        if cached is None or cached[0] != stamp:
            cached = (stamp, store.load())
            self._cache[folder] = cached
        return cached[1]

    def where(self, key: str) -> str:
        """``photos/2019/summer`` for the key ``0/2019/summer`` of the root ``/srv/photos``."""
        head, _, rest = key.partition("/")
        root = self.roots[int(head)]
        return "/".join(p for p in (root.name or str(root), rest) if p)

    def folder_faces(self, folder: Path) -> list[FaceView]:
        key = self.folder_key(folder)
        where = self.where(key)
        faces = []
        for file_name, photo in sorted(self.state(folder).photos.items()):
            for number, face in enumerate(photo.visible_faces, start=1):
                faces.append(FaceView(key, folder, file_name, face.face_id, number, face.box, face.name,
                                      face.guess, face.distance, face.cluster, face.name or f"guess:{face.guess}",
                                      where, "" if face.name else describe(face.why)))
        return faces

    def all_faces(self) -> list[FaceView]:
        return [f for folder in self.folders() for f in self.folder_faces(folder)]

    def photo_faces(self, folder: Path, file: str) -> list[FaceView]:
        return [f for f in self.folder_faces(folder) if f.file == file]

    def find_face(self, key: str, face_id: str) -> FaceView:
        folder = self.resolve_folder(key)
        for face in self.folder_faces(folder):
            if face.face_id == face_id:
                return face
        raise NotFound("no such face")

    # -- summaries ----------------------------------------------------------------------------
    @staticmethod
    def people(faces: list[FaceView]) -> list[PersonView]:
        people: dict[str, PersonView] = {}
        for face in faces:
            if face.confirmed:
                person = people.setdefault(face.name, PersonView(face.name))
                person.confirmed += 1
                person.sample = person.sample or face
            elif not face.name and face.guess:
                person = people.setdefault(face.guess, PersonView(face.guess))
                person.guessed += 1
        return sorted(people.values(), key=lambda p: p.name.casefold())

    @staticmethod
    def person_faces(faces: list[FaceView], name: str) -> list[FaceView]:
        """Confirmed faces first, then guesses by distance (nearest first; guesses from a named
        cluster, which have no distance, last)."""
        mine = [f for f in faces if f.name == name or (not f.name and f.guess == name)]
        return sorted(mine, key=lambda f: (not f.confirmed, f.distance if f.distance is not None else float("inf"),
                                           str(f.folder), f.file, f.face_nr))

    @staticmethod
    def clusters(faces: list[FaceView]) -> list[ClusterView]:
        """Clusters of unnamed faces, largest first, each with the guess most of its faces carry."""
        members: dict[str, list[FaceView]] = {}
        for face in faces:
            if not face.name and face.cluster:
                members.setdefault(face.cluster, []).append(face)
        found = []
        for label, group in sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            guesses = Counter(f.guess for f in group if f.guess)
            guess = guesses.most_common(1)[0][0] if guesses else ""
            found.append(ClusterView(label, group, guess, [f for f in group if guess and f.guess == guess]))
        return found

    @staticmethod
    def cluster(faces: list[FaceView], label: str) -> ClusterView | None:
        return next((c for c in LibraryView.clusters(faces) if c.label == label), None)
