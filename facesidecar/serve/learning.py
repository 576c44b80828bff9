"""Learn / recognize over the sidecar gallery.

``learn`` keeps the photo under ``serve.learn_folder`` (a folder inside a root, one subfolder per
directory and person: ``<learn_folder>/<directory>/<person>/<time>-<hash>.jpg``), scans that folder
like any other and confirms the one face through the store. So a learned face is an ordinary
confirmed face: in faces.csv, in the photo's metadata, in ``people``, ``export``, ``forget`` and
the database mirror, and in the gallery every guess is made from.

``recognize`` finds the faces of a photo and names them by the gallery's own decision
(``Guesser.decide``, the open-set rule the scan's guesses use); a face the rule does not name is
``"id": null``. With a directory, the gallery is made of the faces learned in that directory only.

The scanner is not thread-safe: learning and recognizing take turns under one lock (the engine's
own lock already serialises the face engine).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import math
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..config import Settings
from ..errors import ConfigError, SidecarError
from ..folders import list_photos
from ..gallery import Gallery
from ..imaging import DecodedPhoto
from ..librarysync import LibrarySync
from ..model import IGNORE, FoundFace
from ..names import NameRuleError, clean_name, is_control
from ..pipeline.detect import box_to_pixels, find_faces
from ..scan import Scanner
from ..store import SIDECAR_NAMES, confined
from ..store.folder import FolderStore, Transaction
from ..store.merge import set_name
from .errors import ServeError
from .uploads import Upload

SOURCE = "serve"
DEFAULT_DIRECTORY = "default"
"""Where ``learn`` puts people when the client names no directory."""
MAX_FOLDER_NAME = 100
FORMAT_EXTENSIONS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "HEIF": ".heic"}
LEARNED_FILE = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{16}\.[a-z]+")
"""How ``learn`` names the photos it keeps (``<time>-<hash><ext>``)."""
UPLOADED = "<uploaded photo>"
"""The photo key of /recognize's faces: one photo, never a photo of the library (whose look-alikes are asked)."""
PROBABILITY_SCALE = 0.1
"""Width of the distance-to-probability curve, as a fraction of the threshold (see ``probability``)."""


def learn_root(settings: Settings) -> Path | None:
    """``serve.learn_folder`` resolved and checked: inside a root, not skipped by the scan; None when unset.

    A relative path is taken inside the first root.
    """
    raw = settings.serve.learn_folder
    if not raw:
        return None
    roots = [r.resolve() for r in settings.root_paths()]
    if not roots:
        raise ConfigError("serve.learn_folder needs [[roots]]: the learned photos live in a root")
    path = Path(raw).expanduser()
    path = (path if path.is_absolute() else roots[0] / path).resolve()
    root = next((r for r in roots if path != r and path.is_relative_to(r)), None)
    if root is None:
        raise ConfigError(f"serve.learn_folder {path} must be a folder inside one of the roots "
                          f"({', '.join(map(str, roots))}), so that learned faces are part of the library")
    skipped = [p for p in path.relative_to(root).parts if p.startswith(".") or _excluded(p, settings.exclude)]
    if skipped:
        raise ConfigError(f"serve.learn_folder {path}: scans skip folders named {skipped[0]!r} "
                          "(dotfolders and the exclude list); choose another folder")
    return path


def _excluded(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def folder_name(text: str) -> str:
    """A person's name as a folder name: no path separators, no leading dot, no control characters."""
    cleaned = "".join("_" if c in "/\\" else c for c in unicodedata.normalize("NFC", text) if not is_control(c))
    return cleaned.strip().lstrip(".")[:MAX_FOLDER_NAME].strip() or "_"


@dataclass(frozen=True)
class Recognized:
    """One face of a recognized photo: who (None: nobody the rule names), where, how sure."""

    person: str | None
    box: list[int]
    distance: float | None
    threshold: float

    def to_json(self) -> dict:
        return {"id": self.person, "box": self.box, "score": score(self.distance, self.threshold),
                "probability": probability(self.distance, self.threshold),
                "distance": None if self.distance is None else round(self.distance, 4)}


def score(distance: float | None, threshold: float) -> float:
    """Similarity 0..1 from the distance: 1 identical, 0.5 at the model's threshold, 0 at twice it."""
    if distance is None:
        return 0.0
    return round(min(max(1.0 - distance / (2.0 * threshold), 0.0), 1.0), 4)


def probability(distance: float | None, threshold: float) -> float:
    """How likely the face is the person, on a logistic curve of the distance: 0.5 at the threshold,
    about 0.73 and 0.27 one ``PROBABILITY_SCALE`` of the threshold nearer and farther. An estimate,
    not a calibration: the decision is the rule's (``id``), not this number's."""
    if distance is None:
        return 0.0
    return round(1.0 / (1.0 + math.exp((distance - threshold) / (PROBABILITY_SCALE * threshold))), 4)


def pixel_box(photo: DecodedPhoto, face: FoundFace) -> list[int]:
    """The face as [left, top, right, bottom] pixels of the photo as displayed (right, bottom inclusive)."""
    box = box_to_pixels(face.box, photo.displayed_width, photo.displayed_height)
    return [box.left, box.top, box.right - 1, box.bottom - 1]


class Learning:
    """learn and recognize for one scanner (with its metadata and mirror adapters)."""

    def __init__(self, scanner: Scanner, settings: Settings):
        self.scanner = scanner
        self.settings = settings
        self.root = learn_root(settings)
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self._sync = LibrarySync()
        self._directory_galleries: dict[str, tuple[int, Gallery]] = {}

    # -- learn ------------------------------------------------------------------------------
    def learn(self, raw_person: str | None, raw_directory: str | None, upload: Upload,
              photo: DecodedPhoto) -> dict:
        """Keep the photo of ``person`` (exactly one face) and confirm that face."""
        if self.root is None:
            raise ServeError(501, "learning is switched off on this server: set serve.learn_folder to a folder "
                                  "inside a root")
        person = _person(raw_person)
        directory = _directory(raw_directory or DEFAULT_DIRECTORY, self.settings.exclude)
        found = self._faces(photo)
        if len(found) != 1:
            raise ServeError(422, f"{upload.filename or 'the photo'}: found {len(found)} faces; /learn needs a "
                                  "photo with exactly one face (crop it to the person)")
        extension = self._extension(upload)
        with self.lock:
            folder, file, fresh = _keep_learned(self.root, [directory, folder_name(person)], upload.path, extension)
            self.scanner.process_folders([folder])
            problems: list[str] = []
            report = self.scanner.update_folder(folder, lambda txn: _confirm(txn, file, person, problems))
            problems += [message for _, message in report.errors]
            if problems and fresh:
                with contextlib.suppress(OSError, SidecarError), confined.opened(folder) as opened:
                    opened.unlink(file)
                self.scanner.process_folders([folder])
        if problems:
            raise ServeError(500, f"{upload.filename or 'the photo'} could not be learned: {problems[0]}")
        return {"status": "OK", "person": person, "directory": directory, "learned": fresh,
                "file": str((folder / file).relative_to(self.root)), "box": pixel_box(photo, found[0])}

    def _faces(self, photo: DecodedPhoto) -> list[FoundFace]:
        return find_faces(self.scanner.engines.primary, photo, self.settings.engine.min_face_size)

    def _extension(self, upload: Upload) -> str:
        try:
            with Image.open(upload.path) as image:
                extension = FORMAT_EXTENSIONS.get(image.format or "", "")
        except (UnidentifiedImageError, OSError, ValueError):
            extension = ""
        if extension not in self.settings.extensions:
            raise ServeError(415, f"{upload.filename or 'the photo'}: learn keeps JPEG, PNG, WebP, TIFF or HEIC "
                                  "photos that the scan reads (extensions in the config)")
        return extension

    # -- recognize --------------------------------------------------------------------------
    def recognize(self, photo: DecodedPhoto, raw_directory: str | None) -> list[Recognized]:
        """Every face of ``photo``, named by the gallery's rule where it names one."""
        directory = _directory(raw_directory, self.settings.exclude) if raw_directory else None
        found = self._faces(photo)
        vectors = np.stack([f.encoding for f in found]) if found else None
        with self.lock:  # the gallery changes when the library does (a learn, another process's edits)
            self._sync.sync(self.scanner.clusters.library, self.settings.root_paths(), self.settings.exclude)
            gallery = self.scanner.guesser.gallery() if directory is None else self._directory_gallery(directory)
            if vectors is None:
                return []
            decisions = self.scanner.guesser.decide(vectors, [UPLOADED] * len(found), gallery=gallery)  # one name per photo
            guesses = [d.guess() for d in decisions]
            nearest = gallery.person_distances(vectors).min(axis=1) if gallery.people else [None] * len(found)
        return [Recognized(guess.name if guess else None, pixel_box(photo, face),
                           guess.distance if guess and guess.distance is not None else _plain(near),
                           gallery.threshold)
                for face, guess, near in zip(found, guesses, nearest, strict=True)]

    def _directory_gallery(self, directory: str) -> Gallery:
        """The gallery of the faces learned in ``directory`` (cached until a confirmed face changes)."""
        if self.root is None or not (self.root / directory).is_dir():
            raise ServeError(404, f"nobody was learned in directory {directory!r}")
        version = self.scanner.clusters.library.confirmed_version
        cached = self._directory_galleries.get(directory)
        if cached is not None and cached[0] == version:
            return cached[1]
        below = self.root / directory
        gallery = self.scanner.guesser.gallery_of((f.name, f.vector) for f in self.scanner.clusters.library.confirmed()
                                          if f.folder == below or f.folder.is_relative_to(below))
        self._directory_galleries[directory] = (version, gallery)
        return gallery


def _plain(value) -> float | None:
    return None if value is None else float(value)


def _person(raw: str | None) -> str:
    try:
        person = clean_name(raw or "", allow_empty=False)
    except NameRuleError as exc:
        raise ServeError(400, f"person: {exc}") from None
    if person == IGNORE:
        raise ServeError(400, f"person: {IGNORE} is not a person")
    return person


def _directory(raw: str, exclude: list[str]) -> str:
    """A directory name as the client gives it: one plain folder name that the scan does not skip."""
    name = unicodedata.normalize("NFC", raw.strip())
    bad = (not name or len(name) > MAX_FOLDER_NAME or name.startswith(".") or any(c in name for c in "/\\")
           or any(is_control(c) for c in name) or _excluded(name, exclude))
    if bad:
        raise ServeError(400, f"directory {raw[:MAX_FOLDER_NAME]!r} is not usable: one folder name of at most "
                              f"{MAX_FOLDER_NAME} characters, no '/' or '\\', not starting with '.'")
    return name


def _confirm(txn: Transaction, file: str, person: str, problems: list[str]) -> None:
    """Name the one detected face of the learned photo; faces imported from the upload's own
    metadata (regions another tool wrote into it) are not learned and are set aside."""
    photo = txn.state.photos.get(file)
    if photo is None or photo.error:
        problems.append(photo.error if photo else "the scan did not record the photo")
        return
    detected = [f for f in photo.visible_faces if f.origin == "detected"]
    if len(detected) != 1:
        problems.append(f"the scan found {len(detected)} faces in it")
        return
    for face in photo.visible_faces:
        if face is not detected[0]:
            face.rejected = True
    change = set_name(photo, detected[0], person, SOURCE, txn.now)
    if change is not None:
        txn.changes.append(change)


# -- GDPR: what forget removes besides the names ---------------------------------------------------
def learned_photos(settings: Settings, person: str) -> list[Path]:
    """The photos ``learn`` kept for ``person`` (confirmed as them, in their folders below the learn
    folder). Call before the person's names are erased: the names are how they are found."""
    try:
        root = learn_root(settings)
    except ConfigError:
        return []
    if root is None or not root.is_dir():
        return []
    found = []
    for directory in sorted(root.iterdir()):
        folder = directory / folder_name(person)
        if directory.is_symlink() or folder.is_symlink() or not folder.is_dir():
            continue
        for photo in FolderStore(folder).load().photos.values():
            if LEARNED_FILE.fullmatch(photo.file) and any(f.name == person for f in photo.faces):
                found.append(folder / photo.file)
    return found


def delete_learned(scanner: Scanner, photos: list[Path]) -> None:
    """Delete the kept photos, bring their folders' sidecars (and the mirror) up to date, and remove
    the folders that hold nothing else any more."""
    for path in photos:
        with contextlib.suppress(OSError, SidecarError), confined.opened(path.parent) as folder:
            folder.unlink(path.name)
    folders = sorted({p.parent for p in photos})
    scanner.process_folders(folders)
    for folder in folders:
        with contextlib.suppress(OSError, SidecarError):
            if list_photos(folder, scanner.settings.extensions):
                continue
            with confined.opened(folder) as opened:
                for name in SIDECAR_NAMES:
                    opened.remove(name)
            with confined.opened(folder.parent) as parent:
                parent.rmdir(folder.name)


# -- files below the learn folder, never following a link out of it ----------------------------
def _keep_learned(root: Path, parts: list[str], source: Path, extension: str) -> tuple[Path, str, bool]:
    """Copy the upload to ``root/part/part…/<time>-<hash><ext>``: (folder, file name, whether new).

    Missing folders are made; a part that is a link (or not a folder) is refused, so nothing
    written into the root can send the learned photos elsewhere. The same photo learned again for
    the same person is found by its hash and kept once.
    """
    shown = root.joinpath(*parts)
    try:
        folder = confined.Folder.open(root)
    except (OSError, SidecarError) as exc:
        raise ServeError(500, f"learn folder {root}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        for part in parts:
            below = folder.subfolder(part, create=True)
            folder.close()
            folder = below
        file, fresh = _write_once(folder, source.read_bytes(), extension)
    except (OSError, SidecarError) as exc:
        raise ServeError(500, f"cannot keep the learned photo: learn folder {shown} is not a plain folder "
                              f"we can write ({getattr(exc, 'strerror', None) or exc}); remove or rename what is "
                              "in the way") from None
    finally:
        folder.close()
    return shown, file, fresh


def _write_once(folder: confined.Folder, data: bytes, extension: str) -> tuple[str, bool]:
    """Write ``data`` into ``folder`` atomically under a name made of the time and its hash."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    existing = sorted(n for n in folder.names() if f"-{digest}." in n and not n.startswith("."))
    if existing:
        return existing[0], False
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{digest}{extension}"
    folder.write_atomic(name, data)
    return name, True


__all__ = ["Learning", "Recognized", "learn_root", "folder_name", "score", "probability", "DEFAULT_DIRECTORY",
           "learned_photos", "delete_learned"]
