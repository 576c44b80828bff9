"""Which process works through which roots: a second ``scan`` of photos that a scan (or the daemon's
catch-up) is already working through waits for it, or says which process holds them, instead of
decoding every photo a second time.

One ``flock`` per root in ``<state dir>/roots/``, plus a small JSON file per holder naming the root,
the process and its command. Roots overlap when one is inside the other, so ``scan /srv/photos/2019``
waits for a scan of ``/srv/photos``. Checking for overlaps and taking the locks happens under one
short registry lock, so two runs cannot both decide they are alone. The kernel drops a dead
process's locks; its JSON file is then ignored. Only processes sharing the state folder see each
other: root and the service user both use ``/var/lib/facesidecar``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .daemonstatus import process_alive
from .errors import FacesidecarError

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
MAX_HOLDER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Holder:
    root: str
    pid: int
    command: str
    what: str
    """"scan" or "catch-up"."""
    since: float

    def describe(self) -> str:
        started = time.strftime("%H:%M:%S", time.localtime(self.since))
        return f"{self.command} (pid {self.pid}, {self.what} of {self.root} since {started})"


class RootsBusy(FacesidecarError):
    """Another process works through these roots and the caller chose not to wait."""

    def __init__(self, holders: list[Holder]):
        self.holders = holders
        names = "; ".join(h.describe() for h in holders)
        super().__init__(f"already being worked through by {names}; wait for it (without --no-wait this scan "
                         "waits), or see its progress with 'facesidecar status'")


def _key(root: Path) -> str:
    return hashlib.sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def _open_shared(path: Path) -> int:
    """Open (creating) a lock file every user of the state folder may lock (root's scan, the service)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o666)
    return fd


class RootLocks:
    """The roots one process works through; ``acquire`` then ``release`` (or use as a context manager)."""

    def __init__(self, state_dir: Path, what: str, command: str | None = None):
        self.folder = Path(state_dir) / "roots"
        self.what = what
        self.command = command or shlex.join(["facesidecar", *sys.argv[1:]])
        self._held: dict[Path, int] = {}

    # -- taking and giving back ----------------------------------------------------------------
    def acquire(self, roots: list[Path], *, wait: bool = True, on_wait: Callable[[list[Holder]], None] | None = None,
                should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Lock ``roots``; while another process holds an overlapping root, wait (telling ``on_wait``
        once) or raise :class:`RootsBusy`. False when ``should_stop`` ended the wait, or when the
        state folder cannot hold locks (the work then goes on uncoordinated, with a warning)."""
        roots = sorted({Path(r).resolve() for r in roots})
        told = False
        while True:
            try:
                holders = self._try(roots)
            except OSError as exc:
                log.warning("cannot coordinate with other facesidecar runs (lock folder %s: %s); going on",
                            self.folder, exc.strerror or exc)
                return False
            if not holders:
                return True
            if not wait:
                raise RootsBusy(holders)
            if not told and on_wait is not None:
                on_wait(holders)
                told = True
            if should_stop():
                return False
            time.sleep(POLL_SECONDS)

    def release(self) -> None:
        for root, fd in self._held.items():
            with contextlib.suppress(OSError):
                os.unlink(self._info_path(root))
            os.close(fd)
        self._held = {}

    def __enter__(self) -> RootLocks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    # -- inside ------------------------------------------------------------------------------------
    def _try(self, roots: list[Path]) -> list[Holder]:
        """Under the registry lock: the holders in the way, or (none) the locks taken."""
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                self.folder.chmod(0o777)  # the service user and root share it; the state folder guards it
        with self._registry():
            holders = [h for h in self.holders() if any(_overlap(Path(h.root), r) for r in roots)]
            if holders:
                return holders
            for root in roots:
                fd = _open_shared(self.folder / f"{_key(root)}.lock")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    self.release()
                    return [Holder(str(root), 0, "another facesidecar run", "work", time.time())]
                self._held[root] = fd
                self._write_info(root)
            return []

    @contextlib.contextmanager
    def _registry(self) -> Iterator[None]:
        fd = _open_shared(self.folder / ".registry")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _info_path(self, root: Path) -> Path:
        return self.folder / f"{_key(root)}.{os.getpid()}.json"

    def _write_info(self, root: Path) -> None:
        data = {"root": str(root), "pid": os.getpid(), "command": self.command, "what": self.what,
                "since": time.time()}
        path = self._info_path(root)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)

    def holders(self) -> list[Holder]:
        """Every other process holding a root lock in this state folder now."""
        found = []
        for path in self.folder.glob("*.*.json"):
            try:
                if path.stat().st_size > MAX_HOLDER_BYTES:
                    continue
                data = json.loads(path.read_text(encoding="utf-8"))
                holder = Holder(str(data["root"]), int(data["pid"]), str(data["command"]), str(data["what"]),
                                float(data["since"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if not process_alive(holder.pid):
                with contextlib.suppress(OSError):
                    path.unlink()  # left by a run that was killed
            elif holder.pid != os.getpid() and self._locked(Path(holder.root)):
                found.append(holder)
        return found

    def _locked(self, root: Path) -> bool:
        """Whether someone holds ``root``'s lock (a dead holder's lock is gone with it)."""
        try:
            fd = os.open(self.folder / f"{_key(root)}.lock", os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


__all__ = ["RootLocks", "RootsBusy", "Holder"]
