"""The crash-safe write: a checked copy replaces a photo's bytes in place, or not at all.

A write never goes straight into the photo. exiftool writes a hidden copy next to it
(``-o``), the copy is read back and checked, and only then are its bytes copied over the
original *in place*, which keeps the inode, hard links, owner and ACLs, as
``-overwrite_original_in_place`` would. A copy in place is not atomic, so the checked copy is first
renamed to a commit file. Whoever finds a commit file next to a photo finishes the copy. A photo is
therefore either untouched or fully written, even when exiftool or facesidecar is killed.

Every write runs inside its folder's transaction, under the folder lock (store/folder.py), so a
copy or commit file found under that lock was left by a writer that died. Finishing a folder's
interrupted writes from outside a transaction (a scan's plan stage) takes the lock too: without
it, the daemon's catch-up removed the copy a ``facesidecar name`` had just had exiftool write, and
the name never reached the photo (issue 20).

A commit file lies in a folder that others can write, so it is trusted only when facesidecar can
prove it wrote it (issue 13, rule 2; SECURITY.md): it ends with a trailer holding a fixed magic,
the length and SHA-256 of the bytes before it, and the photo's ``st_dev``/``st_ino``; it must be a
regular file with a single link on the folder's device, and the photo must be a regular file with
that identity. Anything else is reported and left where it is: never copied over anything. Every
file here is reached through :mod:`facesidecar.store.confined` (no link is followed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ...errors import MetadataError, SidecarError
from ...store import confined
from ...store.folder import folder_lock

log = logging.getLogger(__name__)

_TMP = ".facesidecar-tmp"
_COMMIT = ".facesidecar-commit"
MAGIC = b"\nFACESIDECAR-COMMIT-1\n"
"""Secret-free: it tells our commit files from stray files, the identity and checksum bind it to one photo."""
_LENGTH = struct.Struct(">I")
_MAX_TRAILER = 4096


class NotOurs(Exception):
    """A commit file facesidecar cannot prove it wrote (the reason is the message)."""


@dataclass(frozen=True)
class Trailer:
    """What a commit file says about itself and the photo it belongs to."""

    size: int
    sha256: str
    dev: int
    ino: int
    atime_ns: int
    mtime_ns: int

    def encode(self) -> bytes:
        body = json.dumps(self.__dict__, sort_keys=True).encode()
        return body + _LENGTH.pack(len(body)) + MAGIC


def _sibling(target: Path, kind: str) -> Path:
    """A hidden file next to ``target`` (the scanner and watcher skip dotfiles)."""
    suffix = ".xmp" if target.suffix.lower() == ".xmp" else ""
    return target.with_name(f".{target.name}{kind}{suffix}")


def temp_copy_for(target: Path) -> Path:
    """Where exiftool writes the copy of ``target`` that is checked before it is committed.

    The name is unpredictable, so nobody can plant a link at it before exiftool creates it.
    """
    return _sibling(target, f"{_TMP}-{secrets.token_hex(8)}")


def check_writable(target: Path) -> None:
    """Read-only files and folders are the owner's decision: refuse, also when running as root."""
    folder = target.parent
    info = confined.lstat(target)
    if info is not None:
        if not os.access(target, os.W_OK) or not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise MetadataError(f"{target}: the file is read-only; make it writable (chmod u+w) to have names written into it")
    folder_mode = folder.stat().st_mode
    if not os.access(folder, os.W_OK) or not folder_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise MetadataError(
            f"{target}: its folder {folder} is read-only; exiftool needs to write a temporary file there,"
            " make the folder writable to have names written"
        )


class _NotStarted(OSError):
    """The copy in place could not even begin (no space): the photo is untouched."""


def commit_copy(tmp: Path, target: Path, preserve_mtime: bool) -> None:
    """Make ``tmp`` the content of ``target``: a new sidecar by rename, a photo by copy in place.

    The commit file's trailer carries the modification time the photo must end with, so that
    whoever finishes an interrupted copy (:func:`recover`) restores the right one.
    """
    commit = _sibling(target, _COMMIT)
    try:
        with confined.opened(target.parent) as folder:
            checked = _seal(folder, tmp.name, target.name, preserve_mtime)
            if checked is None:
                return
            folder.rename(tmp.name, commit.name, expected=checked)  # from here on the write is decided
            folder.fsync()
        _copy_in_place(commit, target)
    except _NotStarted as exc:
        remove_temporary(commit)
        raise MetadataError(
            f"{target}: no room to add the names ({exc.strerror or exc}); the photo is unchanged;"
            " free some disk space"
        ) from None
    except (OSError, confined.RefusedFile, NotOurs) as exc:
        remove_temporary(tmp)
        raise MetadataError(
            f"{target}: the checked copy could not be put in place ({getattr(exc, 'strerror', None) or exc}); the next"
            " metadata write finishes it"
        ) from None


def _seal(folder: confined.Folder, tmp: str, target: str, preserve_mtime: bool) -> os.stat_result | None:
    """Append the trailer to the checked copy; None when ``target`` is new and the copy took its place."""
    fd = folder.open_regular(tmp, writable=True)
    try:
        copy = os.fstat(fd)
        if copy.st_nlink != 1:
            raise confined.RefusedFile(folder.path / tmp, "has other hard links; not ours")
        os.fsync(fd)
        photo = folder.lstat(target)
        if photo is None:
            folder.rename(tmp, target, expected=copy)
            folder.fsync()
            return None
        if not stat.S_ISREG(photo.st_mode):
            raise confined.RefusedFile(folder.path / target, confined.not_regular(photo.st_mode))
        times = photo if preserve_mtime else copy
        trailer = Trailer(copy.st_size, _hash(fd, copy.st_size), photo.st_dev, photo.st_ino,
                          times.st_atime_ns, times.st_mtime_ns)
        os.pwrite(fd, trailer.encode(), copy.st_size)
        os.fsync(fd)
        return os.fstat(fd)
    finally:
        os.close(fd)


def _hash(fd: int, size: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while offset < size:
        block = os.pread(fd, min(1 << 20, size - offset), offset)
        if not block:
            break
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


def _proven(folder: confined.Folder, commit: str, target: str) -> tuple[int, Trailer]:
    """An open descriptor of ``commit`` and its trailer, when facesidecar provably wrote it for ``target``."""
    try:
        fd = folder.open_regular(commit)
    except confined.RefusedFile as exc:
        raise NotOurs(exc.reason) from None
    try:
        trailer = _read_trailer(fd, os.fstat(fd), folder)
        photo = folder.lstat(target)
        if photo is None or not stat.S_ISREG(photo.st_mode):
            raise NotOurs(f"its photo {target} is not a regular file")
        if (photo.st_dev, photo.st_ino) != (trailer.dev, trailer.ino):
            raise NotOurs(f"it belongs to another file than {target}")
        if _hash(fd, trailer.size) != trailer.sha256:
            raise NotOurs("its content does not match its checksum")
    except BaseException:
        os.close(fd)
        raise
    return fd, trailer


def _read_trailer(fd: int, info: os.stat_result, folder: confined.Folder) -> Trailer:
    if info.st_nlink != 1:
        raise NotOurs("it has other hard links")
    if info.st_dev != os.fstat(folder.fd).st_dev:
        raise NotOurs("it lies on another device than its folder")
    end = len(MAGIC) + _LENGTH.size
    tail = os.pread(fd, end, max(info.st_size - end, 0))
    if len(tail) != end or not tail.endswith(MAGIC):
        raise NotOurs("it has no facesidecar trailer")
    (length,) = _LENGTH.unpack(tail[: _LENGTH.size])
    if length > _MAX_TRAILER or length + end > info.st_size:
        raise NotOurs("its trailer is malformed")
    try:
        fields = json.loads(os.pread(fd, length, info.st_size - end - length))
        trailer = Trailer(**{k: int(fields[k]) if k != "sha256" else str(fields[k]) for k in Trailer.__dataclass_fields__})
    except (ValueError, TypeError, KeyError):
        raise NotOurs("its trailer is malformed") from None
    if trailer.size != info.st_size - end - length:
        raise NotOurs("its length does not match its trailer")
    return trailer


def _copy_in_place(commit: Path, target: Path) -> None:
    """Copy ``commit`` over ``target`` keeping its inode (and so links, owner, ACLs), then drop it.

    Only a commit file :func:`_proven` to be ours is copied (NotOurs otherwise). The extra space is
    reserved first, so a full disk stops the copy before any byte of the photo is overwritten.
    """
    with confined.opened(target.parent) as folder:
        source, trailer = _proven(folder, commit.name, target.name)
        with os.fdopen(source, "rb") as src, _open_photo(folder, target.name, trailer) as dst:
            original = os.fstat(dst.fileno())
            _reserve(dst, original, trailer.size)
            src.seek(0)
            _copy_bytes(src, dst, trailer.size)
            dst.truncate()
            dst.flush()
            os.fsync(dst.fileno())
            os.utime(dst.fileno(), ns=(trailer.atime_ns, trailer.mtime_ns))
        folder.unlink(commit.name)
        folder.fsync()


def _open_photo(folder: confined.Folder, name: str, trailer: Trailer) -> BinaryIO:
    fd = folder.open_regular(name, writable=True)
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino) != (trailer.dev, trailer.ino):
        os.close(fd)
        raise NotOurs(f"it belongs to another file than {name}")
    return os.fdopen(fd, "r+b")


def _reserve(dst: BinaryIO, original: os.stat_result, size: int) -> None:
    if size <= original.st_size:
        return
    try:
        os.posix_fallocate(dst.fileno(), original.st_size, size - original.st_size)
    except OSError as exc:
        dst.truncate(original.st_size)
        os.utime(dst.fileno(), ns=(original.st_atime_ns, original.st_mtime_ns))
        raise _NotStarted(exc.errno, exc.strerror) from None


def _copy_bytes(src: BinaryIO, dst: BinaryIO, size: int) -> None:
    """The first ``size`` bytes of ``src`` (the payload before the trailer) into ``dst``."""
    remaining = size
    while remaining:
        block = src.read(min(1 << 20, remaining))
        if not block:
            raise OSError(5, "the commit file is shorter than its trailer says")
        dst.write(block)
        remaining -= len(block)


def recover(target: Path) -> bool:
    """Finish a write that was decided (a commit file of ours present) and drop an undecided one (tmp).

    True when a copy was finished. A commit file facesidecar cannot prove it wrote is reported
    once and left alone.
    """
    commit = _sibling(target, _COMMIT)
    finished = False
    if confined.lstat(commit) is not None and confined.lstat(target) is not None:
        try:
            _copy_in_place(commit, target)
            log.warning("%s: finished a metadata write that was interrupted", target)
            finished = True
        except NotOurs as exc:
            confined.report_once(commit, f"not written by facesidecar ({exc}); ignored, nothing is copied from it")
        except (OSError, confined.RefusedFile) as exc:
            raise MetadataError(
                f"{target}: an interrupted metadata write cannot be finished ({getattr(exc, 'strerror', None) or exc});"
                f" the complete file is {commit}; copy it over the photo by hand"
            ) from None
    _remove_temporaries(target.parent, f".{target.name}{_TMP}")
    return finished


def finish_interrupted_writes(folder: Path) -> list[Path]:
    """Finish or drop the metadata writes a crash left in ``folder``; the files it finished.

    A scan may call it before decoding a folder's photos, so that it never reads a photo whose
    copy in place was cut short. ``sync`` does the same for each photo it writes. The folder lock
    is taken only when the listing shows a file of ours, and waited for: a writer holding it is
    alive, and its copy is not a crash's.
    """
    if not any(_ours(name) for name in _names(folder)):
        return []
    finished = []
    try:
        with folder_lock(folder):
            for name in _names(folder):
                if name.startswith(".") and _COMMIT in name:
                    target = Path(folder) / name[1:].split(_COMMIT)[0]
                    if target.name and recover(target):
                        finished.append(target)
            _remove_temporaries(Path(folder), ".")
    except SidecarError:  # the folder went, or became a link, since it was listed
        return finished
    return finished


def _names(folder: Path) -> list[str]:
    """The names in ``folder`` (none when it cannot be opened without following a link)."""
    try:
        with confined.opened(folder) as opened:
            return opened.names()
    except (OSError, confined.RefusedFile):
        return []


def _ours(name: str) -> bool:
    """Whether ``name`` is one of our hidden copies or commit files."""
    return name.startswith(".") and (_COMMIT in name or _TMP in name)


def _remove_temporaries(folder: Path, prefix: str) -> None:
    """Remove the undecided copies (``*.facesidecar-tmp*``) starting with ``prefix`` in ``folder``."""
    with contextlib.suppress(OSError, confined.RefusedFile), confined.opened(folder) as opened:
        for name in opened.names():
            if name.startswith(prefix) and _TMP in name:
                opened.remove(name)


def remove_temporary(path: Path) -> None:
    """Remove a temporary file of ours; a failure is only logged (the photo itself is fine)."""
    try:
        with confined.opened(path.parent) as folder:
            folder.unlink(path.name)
    except FileNotFoundError:
        pass
    except (OSError, confined.RefusedFile) as exc:
        log.warning("%s: cannot remove temporary file: %s", path, getattr(exc, "strerror", None) or exc)


__all__ = ["MAGIC", "NotOurs", "Trailer", "check_writable", "commit_copy", "finish_interrupted_writes", "recover",
           "remove_temporary", "temp_copy_for"]
