"""The data that flows between the stages: faces, photos, folders, and what each stage hands on.

The stored state (``Face``, ``PhotoState``, ``FolderState``) converts to and from *plain data*
(dicts, lists, str, int, float, bytes) because faces.pkl must be loadable by an unpickler that
refuses every global (see store/pklfile.py). The stage results (``FolderPlan``, ``FoundFace``,
``Detection``, ``ImportedRegion``) are frozen: a stage hands them on and nobody changes them after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IGNORE = "-ignore-"
"""The name a person types for "not a face / do not name"."""

FORMAT_VERSION = 1


def new_face_id() -> str:
    """A stable id for a face: it follows the face through rescans, moves and renames."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Box:
    """A face box as fractions (0..1) of the photo *as displayed* (after EXIF orientation)."""

    x: float
    y: float
    w: float
    h: float

    def rounded(self) -> Box:
        """The box as faces.csv stores it (4 decimals), so comparisons survive a round trip."""
        return Box(round(self.x, 4), round(self.y, 4), round(self.w, 4), round(self.h, 4))

    def iou(self, other: Box) -> float:
        """Intersection over union: how much two boxes are the same face (0..1)."""
        left, top = max(self.x, other.x), max(self.y, other.y)
        right = min(self.x + self.w, other.x + other.w)
        bottom = min(self.y + self.h, other.y + other.h)
        inter = max(0.0, right - left) * max(0.0, bottom - top)
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union > 0 else 0.0

    @property
    def area(self) -> float:
        return self.w * self.h

    def to_plain(self) -> list[float]:
        return [self.x, self.y, self.w, self.h]

    @classmethod
    def from_plain(cls, data: list[float]) -> Box:
        x, y, w, h = (float(v) for v in data)
        return cls(x, y, w, h)


def best_overlap(box: Box, faces: list[Face], floor: float) -> Face | None:
    """The face among ``faces`` whose box overlaps ``box`` most, if at least ``floor`` (IoU)."""
    best, best_iou = None, floor
    for face in faces:
        overlap = face.box.iou(box)
        if overlap >= best_iou:
            best, best_iou = face, overlap
    return best


@dataclass(frozen=True)
class PersonRegion:
    """A named face: ``box`` is in fractions of the displayed photo (after EXIF orientation)."""

    name: str
    box: Box


def encoding_to_plain(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def encoding_from_plain(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.float32).copy()


@dataclass
class Face:
    """One detected (or imported) face and everything known about it.

    ``name`` belongs to people: only a person's edit (CSV, CLI, review page) or an import of
    names already in the photo sets it. ``guess`` belongs to the program.

    ``rev`` is the faces.csv generation at which ``name`` got its current value; the CSV carries
    it so that a stale copy saved by an editor can be told from a real edit (store/merge.py).
    ``name_history`` maps every rev written for this face to the name written with it.
    ``not_names`` are guesses a person rejected for this face ("not this person"): never guessed again.
    ``saved_rev``/``saved_name`` are this face's row as a person's save changed it, until a faces.csv
    of ours answers that save: a follow-up save made from the person's own file still carries that
    rev, and is compared with what the person saved there, not with what facesidecar wrote.
    ``saved_file`` is the (device, inode) of the file that save was read from: only a save in that
    same file is such a follow-up; any other file at that rev is an older copy (the person saw our
    file, not theirs: their save had gone into the file a killed writer moved aside).
    ``why`` is what the last guess of an unnamed face weighed (``gallery.Decision.explain``): shown by
    ``status --json`` and the review page, so that a person can see why a face got a name or none.
    """

    face_id: str
    box: Box
    encodings: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = ""
    guess: str = ""
    distance: float | None = None
    cluster: str = ""
    rev: int = 0
    name_history: dict[int, str] = field(default_factory=dict)
    origin: str = "detected"
    rejected: bool = False
    forgotten: bool = False
    named_at: float | None = None
    not_names: list[str] = field(default_factory=list)
    saved_rev: int | None = None
    saved_name: str = ""
    saved_file: tuple[int, int] | None = None
    why: dict = field(default_factory=dict)

    @property
    def confirmed(self) -> bool:
        return bool(self.name) and self.name != IGNORE

    @property
    def visible(self) -> bool:
        """Whether the face has a row in faces.csv."""
        return not (self.rejected or self.forgotten)

    def to_plain(self) -> dict:
        return {
            "face_id": self.face_id,
            "box": self.box.to_plain(),
            "encodings": {m: encoding_to_plain(v) for m, v in self.encodings.items()},
            "name": self.name,
            "guess": self.guess,
            "distance": self.distance,
            "cluster": self.cluster,
            "rev": self.rev,
            "name_history": {str(k): v for k, v in self.name_history.items()},
            "origin": self.origin,
            "rejected": self.rejected,
            "forgotten": self.forgotten,
            "named_at": self.named_at,
            "not_names": list(self.not_names),
            "saved_rev": self.saved_rev,
            "saved_name": self.saved_name,
            "saved_file": None if self.saved_file is None else list(self.saved_file),
            "why": dict(self.why),
        }

    @classmethod
    def from_plain(cls, data: dict) -> Face:
        return cls(
            face_id=str(data["face_id"]),
            box=Box.from_plain(data["box"]),
            encodings={str(m): encoding_from_plain(v) for m, v in data.get("encodings", {}).items()},
            name=str(data.get("name", "")),
            guess=str(data.get("guess", "")),
            distance=data.get("distance"),
            cluster=str(data.get("cluster", "")),
            rev=int(data.get("rev", 0)),
            name_history={int(k): str(v) for k, v in data.get("name_history", {}).items()},
            origin=str(data.get("origin", "detected")),
            rejected=bool(data.get("rejected", False)),
            forgotten=bool(data.get("forgotten", False)),
            named_at=data.get("named_at"),
            not_names=[str(n) for n in data.get("not_names", [])],
            saved_rev=None if data.get("saved_rev") is None else int(data["saved_rev"]),
            saved_name=str(data.get("saved_name", "")),
            saved_file=_file_id(data.get("saved_file")),
            why=dict(data.get("why") or {}),
        )


def _file_id(value: object) -> tuple[int, int] | None:
    """A (device, inode) pair as stored in faces.pkl; None when absent or not two numbers."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return None


@dataclass
class PhotoState:
    """What the store knows about one photo: its identity on disk, scan outcome and faces.

    ``error`` is non-empty when decoding or detection failed: such a photo has *unknown* faces,
    never "no faces", and is retried once its size, mtime or content change.
    ``width``/``height`` are the stored pixel size (before EXIF orientation);
    ``metadata_written`` records exactly what facesidecar last wrote into the photo, so that a
    withdrawn name can be removed again without touching what others wrote.
    """

    file: str
    size: int = 0
    mtime_ns: int = 0
    sha256: str = ""
    model: str = ""
    error: str = ""
    width: int = 0
    height: int = 0
    orientation: int = 1
    scanned_at: float = 0.0
    faces: list[Face] = field(default_factory=list)
    metadata_written: dict = field(default_factory=dict)
    imported: bool = False
    inode: int = 0
    ctime_ns: int = 0
    """Which file on disk this state was made from (0: not recorded yet): a file replaced by another of
    the same size and mtime (restored from a backup, ``touch -r``) has another inode or a newer ctime."""

    @property
    def visible_faces(self) -> list[Face]:
        """The faces that have rows in faces.csv, numbered left to right."""
        return sorted((f for f in self.faces if f.visible), key=lambda f: (f.box.x, f.box.y))

    def same_file_as(self, size: int, mtime_ns: int) -> bool:
        return self.size == size and self.mtime_ns == mtime_ns

    def same_inode_as(self, info: os.stat_result) -> bool:
        """Whether ``info`` is still the very file this state was made from (True when not recorded)."""
        return not self.inode or (self.inode, self.ctime_ns) == (info.st_ino, info.st_ctime_ns)

    def take_stat(self, info: os.stat_result) -> None:
        """Remember the file on disk this state now describes: size, mtime and identity."""
        self.size, self.mtime_ns = info.st_size, info.st_mtime_ns
        self.inode, self.ctime_ns = info.st_ino, info.st_ctime_ns

    def to_plain(self) -> dict:
        return {
            "file": self.file,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "sha256": self.sha256,
            "model": self.model,
            "error": self.error,
            "width": self.width,
            "height": self.height,
            "orientation": self.orientation,
            "scanned_at": self.scanned_at,
            "faces": [f.to_plain() for f in self.faces],
            "metadata_written": self.metadata_written,
            "imported": self.imported,
            "inode": self.inode,
            "ctime_ns": self.ctime_ns,
        }

    @classmethod
    def from_plain(cls, data: dict) -> PhotoState:
        return cls(
            file=str(data["file"]),
            size=int(data.get("size", 0)),
            mtime_ns=int(data.get("mtime_ns", 0)),
            sha256=str(data.get("sha256", "")),
            model=str(data.get("model", "")),
            error=str(data.get("error", "")),
            width=int(data.get("width", 0)),
            height=int(data.get("height", 0)),
            orientation=int(data.get("orientation", 1)),
            scanned_at=float(data.get("scanned_at", 0.0)),
            faces=[Face.from_plain(f) for f in data.get("faces", [])],
            metadata_written=dict(data.get("metadata_written", {})),
            imported=bool(data.get("imported", False)),
            inode=int(data.get("inode", 0)),
            ctime_ns=int(data.get("ctime_ns", 0)),
        )


@dataclass
class FolderState:
    """Everything faces.pkl holds for one folder.

    ``csv_gen`` counts the writes of faces.csv; ``csv_sha256`` is the hash of the bytes last
    written, so an unchanged file on disk is recognised without parsing. ``pending_rows`` are
    faces.csv rows of photos not scanned yet (after faces.pkl was rebuilt): they are written back
    as they are until the photo's faces are found again and take their names. ``csv_problems`` are
    the messages about the last save of faces.csv that could not be read whole (rows left out),
    kept until a save reads clean so that ``facesidecar status`` can show them.
    """

    photos: dict[str, PhotoState] = field(default_factory=dict)
    csv_gen: int = 0
    csv_sha256: str = ""
    pending_rows: list[dict] = field(default_factory=list)
    csv_problems: list[str] = field(default_factory=list)

    def faces(self):
        """Every (photo, face) pair of the folder, including rejected and forgotten ones."""
        for photo in self.photos.values():
            for face in photo.faces:
                yield photo, face

    def find_face(self, face_id: str) -> tuple[PhotoState, Face] | None:
        for photo, face in self.faces():
            if face.face_id == face_id:
                return photo, face
        return None

    def to_plain(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "photos": {name: p.to_plain() for name, p in self.photos.items()},
            "csv_gen": self.csv_gen,
            "csv_sha256": self.csv_sha256,
            "pending_rows": self.pending_rows,
            "csv_problems": self.csv_problems,
        }

    @classmethod
    def from_plain(cls, data: dict) -> FolderState:
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise ValueError(f"unknown faces.pkl format {data.get('format') if isinstance(data, dict) else type(data).__name__!r}")
        return cls(
            photos={str(k): PhotoState.from_plain(v) for k, v in data.get("photos", {}).items()},
            csv_gen=int(data.get("csv_gen", 0)),
            csv_sha256=str(data.get("csv_sha256", "")),
            pending_rows=[dict(r) for r in data.get("pending_rows", [])],
            csv_problems=[str(m) for m in data.get("csv_problems", [])],
        )


# -- what the scan stages hand on ----------------------------------------------------------------
@dataclass(frozen=True)
class FolderPlan:
    """What the plan stage found changed in one folder (a stat per photo, faces.pkl read once).

    ``known`` is faces.pkl's photos as planned; ``moved_in`` maps a new file name to the folder and
    name of a vanished photo with the same content, whose faces and names it takes over.
    """

    folder: Path
    on_disk: Mapping[str, os.stat_result]
    known: Mapping[str, PhotoState]
    to_scan: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    moved_in: Mapping[str, tuple[Path, str]] = field(default_factory=dict)
    csv_sha256: str = ""
    leftovers: bool = False
    """A killed writer's temporary faces.csv is in the folder: it may hold a save to merge."""
    restat: Mapping[str, os.stat_result] = field(default_factory=dict)
    """Photos whose new inode/ctime is recorded without a rescan (identity.py)."""
    replaced: tuple[str, ...] = ()
    """Photos replaced by other content of the same size and mtime: scanned as new ones (identity.py)."""


@dataclass(frozen=True)
class FoundFace:
    """A detected face: where it is (fractions of the displayed photo) and its encoding."""

    box: Box
    encoding: np.ndarray


@dataclass(frozen=True)
class ImportedRegion:
    """A named region other tools wrote into the photo; ``encoding`` only where no detected face
    matches it (the region then becomes a face of its own)."""

    person: PersonRegion
    encoding: np.ndarray | None


@dataclass(frozen=True)
class Detection:
    """What decoding, detection and encoding found in one photo, or why they failed (``error``).

    A pure result of the photo's bytes and the engine settings: it can be made in another process
    or on another machine and applied to the folder's state later.
    """

    file: str
    size: int
    mtime_ns: int
    sha256: str
    error: str = ""
    faces: tuple[FoundFace, ...] = ()
    extra: Mapping[str, list[np.ndarray]] = field(default_factory=dict)
    """Encodings of the same faces (same order) by the other configured models."""
    width: int = 0
    height: int = 0
    orientation: int = 1
    regions: tuple[ImportedRegion, ...] = ()


@dataclass
class ScanReport:
    """What one pass (or one folder change) did; reports of folders add up into the pass's.

    Not frozen: it is the sink every stage counts into, never handed from one stage to the next.
    """

    folders: int = 0
    photos: int = 0
    scanned: int = 0
    faces: int = 0
    moved: int = 0
    removed: int = 0
    names_changed: int = 0
    metadata_written: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)

    def add(self, other: ScanReport) -> None:
        for name in ("folders", "photos", "scanned", "faces", "moved", "removed", "names_changed", "metadata_written"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(e for e in other.errors if e not in self.errors)

    def error_lines(self) -> list[str]:
        """Each error as one line that names its file (a message that names it already stays as it is)."""
        return [message if path in message else f"{path}: {message}" for path, message in self.errors]

    def summary(self) -> str:
        return (f"{self.folders} folders, {self.photos} photos ({self.scanned} scanned, {self.moved} moved, "
                f"{self.removed} removed), {self.faces} faces found, {self.names_changed} names changed, "
                f"{self.metadata_written} photos' metadata written, {len(self.errors)} errors")
