"""``import-hubzilla``: the names typed into the Hubzilla faces add-on become confirmed names.

For every folder below the given paths that holds the add-on's faces.csv (told from facesidecar's
own by its header, ``hubzilla.is_addon_csv``), each name typed there goes to the face facesidecar
detects at the same place of the same photo (box overlap), through the store like any name a
person sets. A face that already has another confirmed name keeps it (reported as a conflict);
names whose place matches no detected face are reported, never dropped silently.

The add-on and facesidecar both call their files faces.csv and faces.pkl. Before facesidecar
writes its own, the add-on's are kept, byte for byte and with their modification times, as
``faces.hubzilla.csv`` and ``faces.hubzilla.pkl`` (``faces.hubzilla-1.csv``… if a different copy
is already there); only then do the shared names go to facesidecar's files. Nothing else of the
add-on is touched, and its faces.pkl is never unpickled: pandas pickles can run code, and
facesidecar's own reader (which refuses every class and function) is the only one that ever looks
at a faces.pkl, to tell facesidecar's from the add-on's. A later run reads the kept copy (or the
``faces.csv.bad-*`` copy an earlier scan set aside), so importing again is safe and only fills in
what is missing. ``dry_run`` detects faces in memory and writes nothing at all.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import FacesidecarError
from .folders import is_photo_name, walk_folders
from .hubzilla import AddonFormatError, AddonName, is_addon_csv, latest_per_face, parse_addon_csv
from .model import Box, FolderState
from .names import NameRuleError, clean_name
from .scan import Scanner
from .store import CSV_NAME, PKL_NAME, confined
from .store.folder import FolderStore, Transaction
from .store.merge import set_name
from .store.pklfile import loads_state

SOURCE = "hubzilla"
KEPT = {CSV_NAME: "faces.hubzilla.csv", PKL_NAME: "faces.hubzilla.pkl"}
MATCH_IOU = 0.3
"""Boxes of different detectors (the add-on's retinaface/mtcnn, dlib's HOG) around the same face
overlap less than boxes of one detector; a pair also counts when each centre lies in the other box."""

IMPORTED, ALREADY, CONFLICT, UNMATCHED, REFUSED, NO_PHOTO = (
    "imported", "already", "conflict", "unmatched", "refused", "no photo")


@dataclass(frozen=True)
class Outcome:
    """What became of one typed name."""

    file: str
    face_nr: int
    name: str
    result: str
    detail: str = ""


@dataclass
class FolderImport:
    folder: Path
    source: str
    kept: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    error: str = ""

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)


@dataclass
class ImportReport:
    dry_run: bool
    folders: list[FolderImport] = field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(f.count(result) for f in self.folders)

    @property
    def errors(self) -> list[FolderImport]:
        return [f for f in self.folders if f.error]


@dataclass(frozen=True)
class SeenFace:
    """A face facesidecar knows (or, in a dry run, detects) in a photo."""

    box: Box
    name: str
    key: object


def import_hubzilla(scanner: Scanner, paths: Iterable[Path], dry_run: bool = False) -> ImportReport:
    """Import the add-on's names below ``paths`` (see the module docstring)."""
    report = ImportReport(dry_run)
    work: list[tuple[FolderImport, list[AddonName]]] = []
    for folder in walk_folders(list(paths), scanner.settings.exclude):
        found = addon_source(folder)
        if found is None:
            continue
        source, data = found
        item = FolderImport(folder, source)
        report.folders.append(item)
        try:
            names = latest_per_face(parse_addon_csv(data, str(folder / source)))
            if source == CSV_NAME and not dry_run:
                item.kept = keep_addon_files(folder, data)
        except (AddonFormatError, FacesidecarError) as exc:
            item.error = str(exc)
            continue
        work.append((item, names))
    if not dry_run and work:
        # one scan of every folder (once all add-on files are kept: it reads the whole library)
        scanner.process_folders([item.folder for item, _ in work])
    for item, names in work:
        try:
            if dry_run:
                _plan_folder(scanner, item, names, own_state=item.source != CSV_NAME)
            else:
                _import_folder(scanner, item, names)
        except FacesidecarError as exc:
            item.error = str(exc)
    if not dry_run and report.count(IMPORTED):
        scanner.refresh()
    return report


# -- where the add-on's names are ---------------------------------------------------------------
def addon_source(folder: Path) -> tuple[str, bytes] | None:
    """(file name, bytes) of the add-on's faces.csv in ``folder``: the live one, else the kept copy,
    else the newest copy an earlier scan set aside; None when the folder has none."""
    candidates = [CSV_NAME, KEPT[CSV_NAME]]
    with contextlib.suppress(OSError, FacesidecarError), confined.opened(folder) as opened:
        candidates += sorted(fnmatch.filter(opened.names(), f"{CSV_NAME}.bad-*"), reverse=True)
    for name in candidates:
        data = read_regular(folder / name)
        if data is not None and is_addon_csv(data):
            return name, data
    return None


def read_regular(path: Path) -> bytes | None:
    """The bytes of a regular file reached without links (store/confined.py), None if absent, not a
    plain file or larger than the sidecar caps (``[limits]``)."""
    try:
        return confined.read_file(path, max(confined.limits().csv, confined.limits().pkl))
    except (OSError, FacesidecarError):
        return None


# -- keeping the add-on's files ------------------------------------------------------------------
def keep_addon_files(folder: Path, csv_data: bytes) -> list[str]:
    """Keep the add-on's faces.csv (and its faces.pkl, unless that one is facesidecar's) under the
    ``KEPT`` names, then free the shared names for facesidecar; returns the kept names."""
    pkl_data = read_regular(folder / PKL_NAME)
    shared = {CSV_NAME: csv_data}
    if pkl_data is not None and not _is_own_pkl(pkl_data):
        shared[PKL_NAME] = pkl_data
    kept = [_keep_copy(folder, name, data) for name, data in shared.items()]
    for name, data in shared.items():
        if read_regular(folder / name) != data:
            raise FacesidecarError(f"{folder / name} changed while it was being kept; nothing imported here, "
                                   "run import-hubzilla again")
    with confined.opened(folder) as opened:
        for name in shared:
            opened.unlink(name)
    return kept


def _is_own_pkl(data: bytes) -> bool:
    """Whether ``data`` is a faces.pkl of facesidecar (plain data; the reader runs no code)."""
    try:
        loads_state(data)
    except Exception:  # noqa: BLE001 - refused or broken: not ours
        return False
    return True


def _keep_copy(folder: Path, shared: str, data: bytes) -> str:
    """A copy of ``folder/shared`` (same bytes, mode and modification time) under a free kept name."""
    stem, suffix = KEPT[shared].rsplit(".", 1)
    info = confined.lstat(folder / shared)
    if info is None:
        raise FacesidecarError(f"{folder / shared} disappeared while it was being kept; run import-hubzilla again")
    for number in range(1000):
        name = KEPT[shared] if number == 0 else f"{stem}-{number}.{suffix}"
        target = folder / name
        if confined.lstat(target) is not None:
            if read_regular(target) == data:
                return name
            continue
        if _write_copy(target, data, info):
            return name
    raise FacesidecarError(f"{folder}: no free name to keep the add-on's {shared}")


def _write_copy(target: Path, data: bytes, info: os.stat_result) -> bool:
    """Write ``data`` to ``target`` unless it appeared meanwhile (False then), inside the folder opened
    through the confined layer (a link swapped in anywhere sends nothing elsewhere)."""
    with confined.opened(target.parent) as folder:
        temp = confined.temp_name(target.name)
        try:
            written = folder.write_new(temp, data, stat.S_IMODE(info.st_mode))
            if os.geteuid() == 0:
                with contextlib.suppress(OSError):
                    os.chown(temp, info.st_uid, info.st_gid, dir_fd=folder.fd, follow_symlinks=False)
            os.utime(temp, ns=(info.st_atime_ns, info.st_mtime_ns), dir_fd=folder.fd, follow_symlinks=False)
            folder.check_same(temp, written)
            try:
                os.link(temp, target.name, src_dir_fd=folder.fd, dst_dir_fd=folder.fd, follow_symlinks=False)
            except FileExistsError:
                return False
            except OSError:  # a file system without hard links (some network mounts)
                if folder.exists(target.name):
                    return False
                folder.rename(temp, target.name, expected=written)
            return True
        finally:
            folder.remove(temp)


# -- placing names on faces ----------------------------------------------------------------------
def same_face(a: Box, b: Box) -> bool:
    return a.iou(b) >= MATCH_IOU or (_inside(_centre(a), b) and _inside(_centre(b), a))


def _centre(box: Box) -> tuple[float, float]:
    return box.x + box.w / 2, box.y + box.h / 2


def _inside(point: tuple[float, float], box: Box) -> bool:
    return box.x < point[0] < box.x + box.w and box.y < point[1] < box.y + box.h


def match_boxes(wanted: list[Box], faces: list[Box]) -> list[int | None]:
    """For each wanted box the index of its face (one face per name, best overlaps first)."""
    pairs = sorted(((w.iou(f), i, j) for i, w in enumerate(wanted) for j, f in enumerate(faces) if same_face(w, f)),
                   reverse=True)
    taken_names: dict[int, int] = {}
    taken_faces: set[int] = set()
    for _overlap, i, j in pairs:
        if i not in taken_names and j not in taken_faces:
            taken_names[i] = j
            taken_faces.add(j)
    return [taken_names.get(i) for i in range(len(wanted))]


def place_names(names: list[AddonName], faces: list[SeenFace], size: tuple[int, int],
                apply: Callable[[SeenFace, str], None] | None = None) -> list[Outcome]:
    """What becomes of each typed name on one photo; ``apply(face, name)`` sets the imported ones."""
    outcomes: list[Outcome] = []
    usable: list[tuple[AddonName, str]] = []
    for item in names:
        try:
            usable.append((item, clean_name(item.name, allow_empty=False)))
        except NameRuleError as exc:
            outcomes.append(Outcome(item.file, item.face_nr, item.name, REFUSED, str(exc)))
    matches = match_boxes([item.box(*size) for item, _ in usable], [f.box for f in faces])
    for (item, name), index in zip(usable, matches, strict=True):
        if index is None:
            outcomes.append(Outcome(item.file, item.face_nr, name, UNMATCHED, f"at {_where(item)}"))
            continue
        face = faces[index]
        if face.name == name:
            outcomes.append(Outcome(item.file, item.face_nr, name, ALREADY))
        elif face.name:
            outcomes.append(Outcome(item.file, item.face_nr, name, CONFLICT, f"that face is already named {face.name!r}"))
        else:
            if apply is not None:
                apply(face, name)
            outcomes.append(Outcome(item.file, item.face_nr, name, IMPORTED))
    return outcomes


def _where(item: AddonName) -> str:
    numbers = ", ".join(f"{v:g}" for v in item.position)
    return f"position [{numbers}] ({'pixels' if item.pixels else 'margins in %'})"


def _by_file(names: list[AddonName]) -> dict[str, list[AddonName]]:
    grouped: dict[str, list[AddonName]] = {}
    for item in names:
        grouped.setdefault(item.file, []).append(item)
    return grouped


def _no_photo(items: list[AddonName], why: str) -> list[Outcome]:
    return [Outcome(i.file, i.face_nr, i.name, NO_PHOTO, why) for i in items]


# -- a real import ---------------------------------------------------------------------------------
def _import_folder(scanner: Scanner, item: FolderImport, names: list[AddonName]) -> None:
    def change(txn: Transaction) -> None:
        item.outcomes = []
        for file, wanted in _by_file(names).items():
            photo = txn.state.photos.get(file)
            if photo is None or photo.error:
                item.outcomes += _no_photo(wanted, photo.error if photo else "not in this folder")
                continue
            faces = [SeenFace(f.box, f.name, f) for f in photo.visible_faces]
            size = (photo.height, photo.width) if photo.orientation >= 5 else (photo.width, photo.height)

            def apply(face: SeenFace, name: str, photo=photo) -> None:
                named = set_name(photo, face.key, name, SOURCE, txn.now)
                if named is not None:
                    txn.changes.append(named)

            item.outcomes += place_names(wanted, faces, size, apply)

    report = scanner.update_folder(item.folder, change)
    fatal = [message for where, message in report.errors if not where.endswith(CSV_NAME)]
    if fatal:
        item.error = fatal[0]


# -- a dry run: nothing written ----------------------------------------------------------------------
def _plan_folder(scanner: Scanner, item: FolderImport, names: list[AddonName], own_state: bool) -> None:
    state = FolderStore(item.folder).load() if own_state else FolderState()
    settings = scanner.settings
    for file, wanted in _by_file(names).items():
        photo = state.photos.get(file)
        if photo is not None and not photo.error and photo.model == scanner.engines.model:
            faces = [SeenFace(f.box, f.name, f.face_id) for f in photo.visible_faces]
            size = (photo.height, photo.width) if photo.orientation >= 5 else (photo.width, photo.height)
            item.outcomes += place_names(wanted, faces, size)
            continue
        path = item.folder / file
        if not is_photo_name(file, settings.extensions) or not _is_file(path):
            item.outcomes += _no_photo(wanted, "not in this folder")
            continue
        analysed = scanner.detector.analyse(path)
        if analysed.error or analysed.engine_error:
            item.outcomes += _no_photo(wanted, analysed.error or analysed.engine_error)
            continue
        faces = [SeenFace(f.box, "", i) for i, f in enumerate(analysed.faces)]
        size = (analysed.stored_width, analysed.stored_height)
        item.outcomes += place_names(wanted, faces, size[::-1] if analysed.orientation >= 5 else size)


def _is_file(path: Path) -> bool:
    return confined.is_regular(path)


__all__ = ["import_hubzilla", "ImportReport", "FolderImport", "Outcome", "addon_source", "keep_addon_files",
           "match_boxes", "place_names", "KEPT", "IMPORTED", "ALREADY", "CONFLICT", "UNMATCHED", "REFUSED", "NO_PHOTO"]
