"""The publish stage: confirmed names (and, if configured, guesses) into the photos' own metadata.

Runs inside the folder's transaction, before the sidecars are written, so that what was written
into each photo is recorded in faces.pkl with it; the mirror is told after the sidecars are saved.
A photo whose write failed keeps its old record and is written again on the next pass.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import MetadataError, SidecarError
from ..folders import file_sha256
from ..model import IGNORE, Box, FolderState, PersonRegion, PhotoState, ScanReport
from ..ports import MetadataWriter
from ..store import confined

log = logging.getLogger(__name__)


def wanted_people(photo: PhotoState, write_guesses: bool) -> list[list]:
    """The [name, box] pairs the photo should carry, as recorded in ``metadata_written["people"]``."""
    people = []
    for face in photo.visible_faces:
        name = face.name if face.confirmed else (face.guess if write_guesses and not face.name else "")
        if name and name != IGNORE:
            people.append([name, [round(v, 4) for v in face.box.to_plain()]])
    return people


def metadata_pending(photos: dict[str, PhotoState], write_guesses: bool) -> bool:
    """Whether a photo still lacks the names it should carry (a write that failed: exiftool
    killed, disk full), so that the next run retries it even though nothing else changed."""
    return any(not p.error and p.width and p.metadata_written.get("people", []) != wanted_people(p, write_guesses)
               for p in photos.values())


def write_metadata(folder: Path, state: FolderState, writer: MetadataWriter, write_guesses: bool,
                   report: ScanReport) -> None:
    """Write the wanted names into the photos whose wanted names differ from what we wrote."""
    for photo in state.photos.values():
        if photo.error or not photo.width:
            continue
        wanted = wanted_people(photo, write_guesses)
        if photo.metadata_written.get("people", []) == wanted:
            continue
        path = folder / photo.file
        regions = [PersonRegion(name, Box.from_plain(box)) for name, box in wanted]
        try:
            record = writer.sync(path, regions, photo.orientation, (photo.width, photo.height),
                                 photo.metadata_written.get("record", {}))
        except MetadataError as exc:
            report.errors.append((str(path), str(exc)))
            log.error("%s", exc)
            continue
        photo.metadata_written = {"people": wanted, "record": record}
        restat(path, photo)
        report.metadata_written += 1


def restat(path: Path, photo: PhotoState) -> None:
    """Our own metadata write is not a change of the photo: remember its new size/mtime/hash."""
    try:
        with confined.open_file(path) as handle:
            info = os.fstat(handle.fileno())
        photo.take_stat(info)
        photo.sha256 = file_sha256(path)
    except (OSError, SidecarError) as exc:
        log.warning("%s: cannot stat after writing metadata: %s", path, exc)


__all__ = ["metadata_pending", "restat", "wanted_people", "write_metadata"]
