"""The mirror's durable outbox: which folders (and which erased people) still wait for the database.

A small SQLite file in the state folder, never in a photo folder. It holds folder paths and hashes
of erased names only: no names, no encodings, nothing to erase.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import time
from pathlib import Path

log = logging.getLogger(__name__)

OUTBOX_NAME = "mirror-outbox.sqlite3"


class Outbox:
    """Folders waiting to be mirrored, durable across restarts (SQLite; paths only, no face data).

    A folder is queued with a sequence number; a push removes it only if it was not queued again
    meanwhile. ``erasures`` holds SHA-256 hashes of names whose rows must go when the database is
    back (never the name itself).
    """

    def __init__(self, path: Path | None):
        self.path = path
        self._memory: dict[str, int] = {}
        self._memory_erasures: set[str] = set()
        self._warned = False

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("CREATE TABLE IF NOT EXISTS folders (folder TEXT PRIMARY KEY, seq INTEGER NOT NULL)")
        conn.execute("CREATE TABLE IF NOT EXISTS erasures (name_sha TEXT PRIMARY KEY, seq INTEGER NOT NULL)")
        return conn

    @contextlib.contextmanager
    def _db(self):
        conn = self._connect()
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def _fallback(self, exc: Exception) -> None:
        if not self._warned:
            log.error("the mirror's outbox %s cannot be used (%s); pending changes are kept in memory only "
                      "until it can ('facesidecar db sync' repairs the database)", self.path, exc)
            self._warned = True

    def add(self, folder: str) -> None:
        seq = time.time_ns()
        if self.path is not None:
            try:
                with self._db() as db:
                    db.execute("INSERT INTO folders (folder, seq) VALUES (?, ?) "
                               "ON CONFLICT(folder) DO UPDATE SET seq = excluded.seq", (folder, seq))
                return
            except (sqlite3.Error, OSError) as exc:
                self._fallback(exc)
        self._memory[folder] = seq

    def add_erasure(self, name: str) -> None:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
        if self.path is not None:
            try:
                with self._db() as db:
                    db.execute("INSERT OR REPLACE INTO erasures (name_sha, seq) VALUES (?, ?)", (digest, time.time_ns()))
                return
            except (sqlite3.Error, OSError) as exc:
                self._fallback(exc)
        self._memory_erasures.add(digest)

    def pending(self) -> list[tuple[str, int]]:
        items = dict(self._memory)
        if self.path is not None and self.path.exists():
            try:
                with self._db() as db:
                    items.update(db.execute("SELECT folder, seq FROM folders").fetchall())
            except (sqlite3.Error, OSError) as exc:
                self._fallback(exc)
        return sorted(items.items(), key=lambda item: item[1])

    def erasures(self) -> list[str]:
        found = set(self._memory_erasures)
        if self.path is not None and self.path.exists():
            try:
                with self._db() as db:
                    found.update(row[0] for row in db.execute("SELECT name_sha FROM erasures"))
            except (sqlite3.Error, OSError) as exc:
                self._fallback(exc)
        return sorted(found)

    def done(self, folder: str, seq: int) -> None:
        if self._memory.get(folder) == seq:
            del self._memory[folder]
        if self.path is not None and self.path.exists():
            try:
                with self._db() as db:
                    db.execute("DELETE FROM folders WHERE folder = ? AND seq = ?", (folder, seq))
            except (sqlite3.Error, OSError) as exc:
                self._fallback(exc)

    def erasure_done(self, digest: str) -> None:
        self._memory_erasures.discard(digest)
        if self.path is not None and self.path.exists():
            try:
                with self._db() as db:
                    db.execute("DELETE FROM erasures WHERE name_sha = ?", (digest,))
            except (sqlite3.Error, OSError) as exc:
                self._fallback(exc)

    def __len__(self) -> int:
        return len(self.pending())
