"""Atomic file replacement that carries the folder's permissions, through the confined layer.

A sidecar is written to a temporary dotfile in the same folder, fsynced, given the mode and owner
the folder's photos would get, then renamed over the old file; the folder is fsynced so that the
rename survives a power cut. A reader therefore sees the old file or the new one, never a mix.
Every step goes through :mod:`.confined`: the folder is reached without following a symlink below
its root, and the temporary file must still be ours when it is renamed.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Collection
from pathlib import Path

from ..errors import SidecarError
from .confined import Folder, RefusedFile, limits, opened


def _write_error(path: Path, exc: OSError, kept: bool) -> SidecarError:
    return SidecarError(
        f"cannot write {path}: {exc.strerror or exc}; "
        + ("the previous version is kept" if kept else "nothing was written")
        + (" (disk full: free some space)" if exc.errno == 28 else "")
    )


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically; on any failure the old file stays as it was.

    ``mode`` defaults to the folder's mode without execute bits (see :meth:`.confined.Folder.write_atomic`).
    """
    path = Path(path)
    try:
        with opened(path.parent) as folder:
            try:
                folder.write_atomic(path.name, data, mode)
            except OSError as exc:
                raise _write_error(path, exc, folder.exists(path.name)) from None
    except OSError as exc:
        raise _write_error(path, exc, False) from None


def fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError, RefusedFile), opened(folder) as opened_folder:
        opened_folder.fsync()


def exchange_atomic(path: Path, data: bytes, *, known: Collection[str] = (), settle: float = 0.0,
                    max_wait: float = 10.0) -> bytes | None:
    """Replace ``path`` with ``data`` and return what ``path`` held at the very instant of the swap.

    The caller compares the returned bytes with what it merged from: if a person saved the file
    between our read and our write, their bytes come back here instead of being lost. Where the
    file system cannot exchange (network mounts), this falls back to a plain atomic rename
    preceded by a last read, and returns that read. Anything at ``path`` that is not a regular
    file (a planted symlink, a FIFO) is replaced without being read: None comes back.

    A save may still be under way in the swapped-out file (an editor or a WebDAV server that
    truncates and then writes in pieces keeps writing into that inode): unless its bytes hash to
    one of ``known``, they are read once they have not changed for ``settle`` seconds. Such a save
    stays on disk in the swapped-out file (``.faces.csv.tmp-<pid>-*``) until the caller has
    committed what it merged from it: a writer killed in between leaves it to the next transaction
    (store/leftovers.py), never only in the memory of a dead process.
    """
    path = Path(path)
    try:
        with opened(path.parent) as folder:
            if not folder.is_regular(path.name):
                write_atomic(path, data)
                return None
            return _exchange(folder, path.name, data, known, settle, max_wait)
    except OSError as exc:
        raise _write_error(path, exc, True) from None


def _exchange(folder: Folder, name: str, data: bytes, known: Collection[str], settle: float,
              max_wait: float) -> bytes | None:
    tmp = folder.temp_name(name)
    persons_save = False
    try:
        written = folder.write_new(tmp, data, folder.file_mode())
        folder.match_owner(tmp)
        folder.check_same(tmp, written)
        if folder.exchange(tmp, name):
            folder.fsync()
            swapped_out = _read_swapped_out(folder, tmp, known, settle, max_wait)
            persons_save = swapped_out is not None and hashlib.sha256(swapped_out).hexdigest() not in known
            return swapped_out
        previous = folder.read(name, limits().csv)
        folder.rename(tmp, name, expected=written)
        folder.fsync()
        return previous
    finally:
        if not persons_save:
            folder.remove(tmp)


def _read_swapped_out(folder: Folder, tmp: str, known: Collection[str], settle: float, max_wait: float) -> bytes | None:
    """The bytes of the file our swap moved aside, once nobody is writing into it any more.

    None when what was swapped out is not a regular file any more (nothing of a person's to merge).
    """
    try:
        return read_when_settled(folder, tmp, known, settle, max_wait)
    except RefusedFile:
        return None


UNFINISHED_SETTLE_FACTOR = 10
"""How many times ``settle`` a faces.csv that cannot be a whole save (empty, or not ending with a line
break) must stay unchanged before it counts as the file's content (10 s for the daemon's 1 s). Every
save in place passes through the empty and the cut-off file (the editor truncates, then writes in
pieces) and the next piece may take longer than ``settle`` to come (an HTTP PUT over a slow link, an
editor on a loaded machine: issue 20, seed 3); such bytes carry no whole edit, so waiting for them
costs nothing but the wait (a save without a final line break is taken after this long)."""

LINE_ENDS = (b"\n", b"\r", b"\n\x00", b"\r\x00", b"\x00\n", b"\x00\r")
"""How a whole CSV save ends, in UTF-8 and the encodings spreadsheets save in (UTF-16 LE and BE)."""


def read_when_settled(folder: Folder, name: str, known: Collection[str] = (), settle: float = 0.0,
                      max_wait: float = 10.0) -> bytes | None:
    """The bytes of ``name`` once they have not changed for ``settle`` seconds (None if it is absent).

    An editor that truncates and then writes leaves a short or empty file for a moment; reading it
    then would look like deleted rows, and a writer that took it for the save would throw away the
    file the editor is still writing into. Bytes whose hash is in ``known`` (what facesidecar wrote
    itself) need no waiting; empty bytes are never known, and they and any bytes not ending with a
    line break wait ``UNFINISHED_SETTLE_FACTOR`` times as long. After ``max_wait`` the bytes are taken as they are. RefusedFile when ``name`` is not a regular file
    (or too large).
    """
    deadline = time.monotonic() + max_wait
    while True:
        before = folder.lstat(name)
        data = folder.read(name, limits().csv)
        if before is None or data is None:
            return None
        if data and hashlib.sha256(data).hexdigest() in known:
            return data
        quiet = settle if data.endswith(LINE_ENDS) else settle * UNFINISHED_SETTLE_FACTOR
        age = time.time() - before.st_mtime
        timed_out = time.monotonic() >= deadline
        if age >= quiet or timed_out:
            after = folder.lstat(name)
            if timed_out or (after is not None and
                              (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)):
                return data
        time.sleep(min(max(quiet - age, 0.02), 0.25))
