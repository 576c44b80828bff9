"""Confined file access: everything facesidecar reads or writes inside a photo root goes through here.

A photo root is written by people and devices less trusted than the daemon (see SECURITY.md), so a
path inside it is never handed to ``open()``: a symlink planted anywhere below the root would send
the read or the write wherever it points. Instead a folder is opened once, component by component
from its root, with ``O_NOFOLLOW | O_DIRECTORY`` (:meth:`Folder.open`), and every file in it is
reached relative to that directory descriptor:

* reads accept regular files only (:meth:`Folder.open_regular`): the entry is ``lstat``-ed, opened
  with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO never blocks the open), and the open file must be the
  entry that was checked (same ``st_dev``/``st_ino``), with a size cap for sidecars;
* writes create a fresh temporary file (``O_CREAT | O_EXCL``: a planted name or symlink makes it
  fail), check before the rename that the name still holds that very file, and rename it within
  the same directory descriptor, so a folder swapped for a symlink meanwhile changes nothing;
* set-aside copies (``*.bad-*``) hold only bytes read from a regular file and are owner-only.

A symlink below a root is never followed, whatever it points at, also when it points to another
place inside the same root: following it would make one photo two photos, and a link to a folder
could loop. It is skipped and reported once per process (:func:`report_once`).

The roots are registered by :class:`facesidecar.config.Settings`; a folder that lies in no
registered root (a unit test's temporary folder, ``scan PATH`` outside the roots) is its own root:
its own name must not be a symlink, and everything below it is confined the same way.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import SidecarError

log = logging.getLogger(__name__)

MB = 1 << 20


class RefusedFile(SidecarError):
    """A name inside a root that facesidecar will not read or write through (not a regular file, a
    symlink, a folder reached through a symlink, too large)."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass
class ReadLimits:
    """Size caps (bytes) of every sidecar read; generous, so that only hostile files reach them."""

    csv: int = 64 * MB
    pkl: int = 512 * MB
    xmp: int = 32 * MB


_roots: list[Path] = []
_limits = ReadLimits()
_reported: set[str] = set()
_reported_lock = threading.Lock()


def configure(roots: Iterable[Path | str], limits: ReadLimits | None = None) -> None:
    """Register photo roots (kept for the life of the process) and set the read limits."""
    global _limits
    for root in roots:
        for form in (os.path.abspath(root), os.path.realpath(root)):
            path = Path(form)
            if path not in _roots:
                _roots.append(path)
    if limits is not None:
        _limits = limits


def limits() -> ReadLimits:
    return _limits


def anchor(path: Path | str) -> tuple[Path, tuple[str, ...]]:
    """The innermost registered root holding ``path`` and the names below it.

    A path in no root is its own anchor (with no names below it).
    """
    absolute = Path(os.path.abspath(path))
    inside = [r for r in _roots if r == absolute or r in absolute.parents]
    if not inside:
        return absolute, ()
    root = max(inside, key=lambda r: len(r.parts))
    return root, absolute.parts[len(root.parts):]


def report_once(path: Path | str, reason: str, level: int = logging.WARNING) -> bool:
    """Log ``path: reason`` the first time this process reports ``path``; True when it was logged now.

    One bad item, one message: the walk, the listing and the store may all meet the same name.
    """
    key = str(path)
    with _reported_lock:
        if key in _reported:
            return False
        _reported.add(key)
    log.log(level, "%s: %s", path, reason)
    return True


def describe(mode: int) -> str:
    """What kind of file ``mode`` is, in words for an error message."""
    kinds = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((text for test, text in kinds if test(mode)), "not a regular file")


def not_regular(mode: int) -> str:
    """The reason given for refusing a name that is not a regular file (or a folder reached through a link)."""
    if stat.S_ISLNK(mode):
        return ("is a symbolic link; links are never followed inside the photo roots (SECURITY.md), so it is "
                "skipped; put the file or folder itself there instead")
    return (f"is {describe(mode)}, not a regular file; facesidecar reads only regular files inside the photo "
            "roots; remove or rename it")


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_dir(name: str | Path, dir_fd: int | None, follow: bool, shown: Path) -> int:
    try:
        return os.open(name, _DIR_FLAGS | (0 if follow else os.O_NOFOLLOW), dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            with contextlib.suppress(OSError):
                mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
                if not stat.S_ISDIR(mode):
                    raise RefusedFile(shown, not_regular(mode)) from None
        raise


class Folder:
    """An open folder inside a root; every name in it is reached through its descriptor."""

    def __init__(self, fd: int, path: Path):
        self.fd = fd
        self.path = path

    @classmethod
    def open(cls, path: Path | str) -> Folder:
        """Open ``path`` from its root without following a symlink below the root.

        RefusedFile when a component below the root is a symlink (or not a folder); OSError
        (FileNotFoundError, PermissionError) as the system reports it otherwise.
        """
        root, names = anchor(path)
        fd = _open_dir(root, None, follow=bool(names) or Path(os.path.abspath(path)) in _roots, shown=root)
        shown = root
        try:
            for name in names:
                shown = shown / name
                if name in (".", ".."):
                    raise RefusedFile(shown, "is not a plain folder name")
                child = _open_dir(name, fd, follow=False, shown=shown)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, Path(os.path.abspath(path)))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def identity(self) -> tuple[int, int]:
        info = os.fstat(self.fd)
        return info.st_dev, info.st_ino

    def subfolder(self, name: str, create: bool = False) -> Folder:
        """The folder ``name`` in this one (made first, with this folder's mode, when ``create``)."""
        _check_name(self.path, name)
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, stat.S_IMODE(os.fstat(self.fd).st_mode), dir_fd=self.fd)
        return Folder(_open_dir(name, self.fd, follow=False, shown=self.path / name), self.path / name)

    def rmdir(self, name: str) -> None:
        """Remove the empty folder ``name`` (a link of that name is not followed: the call fails)."""
        _check_name(self.path, name)
        os.rmdir(name, dir_fd=self.fd)

    # -- looking --------------------------------------------------------------------------------
    def scandir(self) -> Iterator[os.DirEntry]:
        """The entries of the folder (``entry.path`` is only the name: use ``self.path / entry.name``)."""
        with os.scandir(self.fd) as entries:
            yield from entries

    def names(self) -> list[str]:
        return os.listdir(self.fd)

    def lstat(self, name: str) -> os.stat_result | None:
        """The entry's own status (a symlink is not followed); None when there is none."""
        _check_name(self.path, name)
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def is_regular(self, name: str) -> bool:
        info = self.lstat(name)
        return info is not None and stat.S_ISREG(info.st_mode)

    def exists(self, name: str) -> bool:
        return self.lstat(name) is not None

    # -- reading --------------------------------------------------------------------------------
    def open_regular(self, name: str, writable: bool = False) -> int:
        """A descriptor of the regular file ``name``: RefusedFile for anything else, at once.

        FileNotFoundError when there is no such entry. The entry is checked before it is opened
        (opening a device can have effects of its own) and the opened file must be that entry.
        """
        before = self.lstat(name)
        if before is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(self.path / name))
        if not stat.S_ISREG(before.st_mode):
            raise RefusedFile(self.path / name, not_regular(before.st_mode))
        try:
            fd = os.open(name, _READ_FLAGS | (os.O_RDWR if writable else 0), dir_fd=self.fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RefusedFile(self.path / name, "was replaced by a symbolic link while it was opened; "
                                                    "not followed") from None
            raise
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) != (before.st_dev, before.st_ino):
            os.close(fd)
            raise RefusedFile(self.path / name, "was replaced while it was opened; not read")
        os.set_blocking(fd, True)
        return fd

    def reader(self, name: str) -> BinaryIO:
        """The regular file ``name`` opened for reading (see :meth:`open_regular`)."""
        return os.fdopen(self.open_regular(name), "rb")

    def read(self, name: str, limit: int) -> bytes | None:
        """The bytes of the regular file ``name`` (None if absent); RefusedFile above ``limit`` bytes."""
        try:
            fd = self.open_regular(name)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as handle:
            return read_capped(handle, limit, self.path / name)

    # -- writing --------------------------------------------------------------------------------
    def create(self, name: str, mode: int = 0o600) -> int:
        """A descriptor of a new file ``name``: fails if anything (a file, a symlink) has that name."""
        _check_name(self.path, name)
        return os.open(name, _CREATE_FLAGS, mode, dir_fd=self.fd)

    def temp_name(self, name: str) -> str:
        return temp_name(name)

    def write_new(self, name: str, data: bytes, mode: int = 0o600) -> os.stat_result:
        """Write ``data`` into a new file ``name`` (fsynced); its status, to check it before a rename."""
        fd = self.create(name, mode)
        try:
            write_all(fd, data)
            os.fchmod(fd, mode)
            os.fsync(fd)
            return os.fstat(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=self.fd)
            raise
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)

    def check_same(self, name: str, expected: os.stat_result) -> None:
        """RefusedFile unless ``name`` is still the very file ``expected`` describes."""
        now = self.lstat(name)
        if now is None or not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (expected.st_dev, expected.st_ino):
            raise RefusedFile(self.path / name, "was replaced by something else before facesidecar renamed it; "
                                                "nothing was written")

    def rename(self, source: str, target: str, expected: os.stat_result | None = None) -> None:
        """Rename within this folder; with ``expected``, only if ``source`` is still that file."""
        _check_name(self.path, source)
        _check_name(self.path, target)
        if expected is not None:
            self.check_same(source, expected)
        os.rename(source, target, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def write_atomic(self, name: str, data: bytes, mode: int | None = None) -> None:
        """Replace ``name`` by a file holding ``data``: the old file or the new, never a mix.

        ``mode`` defaults to the folder's mode without execute bits (the photos' readers can read
        the sidecars). A symlink at ``name`` is replaced by the file, never written through.
        """
        tmp = self.temp_name(name)
        try:
            written = self.write_new(tmp, data, self.file_mode() if mode is None else mode)
            self.match_owner(tmp)
            self.rename(tmp, name, expected=written)
        except BaseException:
            self.remove(tmp)
            raise
        self.fsync()

    def exchange(self, first: str, second: str) -> bool:
        """Swap two names atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
        return _renameat2_exchange(self.fd, first, second)

    def unlink(self, name: str) -> None:
        """Remove the entry ``name`` itself (a symlink is removed, not what it points at)."""
        _check_name(self.path, name)
        os.unlink(name, dir_fd=self.fd)

    def remove(self, name: str) -> bool:
        """Remove ``name`` if it is there; False (and nothing raised) when it could not be removed."""
        try:
            self.unlink(name)
        except OSError:
            return False
        return True

    def set_aside(self, name: str, data: bytes, suffix: str) -> str:
        """Keep ``data`` (bytes read from the regular file ``name``) as ``name.bad-SUFFIX``, owner-only."""
        bad = f"{name}.bad-{suffix}"
        for attempt in range(100):
            candidate = bad if attempt == 0 else f"{bad}-{attempt}"
            try:
                self.write_new(candidate, data, 0o600)
            except FileExistsError:
                continue
            self.fsync()
            return candidate
        raise FileExistsError(errno.EEXIST, "too many set-aside copies", str(self.path / bad))

    def file_mode(self) -> int:
        """The mode a file facesidecar writes for people gets: the folder's, without execute bits."""
        return stat.S_IMODE(os.fstat(self.fd).st_mode) & 0o666

    def match_owner(self, name: str) -> None:
        """Give a file we wrote the folder's owner and group (when running as root)."""
        if os.geteuid() != 0:
            return
        info = os.fstat(self.fd)
        with contextlib.suppress(OSError):
            os.chown(name, info.st_uid, info.st_gid, dir_fd=self.fd, follow_symlinks=False)

    def fsync(self) -> None:
        """Make renames in the folder survive a power cut."""
        with contextlib.suppress(OSError):
            os.fsync(self.fd)

    def proc_path(self, name: str = "") -> str:
        """A path to this very folder (or ``name`` in it) for an external program (see :func:`proc_path`)."""
        return proc_path(self.fd, name)


def temp_name(name: str) -> str:
    """A fresh hidden name next to ``name`` (the scanner and the watcher skip dotfiles)."""
    return f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def _check_name(folder: Path, name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise RefusedFile(folder / str(name), "is not a plain file name in this folder")


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_capped(handle: BinaryIO, limit: int, shown: Path) -> bytes:
    """All of ``handle``, or RefusedFile when it holds more than ``limit`` bytes."""
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise RefusedFile(shown, too_large(limit))
    return data


def too_large(limit: int) -> str:
    return (f"is larger than {limit / MB:g} MB, the limit for this kind of file; not read "
            "(raise it in the config's [limits] section if the file is genuine)")


@contextlib.contextmanager
def opened(path: Path | str) -> Iterator[Folder]:
    """``with opened(folder) as f:`` — :meth:`Folder.open` that closes itself."""
    folder = Folder.open(path)
    try:
        yield folder
    finally:
        folder.close()


def open_file(path: Path | str) -> BinaryIO:
    """The regular file at ``path`` (inside a root) opened for reading, reached without links."""
    path = Path(path)
    with opened(path.parent) as folder:
        return folder.reader(path.name)


def proc_path(fd: int, name: str = "") -> str:
    """A path for an external program (exiftool) to the file or folder open as ``fd`` in this process.

    ``/proc/<pid>/fd/<n>`` resolves to what this process opened and checked, wherever its name
    points now; below a folder's descriptor only ``name`` is looked up by the other program.
    """
    base = f"/proc/{os.getpid()}/fd/{fd}"
    return f"{base}/{name}" if name else base


def check_size(handle: BinaryIO, limit: int, shown: Path | str) -> None:
    """RefusedFile when the open file is larger than ``limit`` bytes (before anything reads it)."""
    if os.fstat(handle.fileno()).st_size > limit:
        raise RefusedFile(shown, too_large(limit))


def read_file(path: Path | str, limit: int) -> bytes | None:
    """The bytes of the regular file at ``path`` (None if absent), capped at ``limit``."""
    path = Path(path)
    with opened(path.parent) as folder:
        return folder.read(path.name, limit)


def lstat(path: Path | str) -> os.stat_result | None:
    """The status of the entry at ``path`` reached without links; None if absent or unreachable."""
    path = Path(path)
    try:
        with opened(path.parent) as folder:
            return folder.lstat(path.name)
    except (OSError, RefusedFile):
        return None


def is_regular(path: Path | str) -> bool:
    info = lstat(path)
    return info is not None and stat.S_ISREG(info.st_mode)


_RENAME_EXCHANGE = 2


def _renameat2_exchange(dir_fd: int, first: str, second: str) -> bool:
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    func = getattr(libc, "renameat2", None)
    if func is None:
        return False
    if func(dir_fd, os.fsencode(first), dir_fd, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), second)


__all__ = ["Folder", "ReadLimits", "RefusedFile", "anchor", "check_size", "configure", "describe", "is_regular", "limits",
           "lstat", "not_regular", "open_file", "opened", "read_capped", "proc_path", "read_file", "report_once", "temp_name", "too_large", "write_all"]
