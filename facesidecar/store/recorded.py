"""What this process last read or wrote in each folder's faces.pkl, for the watcher's echo check.

For every group of file events the daemon's watcher asks whether the files are exactly what
faces.pkl records: the scanner's own writes (the sidecars, the names exiftool wrote into the
photos) and files touched without a change need no job. The scan has just read or written that
faces.pkl; keeping the few values the check compares (each photo's size, mtime, inode and ctime;
faces.csv's hash) spares reading it again, as long as faces.pkl is still the very file they came
from (same device, inode, size and mtime). Only the folders most recently read or written are kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from ..model import FolderState, PhotoState

KEPT_FOLDERS = 1024
"""Folders remembered at most (about 100 bytes a photo): those just scanned, whose echoes come next."""

Stamp = tuple[int, int, int, int]
"""faces.pkl's device, inode, size and mtime: the file the values were read from or written to."""


@dataclass(frozen=True)
class RecordedFiles:
    """What faces.pkl records of a folder's files: each photo's identity on disk, faces.csv's hash."""

    csv_sha256: str = ""
    photos: dict[str, PhotoState] = field(default_factory=dict)
    """Per photo only the file's identity (size, mtime, inode, ctime): no faces, no encodings."""

    @classmethod
    def of(cls, state: FolderState) -> RecordedFiles:
        return cls(state.csv_sha256, {name: PhotoState(file=p.file, size=p.size, mtime_ns=p.mtime_ns, inode=p.inode,
                                                       ctime_ns=p.ctime_ns) for name, p in state.photos.items()})


_kept: OrderedDict[Path, tuple[Stamp, RecordedFiles]] = OrderedDict()
_lock = threading.Lock()
"""The worker thread remembers (scans), the watcher's thread recalls (echo checks)."""


def remember(folder: Path, stamp: Stamp, state: FolderState) -> None:
    """faces.pkl of ``folder``, the file ``stamp`` describes, holds ``state``."""
    recorded = RecordedFiles.of(state)
    with _lock:
        _kept[folder] = (stamp, recorded)
        _kept.move_to_end(folder)
        while len(_kept) > KEPT_FOLDERS:
            _kept.popitem(last=False)


def recall(folder: Path, stamp: Stamp) -> RecordedFiles | None:
    """What was remembered of ``folder`` if faces.pkl is still that file (``stamp``), else None."""
    with _lock:
        kept = _kept.get(folder)
    return kept[1] if kept is not None and kept[0] == stamp else None


__all__ = ["KEPT_FOLDERS", "RecordedFiles", "Stamp", "recall", "remember"]
