"""Photos being decoded, marked in the state folder while it happens.

A photo that makes the process die while it is decoded (the kernel's OOM killer under the
service's ``MemoryMax``, a crash in a decoder library) would otherwise be decoded again at every
restart and kill the daemon every time. A mark written before decoding and removed after it
survives such a death. The next process that finds the mark of a dead process for a photo that
has not changed tries once more (the death may have been a plain ``kill -9`` or a power cut);
after a second death it records the photo as an error instead of decoding it (retried when it
changes, or after ``facesidecar reset PATH --errors``).

Marks live in ``<state_dir>/decoding``, one small JSON file per photo named by a hash of its
path, owner-only; they hold the photo's path and identity and the process that wrote them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

MARKS = "decoding"
DEATHS_ALLOWED = 2
"""A photo that was being decoded when this many processes died is recorded as an error."""


def _process_start(pid: int) -> str:
    """When ``pid`` started (clock ticks since boot), "" if it is gone: tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return ""
    return fields[19].decode() if len(fields) > 19 else ""


def _identity(info: os.stat_result) -> list[int]:
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns]


class DecodeMarks:
    """The marks of one state folder."""

    def __init__(self, state_dir: Path):
        self.folder = Path(state_dir) / MARKS

    def _mark_path(self, photo: Path) -> Path:
        return self.folder / (hashlib.sha256(os.fsencode(photo)).hexdigest()[:40] + ".json")

    @contextlib.contextmanager
    def decoding(self, photo: Path, info: os.stat_result, deaths: int = 0, owner: int | None = None) -> Iterator[None]:
        """Mark ``photo`` for as long as the block runs (an exception removes the mark too).

        ``deaths``: how many processes died decoding it before, carried on in the mark. ``owner``:
        the scanning process, when a worker process of it decodes (a dead worker is the pool's
        business; the mark counts deaths of the scanner).
        """
        mark = self._mark_path(photo)
        written = self._write(mark, photo, info, deaths, os.getpid() if owner is None else owner)
        try:
            yield
        finally:
            if written:
                with contextlib.suppress(FileNotFoundError):
                    mark.unlink()

    def _write(self, mark: Path, photo: Path, info: os.stat_result, deaths: int, owner: int) -> bool:
        entry = {"photo": os.fsdecode(photo), "identity": _identity(info), "pid": owner,
                 "started": _process_start(owner), "deaths": deaths}
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entry, handle)
        except OSError as exc:
            log.debug("cannot mark %s as being decoded in %s: %s", photo, self.folder, exc.strerror)
            return False
        return True

    def deaths(self, photo: Path, info: os.stat_result) -> int:
        """How many processes died while they decoded ``photo`` as it is now; their mark is removed.

        A mark of a live process (another scan decoding the photo right now) or of an earlier
        version of the photo does not count.
        """
        mark = self._mark_path(photo)
        try:
            entry = json.loads(mark.read_bytes())
            if _process_start(int(entry["pid"])) == entry["started"]:
                return 0
            same_photo = entry["photo"] == os.fsdecode(photo) and entry["identity"] == _identity(info)
            deaths = int(entry["deaths"]) + 1 if same_photo else 0
        except FileNotFoundError:
            return 0
        except (OSError, ValueError, KeyError, TypeError):
            deaths = 0  # unreadable: stale
        with contextlib.suppress(OSError):
            mark.unlink()
        return deaths


def killed_error(photo: Path) -> str:
    """The error recorded for a photo that a process died decoding."""
    return (f"{photo}: facesidecar was stopped twice while decoding this photo (out of memory under the service's"
            " MemoryMax, or a crash in the image decoder), so it is not decoded again until it changes."
            " Lower engine.decode_memory_mb, or give the service more memory and run"
            " 'facesidecar reset FOLDER --errors', or save the photo as JPEG")
