"""GDPR erasure and access: ``forget NAME``, ``forget --photo FILE``, ``export NAME``.

Erasing a person means: their name leaves every faces.csv (confirmed faces lose the name, faces
guessed as them lose the guess); every face confirmed or guessed as them loses its encodings and
is marked *forgotten* in faces.pkl, so it is neither encoded nor guessed again until ``reset --all``
(only its box stays, which is not biometric, so that the same face is recognised as forgotten
instead of being found and encoded anew); the name leaves every other face's name history and
the pending rows; the photos' keywords, regions and PersonInImage lose the name (through the
scanner's metadata step, which is told that facesidecar owns the name there); the database rows
go; and the in-memory gallery and clusters drop them.

Every write goes through ``Scanner.update_folder`` like any other name change. An erasure log in
the state folder records when, how much and where (roots), with a SHA-256 of the name rather
than the name, and never boxes or encodings.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import traces
from .errors import FacesidecarError
from .folders import walk_folders
from .model import IGNORE, Face, FolderState, PhotoState
from .ports import MetadataWriter
from .scan import Scanner
from .store import CSV_NAME, PKL_NAME, confined
from .store.csvfile import normalize_name
from .store.folder import FolderStore, Transaction
from .store.merge import NameChange, set_name

log = logging.getLogger(__name__)

ERASURE_LOG = "erasure-log.jsonl"
THUMBNAILS = "thumbs"
"""The review page's cache of face thumbnails in the state folder (review/thumbs.py): emptied by
an erasure, since it holds pictures of the person's face and is cheap to make again."""
FORGET_MARK = "\x00forget"
"""Put in ``metadata_written["people"]`` so the next metadata step runs for the photo."""
SOURCE = "forget"
CSV_COPIES = (f"{CSV_NAME}.bad-*", "faces.hubzilla*.csv")
"""faces.csv copies facesidecar kept: broken saves set aside, the Hubzilla add-on's file kept on import."""
PKL_COPIES = (f"{PKL_NAME}.bad-*", "faces.hubzilla*.pkl")
LEFTOVER_PATTERN = f".{CSV_NAME}.tmp-*"
"""A save a writer stopped mid-swap left behind (merged and removed by the folder's next transaction)."""


def check_person(raw: str) -> str:
    name = normalize_name(raw)
    if not name:
        raise FacesidecarError("give the name of the person to forget")
    if name == IGNORE:
        raise FacesidecarError(f"{IGNORE} is not a person")
    return name


def name_sha256(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


@dataclass
class FaceFinding:
    file: str
    face_nr: int | None
    how: str  # confirmed, guessed, history, pending, metadata, photo


@dataclass
class FolderErasure:
    folder: Path
    faces: list[FaceFinding] = field(default_factory=list)
    confirmed: int = 0
    guessed: int = 0
    encodings: int = 0
    history: int = 0
    rejections: int = 0
    """Faces marked "not this person" (review page), which name the person too."""
    pending: int = 0
    metadata_photos: int = 0
    set_aside: int = 0

    @property
    def found(self) -> bool:
        return bool(self.confirmed or self.guessed or self.encodings or self.history or self.rejections or self.pending
                    or self.metadata_photos or self.set_aside)


@dataclass
class ErasureReport:
    subject: str  # the name, or the photo path (never written to the erasure log)
    dry_run: bool
    folders: list[FolderErasure] = field(default_factory=list)
    database: dict = field(default_factory=dict)
    leftovers: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    thumbnails: int = 0

    @property
    def found(self) -> bool:
        return any(f.found for f in self.folders) or any(v for k, v in self.database.items() if k != "queued")

    def totals(self) -> dict[str, int]:
        keys = ("confirmed", "guessed", "encodings", "history", "rejections", "pending", "metadata_photos", "set_aside")
        totals = {k: sum(getattr(f, k) for f in self.folders) for k in keys}
        totals["photos"] = len({(f.folder, x.file) for f in self.folders for x in f.faces if x.how != "set-aside copy"})
        totals["folders"] = sum(1 for f in self.folders if f.found)
        return totals


# -- what to erase in one folder ----------------------------------------------------------------


def _state_mentions(state: FolderState, name: str) -> bool:
    for photo in state.photos.values():
        if _owned_metadata(photo, {name}):
            return True
        for face in photo.faces:
            if (name in (face.name, face.guess) or name in face.name_history.values() or name in face.not_names
                    or _why_mentions(face, name)):
                return True
    return any(normalize_name(str(r.get("name", ""))) == name for r in state.pending_rows)


def _why_mentions(face: Face, name: str) -> bool:
    """Whether the explanation of the face's last guess (``Face.why``) names ``name``."""
    return name in (face.why.get("nearest"), face.why.get("guess"))


def _mentions(folder: Path, name: str) -> bool:
    """Whether the folder's sidecars hold the name: in faces.pkl, typed into faces.csv (in any
    encoding, Unicode form or spacing) and not merged yet, in a save a stopped writer left behind,
    or in a set-aside copy (``faces.*.bad-*``)."""
    try:
        if FolderStore(folder).pkl_path.exists() and _state_mentions(FolderStore(folder).load(), name):
            return True
        with confined.opened(folder) as handle:
            leftovers = [n for n in handle.names() if n == CSV_NAME or fnmatch.fnmatch(n, LEFTOVER_PATTERN)]
            return any(traces.mentions(handle.read(n, confined.limits().csv) or b"", name) for n in leftovers) \
                or bool(_set_aside_files(handle, name))
    except (OSError, FacesidecarError):
        return False


def _set_aside_files(folder: confined.Folder, name: str) -> list[str]:
    """Copies facesidecar kept (:data:`CSV_COPIES`, :data:`PKL_COPIES`) naming the person, read as
    their reader would: faces.csv's in any encoding an editor uses, pickles as UTF-8."""
    found = []
    for entry in sorted(folder.names()):
        is_csv = any(fnmatch.fnmatch(entry, pattern) for pattern in CSV_COPIES)
        if not (is_csv or any(fnmatch.fnmatch(entry, pattern) for pattern in PKL_COPIES)):
            continue
        try:
            data = folder.read(entry, confined.limits().csv if is_csv else confined.limits().pkl) or b""
        except (OSError, FacesidecarError):
            continue  # not a regular file (a planted link): not something facesidecar wrote
        if traces.mentions(data, name, traces.EDITOR_ENCODINGS if is_csv else ("utf-8",)):
            found.append(entry)
    return found


def erase_set_aside(folder: Path, name: str, dry_run: bool, result: FolderErasure) -> None:
    """A kept pickle naming the person is deleted (it cannot be read safely; the state was rebuilt
    without it); a kept faces.csv loses the lines that name them, and is deleted when the name is
    still in it afterwards (split over lines, in a second encoding)."""
    with confined.opened(folder) as handle:
        for entry in _set_aside_files(handle, name):
            result.set_aside += 1
            result.faces.append(FaceFinding(entry, None, "set-aside copy"))
            if not dry_run:
                _erase_from_copy(handle, entry, name)


def _erase_from_copy(folder: confined.Folder, entry: str, name: str) -> None:
    if not any(fnmatch.fnmatch(entry, pattern) for pattern in CSV_COPIES):
        folder.unlink(entry)
        return
    kept = traces.without_lines_naming(folder.read(entry, confined.limits().csv) or b"", name)
    if traces.mentions(kept, name):
        folder.unlink(entry)
    else:
        folder.write_atomic(entry, kept, mode=0o600)


def _owned_metadata(photo: PhotoState, names: set[str]) -> bool:
    """Whether what facesidecar wrote into the photo mentions one of ``names``."""
    written = photo.metadata_written or {}
    if any(entry and entry[0] in names for entry in written.get("people", [])):
        return True
    record = written.get("record", {}) or {}
    return any(any(n in str(v) for n in names) for values in record.values()
               for v in (values if isinstance(values, list) else [values]))


def _claim_names(photo: PhotoState, names: set[str], writer: MetadataWriter) -> None:
    """Make the next metadata sync remove ``names`` from every tag and region of the photo.

    The metadata step removes only what its record says facesidecar added; claiming the names
    (and marking the photo as out of date) makes it take them out wherever they are, also where
    another tool had put them.
    """
    written = copy.deepcopy(photo.metadata_written or {})
    written["record"] = writer.claim_names(written.get("record", {}) or {}, names)
    written["people"] = [*written.get("people", []), [FORGET_MARK, [0, 0, 0, 0]]]  # differs from any wanted list
    photo.metadata_written = written


def _purge_metadata_record(photo: PhotoState, names: set[str]) -> None:
    """Drop ``names`` from the record of what was written (when the photo cannot be cleaned now).

    This must work without a metadata writer (metadata switched off, exiftool missing), so the
    record is treated as the plain data it is: every list value anywhere in it that mentions a
    name goes.
    """
    written = photo.metadata_written or {}
    if not written:
        return
    written["people"] = [e for e in written.get("people", []) if not (e and e[0] in names)]
    written["record"] = without_names(written.get("record", {}) or {}, names)


def without_names(data, names: set[str]):
    """``data`` (plain dicts, lists and scalars) without the list items that mention one of ``names``."""
    if isinstance(data, dict):
        return {key: without_names(value, names) for key, value in data.items()}
    if isinstance(data, list):
        return [without_names(v, names) for v in data if not any(n in str(v) for n in names)]
    return data


def _forget_face(photo: PhotoState, face: Face, now: float) -> tuple[NameChange | None, int]:
    """Erase one face: name, guess, encodings, history; it stays only as a forgotten box."""
    change = set_name(photo, face, "", SOURCE, now) if face.name else None
    encodings = len(face.encodings)
    face.encodings = {}
    face.guess, face.distance, face.cluster, face.why = "", None, "", {}
    face.name_history, face.rev, face.named_at = {}, 0, None
    face.forgotten = True
    return change, encodings


def _drop_mentions(face: Face, name: str, result: FolderErasure) -> None:
    """Take ``name`` out of another person's face: its earlier names, its "not this person" list and the
    explanation of its guess."""
    if name in face.name_history.values():
        face.name_history = {rev: ("" if old == name else old) for rev, old in face.name_history.items()}
        result.history += 1
    if name in face.not_names:
        face.not_names = [n for n in face.not_names if n != name]
        result.rejections += 1
    if _why_mentions(face, name):
        face.why = {}  # the explanation of the face's guess named them as the nearest person


def _clean_photo_metadata(photo: PhotoState, names: set[str], writer: MetadataWriter | None,
                          result: FolderErasure) -> None:
    if _owned_metadata(photo, names):
        result.metadata_photos += 1
    if writer is not None and not photo.error and photo.width:
        _claim_names(photo, names, writer)
    else:
        _purge_metadata_record(photo, names)


def erase_person_in_state(state: FolderState, name: str, now: float, writer: MetadataWriter | None,
                          result: FolderErasure) -> list[NameChange]:
    """Erase ``name`` from one folder's state; returns the name changes for the transaction.

    ``writer`` is the metadata writer that will take the name out of the photos, or None when
    nothing is written into photos (then only the record of what was written forgets it)."""
    changes = []
    for photo in state.photos.values():
        numbers = {f.face_id: n for n, f in enumerate(photo.visible_faces, start=1)}
        touched = _owned_metadata(photo, {name})
        for face in photo.faces:
            if face.name == name or face.guess == name:
                how = "confirmed" if face.name == name else "guessed"
                result.faces.append(FaceFinding(photo.file, numbers.get(face.face_id), how))
                setattr(result, how, getattr(result, how) + 1)
                change, encodings = _forget_face(photo, face, now)
                if change is not None:
                    changes.append(change)
                result.encodings += encodings
                touched = True
                continue
            _drop_mentions(face, name, result)
        if touched:
            _clean_photo_metadata(photo, {name}, writer, result)
    kept = [r for r in state.pending_rows if normalize_name(str(r.get("name", ""))) != name]
    for row in state.pending_rows:
        if row not in kept:
            result.faces.append(FaceFinding(str(row.get("file")), int(row.get("face_nr", 0)) or None, "pending"))
            result.pending += 1
    state.pending_rows = kept
    return changes


def erase_photo_in_state(state: FolderState, file: str, now: float, writer: MetadataWriter | None,
                         result: FolderErasure) -> list[NameChange]:
    """Erase every face of one photo: names, guesses, encodings, and its names in the metadata."""
    photo = state.photos.get(file)
    changes: list[NameChange] = []
    if photo is not None:
        numbers = {f.face_id: n for n, f in enumerate(photo.visible_faces, start=1)}
        names = {e[0] for e in (photo.metadata_written or {}).get("people", []) if e and e[0] != FORGET_MARK}
        for face in photo.faces:
            if face.forgotten and not face.encodings and not face.name:
                continue
            if face.confirmed:
                names.add(face.name)
                result.confirmed += 1
            elif face.guess:
                result.guessed += 1
            result.faces.append(FaceFinding(file, numbers.get(face.face_id), "photo"))
            change, encodings = _forget_face(photo, face, now)
            if change is not None:
                changes.append(change)
            result.encodings += encodings
        if names:
            _clean_photo_metadata(photo, names, writer, result)
    kept = [r for r in state.pending_rows if r.get("file") != file]
    result.pending += len(state.pending_rows) - len(kept)
    state.pending_rows = kept
    return changes


# -- the commands' work -------------------------------------------------------------------------


def forget_person(scanner: Scanner, roots: list[Path], raw_name: str, dry_run: bool = False,
                  state_dir: Path | None = None, clock: Callable[[], float] = time.time) -> ErasureReport:
    """Erase everything held about a person below ``roots`` (and in the database)."""
    name = check_person(raw_name)
    report = ErasureReport(subject=name, dry_run=dry_run)
    writer = scanner.updater.metadata  # None: no names are written into photos
    folders = [f for f in walk_folders(roots, scanner.settings.exclude) if FolderStore(f).exists()]
    candidates = [f for f in folders if _mentions(f, name)]
    mirror = scanner.mirror
    if dry_run:
        for folder in candidates:
            result = FolderErasure(folder)
            with FolderStore(folder).transaction(write=False) as txn:
                erase_person_in_state(txn.state, name, txn.now, writer, result)
            erase_set_aside(folder, name, True, result)
            report.folders.append(result)
        if mirror is not None:
            report.database = _database_counts(mirror, name)
        return report
    if not scanner.settings.roots:
        raise FacesidecarError("forget needs the library's roots: set [[roots]] in the config or give --root PATH")
    scanner.clusters.library.drop_person(name)  # no face is guessed as them while the folders are rewritten
    if mirror is not None:
        report.database = mirror.forget_person(name)
    for folder in candidates:
        result = FolderErasure(folder)

        def change(txn: Transaction, result: FolderErasure = result) -> None:
            txn.changes.extend(erase_person_in_state(txn.state, name, txn.now, writer, result))

        folder_report = scanner.update_folder(folder, change)
        report.errors.extend(folder_report.errors)
        try:
            erase_set_aside(folder, name, False, result)
        except OSError as exc:
            report.errors.append((str(folder), f"cannot clean a set-aside sidecar: {exc.strerror}"))
        report.folders.append(result)
    report.errors.extend(scanner.refresh().errors)
    if mirror is not None:
        flushed = mirror.flush(force=True)
        if flushed.unreachable:
            report.leftovers.append(f"the database is not reachable ({flushed.error}); its rows are erased "
                                    "when it is back (queued in the outbox)")
    report.leftovers.extend(_leftovers(candidates, {name}))
    if report.found:
        report.thumbnails = empty_thumbnails(scanner.settings.state_path())
    if report.found or report.leftovers:
        write_erasure_log(state_dir or scanner.settings.state_path(), "person", name, report, roots, clock())
    return report


def forget_photo(scanner: Scanner, photo: Path, dry_run: bool = False, state_dir: Path | None = None,
                 clock: Callable[[], float] = time.time) -> ErasureReport:
    """Erase every face of one photo: names, guesses, encodings, its metadata names, its rows."""
    photo = Path(photo).expanduser()
    if not photo.is_file():
        raise FacesidecarError(f"no photo {photo}")
    photo = photo.resolve()
    folder, file = photo.parent, photo.name
    report = ErasureReport(subject=str(photo), dry_run=dry_run)
    result = FolderErasure(folder)
    writer = scanner.updater.metadata  # None: no names are written into photos
    if not FolderStore(folder).exists():
        return report
    if dry_run:
        with FolderStore(folder).transaction(write=False) as txn:
            erase_photo_in_state(txn.state, file, txn.now, writer, result)
        report.folders.append(result)
        return report
    def change(txn: Transaction) -> None:
        txn.changes.extend(erase_photo_in_state(txn.state, file, txn.now, writer, result))

    report.errors.extend(scanner.update_folder(folder, change).errors)
    report.folders.append(result)
    if result.found:
        report.errors.extend(scanner.refresh().errors)
    if scanner.mirror is not None:
        flushed = scanner.mirror.flush(force=True)
        if flushed.unreachable:
            report.leftovers.append(f"the database is not reachable ({flushed.error}); the photo's rows are "
                                    "erased when it is back (queued in the outbox)")
    if report.found:
        report.thumbnails = empty_thumbnails(scanner.settings.state_path())
        write_erasure_log(state_dir or scanner.settings.state_path(), "photo", str(photo), report, [folder], clock())
    return report


def empty_thumbnails(state_dir: Path) -> int:
    """Delete the cached face thumbnails and display copies; returns how many files went."""
    cache = Path(state_dir) / THUMBNAILS
    if not cache.is_dir():
        return 0
    count = sum(1 for p in cache.rglob("*") if p.is_file())
    shutil.rmtree(cache, ignore_errors=True)
    return count


def _leftovers(folders: list[Path], names: set[str]) -> list[str]:
    """Folders whose sidecars still hold a name after the erasure (a failed write, a locked file)."""
    return [f"{folder}: the sidecars still mention the name (see the errors above)"
            for folder in folders if any(_mentions(folder, n) for n in names)]


def _database_counts(mirror, name: str) -> dict:
    try:
        rows = mirror.person_rows(name)
    except FacesidecarError as exc:
        return {"error": str(exc)}
    return {"faces": len(rows["faces"]), "encodings": len(rows["encodings"]), "people": len(rows["people"])}


def write_erasure_log(state_dir: Path, kind: str, subject: str, report: ErasureReport, roots: list[Path],
                      now: float) -> Path:
    """Append one line: when, what kind, how much, where; the name only as a SHA-256, no biometrics."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / ERASURE_LOG
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "kind": kind,
        "subject_sha256": name_sha256(subject),
        "roots": [str(r) for r in roots],
        "erased": report.totals(),
        "database": {k: v for k, v in report.database.items() if isinstance(v, int)},
        "database_queued": bool(report.database.get("queued")),
        "thumbnails": report.thumbnails,
        "errors": len(report.errors),
        "leftovers": len(report.leftovers),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
    return path


# -- export -------------------------------------------------------------------------------------


def _encoding_json(vector) -> dict:
    import numpy as np

    data = np.asarray(vector, dtype=np.float32)
    return {"dimension": int(data.size), "float32_base64": base64.b64encode(data.tobytes()).decode("ascii"),
            "values": [float(v) for v in data]}


def _when(seconds: float | None) -> str | None:
    if not seconds:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def export_person(roots: list[Path], raw_name: str, exclude: list[str], mirror=None) -> dict:
    """Everything held about the person: faces (boxes, encodings, names, times), photos, database rows."""
    name = check_person(raw_name)
    faces, pending, history = [], [], []
    for folder in walk_folders(roots, exclude):
        if not FolderStore(folder).exists() or not _mentions(folder, name):
            continue
        state = FolderStore(folder).load()
        for photo in state.photos.values():
            numbers = {f.face_id: n for n, f in enumerate(photo.visible_faces, start=1)}
            for face in photo.faces:
                if face.name == name or face.guess == name:
                    faces.append(_face_json(folder, photo, face, numbers.get(face.face_id), name))
                elif name in face.name_history.values():
                    history.append({"folder": str(folder), "file": photo.file, "face_id": face.face_id,
                                    "face_nr": numbers.get(face.face_id),
                                    "revisions": sorted(r for r, n in face.name_history.items() if n == name)})
        pending += [{"folder": str(folder), **{k: r.get(k) for k in ("file", "face_nr", "box", "name")}}
                    for r in state.pending_rows if normalize_name(str(r.get("name", ""))) == name]
    data: dict = {
        "person": name,
        "exported_at": _when(time.time()),
        "roots": [str(r) for r in roots],
        "faces": faces,
        "earlier_names": history,
        "pending_rows": pending,
    }
    if mirror is not None:
        try:
            rows = mirror.person_rows(name)
            data["database"] = _json_rows(rows)
        except FacesidecarError as exc:
            data["database"] = {"error": str(exc)}
    return data


def _face_json(folder: Path, photo: PhotoState, face: Face, number: int | None, name: str) -> dict:
    return {
        "folder": str(folder),
        "file": photo.file,
        "face_nr": number,
        "face_id": face.face_id,
        "how": "confirmed" if face.name == name else "guessed",
        "box": {"x": face.box.x, "y": face.box.y, "w": face.box.w, "h": face.box.h},
        "name": face.name,
        "guess": face.guess,
        "distance": face.distance,
        "cluster": face.cluster,
        "origin": face.origin,
        "named_at": _when(face.named_at),
        "name_history": {str(k): v for k, v in sorted(face.name_history.items()) if v in (name, "")},
        "encodings": {model: _encoding_json(v) for model, v in face.encodings.items()},
        "photo": {"size": photo.size, "mtime": _when(photo.mtime_ns / 1e9), "sha256": photo.sha256,
                  "width": photo.width, "height": photo.height, "orientation": photo.orientation,
                  "model": photo.model, "scanned_at": _when(photo.scanned_at),
                  "names_written_into_photo": [e for e in (photo.metadata_written or {}).get("people", [])
                                               if e and e[0] == name]},
    }


def _json_rows(rows: dict) -> dict:
    def plain(value):
        if isinstance(value, (bytes, bytearray)):
            return base64.b64encode(bytes(value)).decode("ascii")
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return value

    return {table: [{k: plain(v) for k, v in row.items()} for row in items] for table, items in rows.items()}


def report_json(report: ErasureReport) -> dict:
    return {
        "dry_run": report.dry_run,
        "found": report.found,
        "totals": report.totals(),
        "folders": [{"folder": str(f.folder), **{k: v for k, v in asdict(f).items() if k not in ("folder",)}}
                    for f in report.folders if f.found],
        "database": report.database,
        "thumbnails": report.thumbnails,
        "leftovers": report.leftovers,
        "errors": [{"where": w, "error": e} for w, e in report.errors],
    }
