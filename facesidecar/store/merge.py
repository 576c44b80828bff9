"""Three-way merge of faces.csv edits into the folder state; rendering of the state as rows.

The file on disk may be the one facesidecar wrote last, a person's edit of it, or a copy an editor
opened an hour ago and saved now. Each row carries ``rev``: the generation of faces.csv at which
that row's name got the value written with it. So a row tells which version of itself the editor
saw, and the merge is a real three-way merge per face:

* the row's name differs from the name facesidecar wrote with that rev -> the person edited it;
* it equals that name -> nothing was edited here, whatever changed since stays (a stale copy
  never undoes a later change).

Without a usable ``rev`` (column dropped, pkl rebuilt) the rule of SPEC.md applies: a name that
differs from what facesidecar last wrote is an edit unless facesidecar wrote that value earlier.

A face whose row is missing is a rejected detection, but only when the file shows that the editor
saw that face (its first generation is not newer than the newest rev in the file): a stale copy
that predates a face does not reject it, and an empty or half-written file rejects nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from ..model import Box, Face, FolderState, PhotoState
from .csvfile import CsvRow, OutRow

MATCH_IOU = 0.5

FileId = tuple[int, int]
"""The (device, inode) of the file a save was read from."""


@dataclass(frozen=True)
class NameChange:
    """A confirmed name that changed, and who changed it (csv, cli, review, import, …)."""

    file: str
    face_id: str
    old: str
    new: str
    source: str


@dataclass
class MergeResult:
    changes: list[NameChange] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    unmatched: list[CsvRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def match_row(photo: PhotoState, row: CsvRow) -> Face | None:
    """The visible face of ``photo`` that ``row`` describes: same box, else the best overlap."""
    best, best_iou = None, MATCH_IOU
    for face in photo.faces:
        if not face.visible:
            continue
        if face.box.rounded() == row.box:
            return face
        overlap = face.box.iou(row.box)
        if overlap >= best_iou:
            best, best_iou = face, overlap
    return best


def photo_of(state: FolderState, file: str) -> PhotoState | None:
    """The photo a row's ``file`` names: the exact name, else the one photo equal to it in NFC
    (an editor that re-normalized the file name); never a different photo that merely looks alike."""
    photo = state.photos.get(file)
    if photo is not None:
        return photo
    if file.isascii():
        return None
    wanted = unicodedata.normalize("NFC", file)
    alike = [p for name, p in state.photos.items()
             if not name.isascii() and unicodedata.normalize("NFC", name) == wanted]
    return alike[0] if len(alike) == 1 else None


def is_edit(face: Face, row: CsvRow, file_id: FileId | None = None) -> bool:
    """Whether the row's name is a person's edit rather than what facesidecar wrote (or a stale copy).

    A row of the person's own file that no faces.csv of ours has answered yet is compared with what
    they saved there: saving a name and then taking it back in the same file (``file_id``, the file
    the rows were read from) is two edits. A row at that rev in any other file is an older copy.
    """
    if row.rev is not None and row.rev == face.saved_rev and file_id is not None and file_id == face.saved_file:
        return row.name != face.saved_name
    base = face.name_history.get(row.rev) if row.rev is not None else None
    if base is not None:
        return row.name != base
    last_written = face.name_history.get(face.rev, face.name)
    return row.name != last_written and row.name not in face.name_history.values()


def set_name(photo: PhotoState, face: Face, name: str, source: str, now: float) -> NameChange | None:
    """Give ``face`` a confirmed name (or clear it); the one place a name changes."""
    if face.name == name:
        return None
    change = NameChange(photo.file, face.face_id, face.name, name, source)
    face.name = name
    face.named_at = now if name else None
    return change


def merge_rows(state: FolderState, rows: list[CsvRow], now: float, source: str = "csv",
               reject_missing: bool = True, spared: Collection[str | None] = (),
               file_id: FileId | None = None) -> MergeResult:
    """Apply the edits found in ``rows`` (faces.csv as read from disk) to ``state``.

    ``spared``: photos whose missing rows must not reject their faces (a row of theirs was in the
    file but could not be read). ``file_id``: the file the rows were read from (see :func:`is_edit`).
    """
    result = MergeResult()
    seen: dict[str, CsvRow] = {}
    newest_rev = -1
    # a rev on disk that the state never recorded (faces.pkl rebuilt or restored) is used up all the same
    state.csv_gen = max([state.csv_gen] + [row.rev for row in rows if row.rev is not None])
    for row in rows:
        photo = photo_of(state, row.file)
        face = match_row(photo, row) if photo else None
        if face is None:
            result.unmatched.append(row)
            continue
        if row.rev is not None and row.rev in face.name_history:
            newest_rev = max(newest_rev, row.rev)
        if face.face_id in seen and not is_edit(face, row, file_id):
            continue
        if face.face_id in seen:
            result.warnings.append(f"line {row.line}: a second row for {row.file} face {row.face_nr}; the later one counts")
        seen[face.face_id] = row
        if is_edit(face, row, file_id):
            change = set_name(photo, face, row.name, source, now)
            if change:
                result.changes.append(change)
            if row.rev is not None:
                face.saved_rev, face.saved_name, face.saved_file = row.rev, row.name, file_id
    if reject_missing:
        _reject_deleted_rows(state, seen, newest_rev, result, spared)
    return result


def _reject_deleted_rows(state: FolderState, seen: dict[str, CsvRow], newest_rev: int, result: MergeResult,
                         spared: Collection[str | None]) -> None:
    for photo, face in state.faces():
        if not face.visible or face.face_id in seen or not face.name_history or photo.file in spared:
            continue
        if min(face.name_history) <= newest_rev:
            face.rejected = True
            result.rejected.append((photo.file, face.face_id))


def answer_saves(state: FolderState) -> None:
    """faces.csv on disk is ours again: a person's next save starts from its revs."""
    for _, face in state.faces():
        face.saved_rev, face.saved_name, face.saved_file = None, "", None


def keep_pending(state: FolderState, rows: list[CsvRow], photo_exists: Callable[[str], bool]) -> None:
    """Remember rows of photos the state does not know yet, so their names are written back."""
    known = {(r["file"], tuple(r["box"])) for r in state.pending_rows}
    for row in rows:
        key = (row.file, tuple(row.box.to_plain()))
        if row.file in state.photos or not photo_exists(row.file):
            continue
        if key in known:
            for pending in state.pending_rows:
                if (pending["file"], tuple(pending["box"])) == key:
                    pending["name"] = row.name
            continue
        known.add(key)
        state.pending_rows.append({"file": row.file, "face_nr": row.face_nr, "box": row.box.to_plain(), "name": row.name})


def adopt_unmatched(state: FolderState, rows: list[CsvRow], now: float,
                    photo_exists: Callable[[str], bool]) -> list[NameChange]:
    """Names from rows that matched no face before, for faces never written yet (rebuilt state).

    When faces.pkl had to be rebuilt, faces.csv still holds the names; once the photos are
    scanned again the rows find their faces by box and the names come back. Until then they
    stay in ``state.pending_rows``.
    """
    pending = [CsvRow(0, r["file"], int(r["face_nr"]), Box.from_plain(r["box"]), str(r["name"]), None)
               for r in state.pending_rows]
    changes = []
    for row in rows + pending:
        photo = photo_of(state, row.file)
        face = match_row(photo, row) if photo else None
        if face is None or face.name_history or not row.name:
            continue
        change = set_name(photo, face, row.name, "csv", now)
        if change:
            changes.append(change)
    state.pending_rows = [r for r in state.pending_rows if r["file"] not in state.photos and photo_exists(r["file"])]
    return changes


def render_rows(state: FolderState) -> list[OutRow]:
    """The rows of faces.csv for ``state``; names that changed get the next generation as rev."""
    generation = state.csv_gen + 1
    rows = []
    used_generation = False
    for file_name in sorted(state.photos):
        photo = state.photos[file_name]
        for number, face in enumerate(photo.visible_faces, start=1):
            if face.name_history.get(face.rev) != face.name or face.rev not in face.name_history:
                face.rev = generation
                face.name_history[generation] = face.name
                used_generation = True
            rows.append(OutRow(
                file=file_name, face_nr=number, box=face.box.rounded(), name=face.name,
                guess=face.guess, distance=face.distance, cluster=face.cluster, rev=face.rev,
            ))
    rows.extend(
        OutRow(file=r["file"], face_nr=int(r["face_nr"]), box=Box.from_plain(r["box"]), name=str(r["name"]),
               guess="", distance=None, cluster="", rev=0)
        for r in state.pending_rows if r["file"] not in state.photos
    )
    if used_generation:
        state.csv_gen = generation
    return rows
