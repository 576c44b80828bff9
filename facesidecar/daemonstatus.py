"""What a running daemon is doing, as a small JSON file in the state folder that ``status`` reads.

The daemon rewrites ``watch-<id>.status.json`` every few seconds (atomically: a temporary file
renamed over it, so a reader never sees half a file) and removes it when it stops. A file whose
process is gone is left over from a crash and is ignored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".status.json"
MAX_BYTES = 1 << 20
"""A status file is a few kB; anything larger is not ours and is not read."""


def status_path(lock_path: Path) -> Path:
    """The status file next to the daemon's instance lock (``watch-<id>.lock``)."""
    return lock_path.with_name(lock_path.stem + SUFFIX)


def write_status(path: Path, data: dict) -> None:
    """Replace ``path`` with ``data`` as JSON; a failure is logged (at debug level: the status file is a
    convenience, the daemon goes on without it), never raised."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, ensure_ascii=False, indent=1, default=str)
            os.chmod(tmp, 0o640)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        log.debug("cannot write the status file %s: %s", path, exc)


def remove_status(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, run by another user (the service user)
    return True


def running_daemons(state_dir: Path) -> list[dict]:
    """The status of every daemon whose status file is in ``state_dir`` and whose process runs.

    Raises PermissionError when the state folder cannot be read (the caller says so)."""
    if state_dir.is_dir() and not os.access(state_dir, os.R_OK | os.X_OK):
        raise PermissionError(13, "Permission denied", str(state_dir))  # glob would only see nothing
    found = []
    for path in sorted(state_dir.glob(f"watch-*{SUFFIX}")):
        try:
            if path.stat().st_size > MAX_BYTES:
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue  # stopped meanwhile
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("pid"), int) or not process_alive(data["pid"]):
            continue
        data["age"] = max(0.0, time.time() - float(data.get("updated", 0) or 0))
        found.append(data)
    return found


def overlaps(roots: list[str], paths: list[Path]) -> bool:
    """Whether a daemon watching ``roots`` works on any of ``paths`` (one inside the other)."""
    for root in map(Path, roots):
        for path in paths:
            if path == root or path.is_relative_to(root) or root.is_relative_to(path):
                return True
    return False


__all__ = ["status_path", "write_status", "remove_status", "running_daemons", "overlaps", "process_alive"]
