"""Saves left behind in the temporary file of a writer that was killed (issue 20).

A writer replaces faces.csv by swapping it with ``.faces.csv.tmp-<pid>-<random>`` (store/atomic.py).
A person whose editor had faces.csv open and saved in place at that moment wrote into the inode the
swap moved aside; the writer reads that save once it has settled and merges it. A writer killed while
it waited leaves the save in the temporary file, where only the next transaction of the folder finds
it. Everything here is about finding such files cheaply; they are read, like every file in a root, only
through the confined layer (store/confined.py): anyone who can write into the folder can put any
file under that name.
"""

from __future__ import annotations

import os

from . import CSV_NAME

CSV_LEFTOVER_PREFIX = f".{CSV_NAME}.tmp-"
"""The name of every temporary faces.csv: ``.faces.csv.tmp-<pid>-<random>``."""


def own_temp_prefix(pid: int | None = None) -> str:
    """The prefix of the temporary faces.csv files this process (or ``pid``) creates (confined.temp_name)."""
    return f"{CSV_LEFTOVER_PREFIX}{os.getpid() if pid is None else pid}-"


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
