"""The crash-safe write: a checked copy replaces a photo's bytes in place, or not at all.

A write never goes straight into the photo. exiftool writes a hidden copy next to it
(``-o``), the copy is read back and checked, and only then are its bytes copied over the
original *in place*, which keeps the inode, hard links, symlinks, owner and ACLs, as
``-overwrite_original_in_place`` would. A copy in place is not atomic, so the checked copy is first
renamed to a commit file. Whoever finds a commit file next to a photo finishes the copy. A photo is
therefore either untouched or fully written, even when exiftool or facesidecar is killed.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

from ...errors import MetadataError

log = logging.getLogger(__name__)

_TMP = ".facesidecar-tmp"
_COMMIT = ".facesidecar-commit"


def _sibling(target: Path, kind: str) -> Path:
    """A hidden file next to ``target`` (the scanner and watcher skip dotfiles)."""
    suffix = ".xmp" if target.suffix.lower() == ".xmp" else ""
    return target.with_name(f".{target.name}{kind}{suffix}")


def temp_copy_for(target: Path) -> Path:
    """Where exiftool writes the copy of ``target`` that is checked before it is committed."""
    return _sibling(target, _TMP)


def check_writable(target: Path) -> None:
    """Read-only files and folders are the owner's decision: refuse, also when running as root."""
    folder = target.parent
    if target.exists():
        mode = target.stat().st_mode
        if not os.access(target, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
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

    The commit file carries the modification time the photo must end with, so that whoever
    finishes an interrupted copy (:func:`recover`) restores the right one.
    """
    commit = _sibling(target, _COMMIT)
    try:
        _fsync(tmp)
        if not target.exists():
            os.replace(tmp, target)
            return
        if preserve_mtime:
            before = target.stat()
            os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(tmp, commit)  # from here on the write is decided: recover finishes it
        _copy_in_place(commit, target)
    except _NotStarted as exc:
        remove_temporary(commit)
        raise MetadataError(
            f"{target}: no room to add the names ({exc.strerror or exc}); the photo is unchanged;"
            " free some disk space"
        ) from None
    except OSError as exc:
        remove_temporary(tmp)
        raise MetadataError(
            f"{target}: the checked copy could not be put in place ({exc.strerror or exc}); the next"
            " metadata write finishes it"
        ) from None


def _copy_in_place(commit: Path, target: Path) -> None:
    """Copy ``commit`` over ``target`` keeping its inode (and so links, owner, ACLs), then drop it.

    The extra space is reserved first, so a full disk stops the copy before any byte of the photo
    is overwritten.
    """
    wanted = commit.stat()
    original = target.stat()
    with open(commit, "rb") as src, open(target, "r+b") as dst:
        if wanted.st_size > original.st_size:
            try:
                os.posix_fallocate(dst.fileno(), original.st_size, wanted.st_size - original.st_size)
            except OSError as exc:
                dst.truncate(original.st_size)
                dst.close()
                os.utime(target, ns=(original.st_atime_ns, original.st_mtime_ns))
                raise _NotStarted(exc.errno, exc.strerror) from None
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.truncate()
        dst.flush()
        os.fsync(dst.fileno())
    os.utime(target, ns=(wanted.st_atime_ns, wanted.st_mtime_ns))
    os.unlink(commit)


def recover(target: Path) -> None:
    """Finish a write that was decided (commit file present) and drop an undecided one (tmp)."""
    commit = _sibling(target, _COMMIT)
    if commit.exists() and target.exists():
        log.warning("%s: finishing a metadata write that was interrupted", target)
        try:
            _copy_in_place(commit, target)
        except OSError as exc:
            raise MetadataError(
                f"{target}: an interrupted metadata write cannot be finished ({exc.strerror or exc});"
                f" the complete file is {commit}; copy it over the photo by hand"
            ) from None
    remove_temporary(_sibling(target, _TMP))


def finish_interrupted_writes(folder: Path) -> list[Path]:
    """Finish or drop the metadata writes a crash left in ``folder``; the files it finished.

    A scan may call it before decoding a folder's photos, so that it never reads a photo whose
    copy in place was cut short. ``sync`` does the same for each photo it writes.
    """
    finished = []
    for entry in Path(folder).glob(f".*{_COMMIT}*"):
        target = entry.with_name(entry.name[1:].split(_COMMIT)[0])
        if target.exists():
            recover(target)
            finished.append(target)
    for entry in Path(folder).glob(f".*{_TMP}*"):
        remove_temporary(entry)
    return finished


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_temporary(path: Path) -> None:
    """Remove a temporary file of ours; a failure is only logged (the photo itself is fine)."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("%s: cannot remove temporary file: %s", path, exc.strerror)
