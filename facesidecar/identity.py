"""Which photos are still the very files their state was made from (issue 13, rule 7).

A stat per photo (size and mtime) is what keeps a rescan cheap, but a photo replaced by a different
one with the same size and mtime (restored from a backup, copied with ``cp -p``, ``touch -r``)
passes it. Such a file has another inode, or a newer ctime (which no program can set back), so
these are compared too; when they differ the content hash decides: the same bytes (a chmod, a
hard link, a copy of the same photo) only update what is recorded, other bytes make the photo a
new one. Names follow the content: the old state's faces and names leave with the old content
(to wherever it is found again, as for a move) and are never given to the new photo.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SidecarError
from .model import FolderState, PhotoState

log = logging.getLogger(__name__)


@dataclass
class IdentityCheck:
    restat: dict[str, os.stat_result] = field(default_factory=dict)
    """Photos whose identity is to be recorded without a rescan (same content, or never recorded)."""
    replaced: list[str] = field(default_factory=list)
    """Photos that are other files with other content under the same name, size and mtime."""


def check_identities(folder: Path, known: dict[str, PhotoState], on_disk: dict[str, os.stat_result],
                     to_scan: Collection[str], digest: Callable[[Path], str]) -> IdentityCheck:
    """Compare each photo that looks unchanged with the file its state was made from.

    A state saved before identities were recorded is trusted and recorded (reading every photo of
    a library once after an upgrade would cost more than this rule is worth); a photo that cannot
    be read now is left for the next pass.
    """
    check = IdentityCheck()
    for name, info in on_disk.items():
        photo = known.get(name)
        if photo is None or name in to_scan:
            continue
        if not photo.inode:
            check.restat[name] = info
        elif not photo.same_inode_as(info):
            try:
                same = digest(folder / name) == photo.sha256
            except (OSError, SidecarError):
                continue
            if same:
                check.restat[name] = info
            else:
                log.info("%s was replaced by another photo (same size and time, other content): scanned as a new one",
                         folder / name)
                check.replaced.append(name)
    return check


def record_identities(state: FolderState, on_disk: Mapping[str, os.stat_result], names: Iterable[str]) -> None:
    """Remember which file each of ``names`` now is (those just scanned, or checked unchanged): only
    where the state describes that very file (same size and mtime as the stat the plan saw)."""
    for name in names:
        photo, info = state.photos.get(name), on_disk.get(name)
        if photo is not None and info is not None and photo.same_file_as(info.st_size, info.st_mtime_ns):
            photo.take_stat(info)
