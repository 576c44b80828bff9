"""One folder's sidecars, read, merged and written as one transaction under a lock.

Every writer (scan, daemon, CLI, review page) goes through ``FolderStore.transaction()``:

1. take the folder lock (``flock`` on the folder itself: the kernel drops it when a process dies,
   so a killed writer never leaves it stuck, and no lock file litters the photo folder);
2. load faces.pkl (a refused or broken one is set aside and the state rebuilt);
3. read faces.csv and merge a person's edits (store/merge.py);
4. let the caller change the state;
5. re-read faces.csv, merge what was saved meanwhile, write faces.csv by atomic exchange (a save
   that lands during the write comes back and is merged too), then faces.pkl.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SidecarError
from ..model import FolderState
from . import CSV_NAME, PKL_NAME, confined
from .atomic import exchange_atomic, read_when_settled, write_atomic
from .csvfile import CsvRead, CsvRow, format_csv, read_csv
from .leftovers import CSV_LEFTOVER_PREFIX, own_temp_prefix
from .merge import (
    FileId,
    MergeResult,
    NameChange,
    adopt_unmatched,
    answer_saves,
    keep_pending,
    merge_rows,
    render_rows,
)
from .pklfile import dumps_state, loads_state
from .recorded import RecordedFiles, recall, remember

log = logging.getLogger(__name__)

SETTLE_SECONDS = 1.0
"""A faces.csv modified less than this ago may still be being written by an editor."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _mtime(folder: confined.Folder, name: str) -> float:
    info = folder.lstat(name)
    return info.st_mtime if info is not None else 0.0


def _file_id(info: os.stat_result | None) -> FileId | None:
    return None if info is None else (info.st_dev, info.st_ino)


def timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def read_settled(path: Path, known: tuple[str, ...] = (), settle: float | None = None,
                 max_wait: float = 10.0) -> bytes | None:
    """The file's bytes (None if it is absent) once it has not changed for ``settle`` seconds
    (None: SETTLE_SECONDS as it is at the call, so that one setting governs every read).

    An editor that truncates and then writes leaves a short or empty file for a moment; reading
    it then would look like deleted rows. Bytes whose hash is in ``known`` (what facesidecar wrote
    itself) need no waiting; an empty file waits longer (see :func:`.atomic.read_when_settled`).
    """
    settle = SETTLE_SECONDS if settle is None else settle
    try:
        with confined.opened(path.parent) as folder:
            return read_when_settled(folder, path.name, known, settle, max_wait)
    except OSError as exc:
        raise SidecarError(f"cannot read {path}: {exc.strerror}") from None


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[confined.Folder]:
    """Exclusive lock on the folder (reached without links); released by the kernel if the process dies."""
    try:
        opened = confined.Folder.open(folder)
    except OSError as exc:
        raise SidecarError(f"cannot open folder {folder}: {exc.strerror}") from None
    try:
        fcntl.flock(opened.fd, fcntl.LOCK_EX)
        yield opened
    finally:
        opened.close()


@dataclass(frozen=True)
class Leftover:
    """A temporary faces.csv found in the folder and what it held (b"" when refused or empty)."""

    name: str
    mtime: float
    data: bytes
    file_id: FileId | None = None


@dataclass(frozen=True)
class Snapshot:
    """faces.pkl as one unlocked read found it: a transaction that finds the file unchanged (same
    device, inode, size and mtime: every writer replaces it by rename) starts from ``state``
    instead of reading and decoding the file again."""

    state: FolderState
    data: bytes | None
    stamp: tuple[int, int, int, int] | None


def _stamp(info: os.stat_result | None) -> tuple[int, int, int, int] | None:
    return None if info is None else (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


@dataclass
class Transaction:
    """The state of one folder while it is locked, with what the merge found."""

    folder: Path
    state: FolderState
    changes: list[NameChange] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    unmatched: list[CsvRow] = field(default_factory=list)
    csv_problems: list[str] = field(default_factory=list)
    pkl_error: str = ""
    now: float = field(default_factory=time.time)
    csv_stamp: tuple[int, int, int, int] | None = None
    """faces.csv as it was just before it was last read: unchanged at the commit, it is not read again."""
    _listing: set[str] | None = None

    def photo_exists(self, file: str) -> bool:
        """Whether ``file`` is a file in the folder: one listing per transaction, not a stat per row
        (a hostile faces.csv may name a million photos that do not exist)."""
        if self._listing is None:
            try:
                with confined.opened(self.folder) as folder:
                    self._listing = {e.name for e in folder.scandir() if e.is_file(follow_symlinks=False)}
            except (OSError, SidecarError):
                return confined.is_regular(self.folder / file)
        return file in self._listing

    def record(self, result: MergeResult) -> None:
        self.changes.extend(result.changes)
        self.rejected.extend(result.rejected)
        self.unmatched = result.unmatched
        for warning in result.warnings:
            log.warning("%s: %s", self.folder / CSV_NAME, warning)


class FolderStore:
    """faces.csv + faces.pkl of one folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.csv_path = self.folder / CSV_NAME
        self.pkl_path = self.folder / PKL_NAME

    def exists(self) -> bool:
        return confined.lstat(self.pkl_path) is not None or confined.lstat(self.csv_path) is not None

    def load(self) -> FolderState:
        """The state without taking the lock or merging edits (for read-only commands)."""
        return self.snapshot().state

    def snapshot(self) -> Snapshot:
        """The state without the lock (as :meth:`load`), kept so that a transaction can start from
        it while faces.pkl stays unchanged: the scan reads each faces.pkl once per pass."""
        before = _stamp(confined.lstat(self.pkl_path))
        state, data = self._load_pkl(set_aside=False)
        stamp = before if data is not None and _stamp(confined.lstat(self.pkl_path)) == before else None
        if stamp is not None:
            remember(self.folder, stamp, state)
        return Snapshot(state, data, stamp)

    def recorded_files(self) -> RecordedFiles:
        """What faces.pkl records of the folder's files (the watcher's echo check): from what this
        process last read or wrote while faces.pkl is still that file, else read (store/recorded.py)."""
        stamp = _stamp(confined.lstat(self.pkl_path))
        recorded = recall(self.folder, stamp) if stamp is not None else None
        return recorded if recorded is not None else RecordedFiles.of(self.load())

    @contextlib.contextmanager
    def transaction(self, write: bool = True, snapshot: Snapshot | None = None) -> Iterator[Transaction]:
        """Lock the folder, merge a person's edits, let the caller change the state, write it.

        ``snapshot``: the state as :meth:`snapshot` read it; used (and changed) when faces.pkl is
        still the file it was read from, else faces.pkl is read again.
        """
        with folder_lock(self.folder) as locked:
            if snapshot is not None and snapshot.stamp is not None and \
                    _stamp(locked.lstat(PKL_NAME)) == snapshot.stamp:
                state, pkl_bytes = snapshot.state, snapshot.data
            else:
                state, pkl_bytes = self._load_pkl(set_aside=True)
            txn = Transaction(self.folder, state, pkl_error="" if pkl_bytes is not None or not self.exists() else "rebuilt")
            leftovers = self._read_leftovers(txn, locked)
            csv_time = _mtime(locked, CSV_NAME)
            self._merge_leftovers(txn, [left for left in leftovers if left.mtime <= csv_time])
            csv_seen = self._merge_disk_csv(txn, state.csv_sha256)
            self._merge_leftovers(txn, [left for left in leftovers if left.mtime > csv_time])
            yield txn
            if write:
                self._commit(txn, csv_seen, pkl_bytes)
                self._remove_leftovers(locked, leftovers)

    def _read_leftovers(self, txn: Transaction, folder: confined.Folder) -> list[Leftover]:
        """The temporary faces.csv files of writers that were killed, oldest first (we hold the lock:
        no live writer of ours owns one; a person still saving into one is waited for like into faces.csv).

        A ``.faces.csv.tmp-*`` may be a person's save that the swap of a writer killed right after
        it moved the save aside (while it waited for the save to settle). One that is not a regular
        file, or too large, is reported and removed, never read.
        """
        found = []
        for name in fnmatch.filter(folder.names(), f"{CSV_LEFTOVER_PREFIX}*"):
            try:
                data = read_settled(self.folder / name, known=(txn.state.csv_sha256,)) or b""
            except SidecarError as exc:
                log.warning("%s; a save there is not read", exc)
                data = b""
            info = folder.lstat(name)
            found.append(Leftover(name, info.st_mtime if info is not None else 0.0, data, _file_id(info)))
        return sorted(found, key=lambda left: left.mtime)

    def _merge_leftovers(self, txn: Transaction, leftovers: list[Leftover]) -> None:
        """Merge the saves found in leftovers, each as a person's save made at the leftover's mtime.

        Rows missing from a leftover reject nothing: it may be a writer's own file cut short.
        """
        for left in leftovers:
            if not left.data or sha256(left.data) == txn.state.csv_sha256:
                continue
            try:
                read = read_csv(left.data, str(self.folder / left.name))
            except SidecarError as exc:
                log.warning("%s; a save left behind there is not merged", exc)
                continue
            for problem in read.problems:
                log.warning("%s; that row of a save left behind is not merged", problem.message)
            result = merge_rows(txn.state, read.rows, left.mtime, reject_missing=False, file_id=left.file_id)
            txn.record(result)
            keep_pending(txn.state, result.unmatched, txn.photo_exists)
            if result.changes:
                log.warning("%s: merged %d name(s) from a save left behind by a writer that was stopped (%s)",
                            self.csv_path, len(result.changes), left.name)

    @staticmethod
    def _remove_leftovers(folder: confined.Folder, leftovers: list[Leftover]) -> None:
        """Once what they held is committed: the leftovers read, and half-written faces.pkl copies."""
        for name in [left.name for left in leftovers] + fnmatch.filter(folder.names(), f".{PKL_NAME}.tmp-*"):
            folder.remove(name)

    def _load_pkl(self, set_aside: bool) -> tuple[FolderState, bytes | None]:
        try:
            data = confined.read_file(self.pkl_path, confined.limits().pkl)
        except confined.RefusedFile as exc:
            confined.report_once(self.pkl_path, f"{exc.reason}; the state is rebuilt from the photos", logging.ERROR)
            return FolderState(), None
        except OSError as exc:
            raise SidecarError(f"cannot read {self.pkl_path}: {exc.strerror}") from None
        if data is None:
            return FolderState(), None
        try:
            return loads_state(data), data
        except Exception as exc:  # noqa: BLE001 - any failure of hostile or broken data means: rebuild
            self._report_bad_pkl(exc, data, set_aside)
            return FolderState(), None

    def _report_bad_pkl(self, exc: Exception, data: bytes, set_aside: bool) -> None:
        if not set_aside:
            log.error("%s cannot be used (%s); the next scan rebuilds it", self.pkl_path, exc)
            return
        bad = self._set_aside(PKL_NAME, data)
        with confined.opened(self.folder) as folder:
            folder.remove(PKL_NAME)
        log.error(
            "%s was refused (%s); set aside as %s and rebuilt from the photos; the names in faces.csv are kept",
            self.pkl_path, exc, bad,
        )

    def _set_aside(self, name: str, data: bytes) -> str:
        """Keep the bytes we read from ``name`` as an owner-only ``name.bad-<time>`` next to it."""
        try:
            with confined.opened(self.folder) as folder:
                return folder.set_aside(name, data, timestamp())
        except OSError as exc:
            raise SidecarError(f"cannot write a copy of {self.folder / name}: {exc.strerror}; nothing was changed") from None

    def _merge_disk_csv(self, txn: Transaction, known_sha: str) -> str:
        """Merge the edits in faces.csv on disk; returns the hash of the bytes merged."""
        txn.csv_stamp = _stamp(confined.lstat(self.csv_path))
        try:
            data = read_settled(self.csv_path, known=(known_sha, txn.state.csv_sha256))
        except confined.RefusedFile as exc:
            if confined.is_regular(self.csv_path):
                raise  # too large to read: nothing may replace the edits in it
            confined.report_once(self.csv_path, f"{exc.reason}; it is replaced by facesidecar's faces.csv")
            return ""
        if data is None:
            return ""
        if sha256(data) != known_sha:
            self._merge_bytes(txn, data, None if txn.csv_stamp is None else txn.csv_stamp[:2])
        return sha256(data)

    def _merge_bytes(self, txn: Transaction, data: bytes, file_id: FileId | None) -> None:
        """Merge a person's save; what cannot be read of it is reported and kept, never the run's end.

        A row with a bad cell is left out and the rest of the save merged; the faces of a photo whose
        row was left out are not taken for deleted (nor any face, when a row's file is unreadable).
        The problems stay in the folder state (``facesidecar status`` shows them) until a save reads
        clean, and the save itself is kept as ``faces.csv.bad-*`` so nothing typed is lost.
        ``file_id``: the file the save was read from (a follow-up in that same file may take back a name).
        """
        try:
            read = read_csv(data, str(self.csv_path))
        except SidecarError as exc:
            self._report_bad_save(txn, data, [str(exc)], "faces.csv rewritten from the last good state")
            return
        spared = {p.file for p in read.problems}
        result = merge_rows(txn.state, read.rows, txn.now, reject_missing=None not in spared, spared=spared,
                            file_id=file_id)
        txn.record(result)
        keep_pending(txn.state, result.unmatched, txn.photo_exists)
        self._report_bad_rows(txn, data, read)

    def _report_bad_rows(self, txn: Transaction, data: bytes, read: CsvRead) -> None:
        if read.problems:
            self._report_bad_save(txn, data, [p.message for p in read.problems], "the other rows were merged")
        else:
            txn.state.csv_problems = []

    def _report_bad_save(self, txn: Transaction, data: bytes, problems: list[str], outcome: str) -> None:
        bad = self._set_aside(CSV_NAME, data)
        kept = f"{self.csv_path}: your save was kept as {bad} and {outcome}"
        txn.csv_problems = [*problems, kept]
        txn.state.csv_problems = list(txn.csv_problems)
        for problem in txn.csv_problems:
            log.error("%s", problem)

    def _commit(self, txn: Transaction, csv_seen: str, pkl_bytes: bytes | None) -> None:
        """Write faces.pkl, then faces.csv (merging any save that raced us).

        faces.pkl goes first because it records which name each ``rev`` of faces.csv stands for:
        a process killed between the two files must never have published a generation that the
        state does not know, or the next write would hand out the same rev with other names and a
        copy of the first file, saved later, would look like edits of every row.
        """
        state = txn.state
        txn.changes.extend(adopt_unmatched(state, txn.unmatched, txn.now, txn.photo_exists))
        for attempt in range(10):
            if attempt or not self._csv_unchanged(txn):  # a save made while the transaction ran
                csv_seen = self._merge_disk_csv(txn, csv_seen) or csv_seen
            written_before = state.csv_sha256
            data = format_csv(render_rows(state))
            state.csv_sha256 = sha256(data)
            pkl_bytes = self._write_pkl(state, pkl_bytes)
            if csv_seen == state.csv_sha256:
                break
            # only our own bytes skip the wait: a person's save merged a moment ago may be the file
            # their editor is still writing into (a save stalled after its first bytes)
            swapped_id = _file_id(confined.lstat(self.csv_path))
            swapped_out = exchange_atomic(self.csv_path, data, known=(written_before, state.csv_sha256),
                                          settle=SETTLE_SECONDS)
            if swapped_out is None or sha256(swapped_out) in (csv_seen, state.csv_sha256):
                break
            log.info("%s was saved while facesidecar wrote it; merging that save too", self.csv_path)
            self._merge_bytes(txn, swapped_out, swapped_id)
            csv_seen = state.csv_sha256
        answer_saves(state)
        self._write_pkl(state, pkl_bytes)
        self._remove_own_swaps()

    def _csv_unchanged(self, txn: Transaction) -> bool:
        """Whether faces.csv is still the very file last read (same device, inode, size and mtime).
        A save that lands after this look is caught by the swap itself (exchange_atomic)."""
        return txn.csv_stamp is not None and _stamp(confined.lstat(self.csv_path)) == txn.csv_stamp

    def _remove_own_swaps(self) -> None:
        """The saves our swaps moved aside in this transaction (exchange_atomic keeps them until
        what was merged from them is committed, which it now is)."""
        with confined.opened(self.folder) as folder:
            for name in fnmatch.filter(folder.names(), f"{own_temp_prefix()}*"):
                folder.remove(name)

    def _write_pkl(self, state: FolderState, old: bytes | None) -> bytes:
        new_pkl = dumps_state(state)
        if new_pkl != old:
            write_atomic(self.pkl_path, new_pkl)
        stamp = _stamp(confined.lstat(self.pkl_path))
        if stamp is not None:
            remember(self.folder, stamp, state)
        return new_pkl
