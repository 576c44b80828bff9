"""Progress of long work (a scan, the daemon's start-up catch-up): counts, rate, time left, one line.

The scanner reports what it plans and what it finishes; listeners show it (a tqdm bar on a terminal,
log lines at a sane rate elsewhere) and the daemon reads snapshots for ``STATUS=`` and its status
file. The scanner's thread writes, other threads read: every access holds the lock.

A job that is interrupted and started again (the daemon pauses its catch-up for more urgent work)
keeps its :class:`Progress`: photos already scanned stay counted, and the new plan only adds what is
still to do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

LOG_INTERVAL = 30.0
"""Seconds between two progress lines in a log: often enough to see it move, rare enough to read."""


@dataclass(frozen=True)
class Snapshot:
    what: str
    """What the work is: "scan", "catch-up", "changes"."""
    phase: str
    """"checking" (comparing folders with their sidecars), "scanning" (decoding new photos) or "done"."""
    folders_total: int
    folders_done: int
    photos_total: int
    photos_done: int
    folder: str
    seconds: float
    rate: float | None
    """Photos per second since the first photo was scanned, None before that."""

    @property
    def seconds_left(self) -> float | None:
        if not self.rate or self.photos_total <= self.photos_done:
            return None
        return (self.photos_total - self.photos_done) / self.rate

    def line(self) -> str:
        """``catch-up: 120/4000 folders, 830/9100 photos, 2.4 photos/s, about 57 min left``."""
        if self.phase == "checking":
            return f"{self.what}: checking folders, {self.folders_done}/{self.folders_total} done"
        text = (f"{self.what}: {self.folders_done}/{self.folders_total} folders, "
                f"{self.photos_done}/{self.photos_total} photos")
        if self.phase == "done":
            return f"{text}, done in {duration(self.seconds)}"
        if self.rate:
            text += f", {self.rate:.1f} photos/s"
        left = self.seconds_left
        return text + (f", about {duration(left)} left" if left is not None else "")

    def as_dict(self) -> dict:
        return {**asdict(self), "seconds_left": self.seconds_left, "line": self.line()}


def duration(seconds: float) -> str:
    """``42 s``, ``17 min``, ``3 h 05 min``: as precise as a person waiting needs."""
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


Listener = Callable[[str, Snapshot], None]
"""Told of every event ("checking", "planned", "folder", "photo", "done") with the snapshot after it."""


class Progress:
    """Counters for one piece of work; thread-safe."""

    def __init__(self, what: str, listeners: list[Listener] | None = None, clock: Callable[[], float] = time.monotonic):
        self.what = what
        self.listeners = list(listeners or [])
        self.clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._first_photo: float | None = None
        self._phase = "checking"
        self._folders_total = self._folders_done = 0
        self._photos_total = self._photos_done = 0
        self._folder = ""

    # -- what the scanner reports ---------------------------------------------------------------
    def checking(self, folders: int) -> None:
        """The scanner starts comparing ``folders`` folders with their sidecars."""
        with self._lock:
            self._phase, self._folders_total, self._folders_done = "checking", folders, 0
        self._tell("checking")

    def checked(self) -> None:
        with self._lock:
            self._folders_done += 1
        self._tell("checked")

    def planned(self, folders: int, photos: int) -> None:
        """``folders`` folders to bring up to date, ``photos`` photos among them to decode."""
        with self._lock:
            self._phase, self._folders_total, self._folders_done = "scanning", folders, 0
            self._photos_total = self._photos_done + photos
        self._tell("planned")

    def folder(self, path: Path) -> None:
        with self._lock:
            self._folder = str(path)
        self._tell("folder")

    def folder_done(self) -> None:
        with self._lock:
            self._folders_done += 1
        self._tell("folder_done")

    def photo(self) -> None:
        with self._lock:
            if self._first_photo is None:
                self._first_photo = self.clock()
            self._photos_done += 1
        self._tell("photo")

    def done(self) -> None:
        with self._lock:
            self._phase, self._folder = "done", ""
        self._tell("done")

    # -- what readers see -----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self._lock:
            now = self.clock()
            rate = None
            if self._first_photo is not None and self._photos_done > 1 and now > self._first_photo:
                rate = (self._photos_done - 1) / (now - self._first_photo)
            return Snapshot(self.what, self._phase, self._folders_total, self._folders_done, self._photos_total,
                            self._photos_done, self._folder, now - self._started, rate)

    def _tell(self, event: str) -> None:
        if self.listeners:
            snapshot = self.snapshot()
            for listener in self.listeners:
                listener(event, snapshot)


class LogLines:
    """A listener that logs a progress line at most every ``interval`` seconds, plus the plan and the end.

    Where there is no terminal (the journal, a cron mail, a pipe), a bar is noise; a line every half
    minute shows that work goes on and when it will end.
    """

    def __init__(self, logger: logging.Logger = log, interval: float = LOG_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._last = clock()

    def __call__(self, event: str, snapshot: Snapshot) -> None:
        now = self.clock()
        if event == "planned" and snapshot.photos_total > snapshot.photos_done:
            self.logger.info("%s: %d folders to bring up to date, %d photos to scan", snapshot.what,
                             snapshot.folders_total, snapshot.photos_total - snapshot.photos_done)
        elif event == "done" and snapshot.photos_done:
            self.logger.info("%s", snapshot.line())
        elif now - self._last >= self.interval and event in ("checked", "photo", "folder_done"):
            self.logger.info("%s", snapshot.line())
        else:
            return
        self._last = now


__all__ = ["Progress", "Snapshot", "LogLines", "duration", "LOG_INTERVAL"]
