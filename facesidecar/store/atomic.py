"""Atomic file replacement that carries the folder's permissions.

A sidecar is written to a temporary dotfile in the same folder, fsynced, given the mode and owner
the folder's photos would get, then renamed over the old file; the folder is fsynced so that the
rename survives a power cut. A reader therefore sees the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import time
from collections.abc import Collection
from pathlib import Path

from ..errors import SidecarError


def temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def _match_folder_permissions(fd: int, folder: Path) -> None:
    """Give the file the folder's group/owner and the folder's mode without execute bits."""
    info = os.stat(folder)
    os.fchmod(fd, stat.S_IMODE(info.st_mode) & 0o666)
    if os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.fchown(fd, info.st_uid, info.st_gid)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically; on any failure the old file stays as it was."""
    tmp = temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            _match_folder_permissions(fd, path.parent)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        kept = "the previous version is kept" if path.exists() else "nothing was written"
        raise SidecarError(
            f"cannot write {path}: {exc.strerror or exc}; {kept}"
            + (" (disk full: free some space)" if exc.errno == 28 else "")
        ) from None
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2_exchange(src: Path, dst: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    func = getattr(libc, "renameat2", None)
    if func is None:
        return False
    result = func(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_EXCHANGE)
    if result == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95, 18):  # EINVAL, ENOSYS, EOPNOTSUPP, EXDEV: not supported here
        return False
    raise OSError(errno, os.strerror(errno), str(dst))


def exchange_atomic(path: Path, data: bytes, *, known: Collection[str] = (), settle: float = 0.0,
                    max_wait: float = 10.0) -> bytes | None:
    """Replace ``path`` with ``data`` and return what ``path`` held at the very instant of the swap.

    The caller compares the returned bytes with what it merged from: if a person saved the file
    between our read and our write, their bytes come back here instead of being lost. Where the
    file system cannot exchange (network mounts), this falls back to a plain atomic rename
    preceded by a last read, and returns that read.

    A save may still be under way in the swapped-out file (an editor or a WebDAV server that
    truncates and then writes in pieces keeps writing into that inode): unless its bytes hash to
    one of ``known``, they are read once they have not changed for ``settle`` seconds.
    """
    if not path.exists():
        write_atomic(path, data)
        return None
    tmp = temp_name(path)
    try:
        write_atomic(tmp, data)
        if _renameat2_exchange(tmp, path):
            fsync_folder(path.parent)
            previous = _read_swapped_out(tmp, known, settle, max_wait)
            tmp.unlink()
            return previous
        previous = path.read_bytes()
        os.replace(tmp, path)
        fsync_folder(path.parent)
        return previous
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise SidecarError(f"cannot write {path}: {exc.strerror or exc}; the previous version is kept") from None


def _read_swapped_out(tmp: Path, known: Collection[str], settle: float, max_wait: float) -> bytes:
    """The bytes of the file our swap moved aside, once nobody is writing into it any more."""
    deadline = time.monotonic() + max_wait
    while True:
        before = os.stat(tmp)
        data = tmp.read_bytes()
        if hashlib.sha256(data).hexdigest() in known:
            return data
        age = time.time() - before.st_mtime
        if age >= settle or time.monotonic() >= deadline:
            after = os.stat(tmp)
            if (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size) \
                    or time.monotonic() >= deadline:
                return data
        time.sleep(min(max(settle - age, 0.02), 0.25))
