"""Saves left behind in the temporary file of a writer that was killed (issue 20).

A writer replaces faces.csv by swapping it with ``.faces.csv.tmp-<pid>-<random>`` (store/atomic.py).
A person whose editor had faces.csv open and saved in place at that moment wrote into the inode the
swap moved aside; the writer reads that save once it has settled and merges it. A writer killed while
it waited leaves the save in the temporary file, where only the next transaction of the folder finds
it. Everything here is about finding such files cheaply and reading them as the untrusted input they
are: a person (or anyone who can write into the folder) can put any file under that name.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import SidecarError
from . import CSV_NAME

CSV_LEFTOVER_PREFIX = f".{CSV_NAME}.tmp-"
"""The name of every temporary faces.csv: ``.faces.csv.tmp-<pid>-<random>``."""

MAX_LEFTOVER_BYTES = 64 << 20
"""A leftover is a faces.csv: anything larger is not one (and is not read into memory)."""


def is_csv_leftover(name: str) -> bool:
    return name.startswith(CSV_LEFTOVER_PREFIX)


def writer_pid(name: str) -> int | None:
    """The pid of the process that created the temporary file ``name`` (None: not one of ours)."""
    pid, _, _ = name.removeprefix(CSV_LEFTOVER_PREFIX).partition("-")
    return int(pid) if is_csv_leftover(name) and pid.isdigit() else None


def writer_alive(name: str) -> bool:
    """Whether the process that created ``name`` still runs (it then merges the file itself)."""
    pid = writer_pid(name)
    if pid is None or pid == 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def read_leftover(path: Path) -> bytes:
    """The bytes of a leftover, read only if it is a regular file (no link, FIFO or device) of
    sane size; raises SidecarError naming the file otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SidecarError(f"cannot read {path}: {exc.strerror} (a link is never followed)") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SidecarError(f"{path} is not a regular file; ignored")
        data = handle.read(MAX_LEFTOVER_BYTES + 1)
    if len(data) > MAX_LEFTOVER_BYTES:
        raise SidecarError(f"{path} is larger than {MAX_LEFTOVER_BYTES >> 20} MiB; not a faces.csv, ignored")
    return data
