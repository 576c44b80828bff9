"""The apply stage: detections, moves and vanished photos into a folder's state (inside its transaction).

Faces found again keep their id, name and history; a confirmed name is never lost; regions other
tools named in a photo become confirmed names the first time it is scanned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..model import (
    Detection,
    Face,
    FolderPlan,
    FolderState,
    FoundFace,
    ImportedRegion,
    PhotoState,
    best_overlap,
    new_face_id,
)
from ..store.merge import NameChange, set_name
from .detect import IMPORT_IOU

log = logging.getLogger(__name__)

MATCH_IOU = 0.5
"""A face found again is the stored face its box overlaps at least this much (IoU)."""


def merge_faces(old: list[Face], found: Sequence[FoundFace], model: str, extra: Mapping[str, list[np.ndarray]]) -> list[Face]:
    """Faces found again (box overlap) keep their id, name and history; confirmed faces not found
    again are kept (a name is never lost); rejected ones are kept so they stay rejected."""
    merged, used = [], set()
    for index, item in enumerate(found):
        match = best_overlap(item.box, [f for f in old if f.face_id not in used], MATCH_IOU)
        face = match or Face(face_id=new_face_id(), box=item.box)
        used.add(face.face_id)
        face.box = item.box
        face.encodings = {} if face.forgotten else {model: item.encoding, **{m: v[index] for m, v in extra.items()}}
        merged.append(face)
    kept = [f for f in old if f.face_id not in used and (f.name or f.rejected or f.forgotten)]
    return merged + kept


def apply_detection(state: FolderState, detection: Detection, model: str, now: float) -> list[NameChange]:
    """The photo's state after ``detection``; the names its metadata brought in (first scan only)."""
    old = state.photos.get(detection.file)
    photo = PhotoState(file=detection.file) if old is None else old
    photo.size, photo.mtime_ns = detection.size, detection.mtime_ns
    photo.sha256, photo.scanned_at = detection.sha256, now
    photo.error = detection.error
    state.photos[detection.file] = photo
    if detection.error:
        log.error("%s", detection.error)
        return []
    photo.model = model
    photo.width, photo.height, photo.orientation = detection.width, detection.height, detection.orientation
    photo.faces = merge_faces(photo.faces, detection.faces, model, detection.extra)
    if photo.imported:
        return []
    return import_names(photo, detection.regions, model, now)


def import_names(photo: PhotoState, regions: Sequence[ImportedRegion], model: str, now: float) -> list[NameChange]:
    """Person regions already in the photo (digiKam, Lightroom, Picasa…) become confirmed names."""
    photo.imported = True
    changes = []
    for region in regions:
        person = region.person
        face = best_overlap(person.box, [f for f in photo.faces if f.visible and not f.name], IMPORT_IOU)
        if face is None and region.encoding is not None:
            face = Face(face_id=new_face_id(), box=person.box, encodings={model: region.encoding}, origin="imported")
            photo.faces.append(face)
        if face is None:
            continue
        change = set_name(photo, face, person.name, "import", now)
        if change:
            changes.append(change)
    return changes


def take_moves(state: FolderState, plan: FolderPlan,
               moved_photo: Callable[[Path, str], PhotoState | None]) -> tuple[str, ...]:
    """Photos that moved into the folder take their faces and names along; the photos still missing.

    ``moved_photo`` gives the freshest state of the photo at its old place. Names keep their
    history only within a folder: faces.csv revisions are per folder. A replaced photo's old state
    leaves its name (identity.py); same-folder sources all leave before any arrives, so that two
    photos that swapped contents each get the other's state, never their own back.
    """
    before = dict(state.photos)
    missing = plan.missing
    for name in plan.replaced:
        state.photos.pop(name, None)
    for source_folder, source_name in plan.moved_in.values():
        if source_folder == plan.folder:
            state.photos.pop(source_name, None)
            missing = tuple(m for m in missing if m != source_name)
    for name, (source_folder, source_name) in plan.moved_in.items():
        photo = before.get(source_name) if source_folder == plan.folder else moved_photo(source_folder, source_name)
        if photo is None:
            continue
        photo.file = name
        photo.take_stat(plan.on_disk[name])
        for face in photo.faces:
            if source_folder != plan.folder:
                face.name_history, face.rev = {}, 0
        state.photos[name] = photo
        log.info("%s moved to %s: its faces and names follow", source_folder / source_name, plan.folder / name)
    return missing


def remove_missing(state: FolderState, folder: Path, missing: Sequence[str]) -> dict[str, PhotoState]:
    """Take the photos that are gone from disk out of the state; what they held, by file name
    (a photo that moved to a folder planned later still finds its faces there)."""
    return {name: state.photos.pop(name) for name in missing
            if name in state.photos and not (folder / name).exists()}


__all__ = ["MATCH_IOU", "apply_detection", "import_names", "merge_faces", "remove_missing", "take_moves"]
