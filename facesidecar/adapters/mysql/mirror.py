"""The optional MySQL/MariaDB mirror: a faithful, queryable copy of what the sidecars hold.

The sidecars stay the truth. ``folder_changed`` only records *which* folder changed, in a durable
outbox (a small SQLite file in the state folder, never in a photo folder); ``flush`` reads each
queued folder's faces.pkl and makes the database equal to it, one database transaction per folder
(upserts keyed by face id, stale rows deleted). Because the outbox holds folder paths only, it
holds no names and no encodings: there is nothing in it to erase, and whatever the database
missed while it was down, slow or refusing is sent when it is back, in its current form.

A database that cannot be reached never stops scanning: the failure is logged once, further
attempts back off (5 s doubling up to 5 min), and the outbox keeps the folders. The password comes
from ``password_file`` (refused unless only its owner can read it) or the ``password_env``
environment variable; it is never put on a command line, in a log or in an error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np

from ...config import MysqlSettings
from ...errors import FacesidecarError, MirrorError
from ...model import IGNORE, FolderState, encoding_from_plain
from ...ports import FlushResult
from ...store import PKL_NAME, confined
from ...store.folder import FolderStore
from .credentials import connect_options, connector, default_connect, read_password
from .outbox import OUTBOX_NAME, Outbox
from .rows import (
    TableDiff,
    chunks,
    diff_rows,
    drop_unused_people,
    erase_person_rows,
    folder_rows,
    folder_text,
    placeholders,
    push_folder,
    read_db_rows,
)
from .schema import migrate

log = logging.getLogger(__name__)

BACKOFF_FIRST = 5.0
BACKOFF_MAX = 300.0
GALLERY_TTL = 60.0
WRITTEN_KEPT = 64
"""Queued folders whose written state the mirror keeps in memory (bounded: a long outage queues many)."""


def _pkl_stamp(folder: Path) -> tuple[int, int, int, int] | None:
    """faces.pkl's identity (device, inode, size, mtime): every writer replaces it by rename."""
    info = confined.lstat(folder / PKL_NAME)
    return None if info is None else (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


@contextlib.contextmanager
def shared_folder_lock(folder: Path):
    """Yield True with a shared lock on the folder, False if a writer holds it (never waits)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield True  # the folder is gone: nothing can be writing its sidecars
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


# -- the mirror ---------------------------------------------------------------------------------


class Mirror:
    """The adapter the scanner calls (the :class:`facesidecar.ports.Mirror` port): ``folder_changed``
    queues, ``flush`` pushes, never raising."""

    def __init__(self, settings: MysqlSettings, *, outbox_dir: Path | str | None = None,
                 connect: Callable[..., object] = default_connect, clock: Callable[[], float] = time.monotonic,
                 environ=os.environ):
        self.settings = settings
        self.outbox = Outbox(Path(outbox_dir) / OUTBOX_NAME if outbox_dir is not None else None)
        self._connect_fn = connect
        self._clock = clock
        self._environ = environ
        self._conn = None
        self._down_since: float | None = None
        self._next_attempt = 0.0
        self._backoff = BACKOFF_FIRST
        self._folder_errors: dict[str, str] = {}
        self._gallery_cache: dict[str, tuple[float, list]] = {}
        self._written: dict[str, tuple[tuple[int, int, int, int], FolderState]] = {}
        """The state a writer handed over with each queued folder, with its faces.pkl's identity then:
        pushed as it is while faces.pkl is still that file (no second read of it)."""
        self._lock = threading.RLock()  # one connection: one thread at a time uses it
        read_password(settings, environ)  # a misconfigured password file is an error now, not at 3 am

    def __repr__(self) -> str:
        s = self.settings
        return f"Mirror({s.user}@{s.host}:{s.port}/{s.database})"

    @property
    def where(self) -> str:
        s = self.settings
        return f"{s.user}@{s.host}:{s.port}/{s.database}"

    # -- connection ---------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        try:
            password = read_password(self.settings, self._environ)
        except MirrorError:
            password = None
        if password:
            text = text.replace(password, "***")
        return text

    def _describe(self, exc: BaseException) -> str:
        message = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        errno = getattr(exc, "errno", None)
        if errno and str(errno) not in message:
            message = f"{errno}: {message}"
        return self._scrub(message)

    def connection(self):
        """An open connection with the current schema; raises MirrorError (password-free)."""
        if self._conn is not None:
            try:
                self._conn.ping(reconnect=False)
                return self._conn
            except Exception:  # noqa: BLE001 - a broken connection is dropped and made again
                self._drop_connection()
        options = connect_options(self.settings)
        password = read_password(self.settings, self._environ)
        if password is not None:
            options["password"] = password
        try:
            conn = self._connect_fn(**options)
        except Exception as exc:  # noqa: BLE001 - the connector raises several kinds; all mean "not reachable"
            raise MirrorError(f"cannot connect to the database {self.where}: {self._describe(exc)}") from None
        finally:
            options.pop("password", None)
            del password
        try:
            migrate(conn)
        except MirrorError:
            with contextlib.suppress(Exception):
                conn.close()
            raise
        except Exception as exc:  # noqa: BLE001
            with contextlib.suppress(Exception):
                conn.close()
            raise MirrorError(f"cannot prepare the tables in {self.where}: {self._describe(exc)}") from None
        self._conn = conn
        return conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def _went_down(self, message: str) -> None:
        now = self._clock()
        if self._down_since is None:
            self._down_since = now
            self._backoff = BACKOFF_FIRST
            log.warning("database mirror: %s; changes wait in the outbox (%d folders) and are sent when it is "
                        "back (retrying with back-off)", message, len(self.outbox))
        else:
            log.debug("database mirror still unreachable: %s", message)
            self._backoff = min(self._backoff * 2, BACKOFF_MAX)
        self._next_attempt = now + self._backoff
        self._drop_connection()

    def _came_back(self) -> None:
        if self._down_since is not None:
            log.info("database mirror: %s reachable again; sending what waited", self.where)
        self._down_since = None
        self._backoff = BACKOFF_FIRST
        self._next_attempt = 0.0

    @property
    def available(self) -> bool:
        """False while backing off after a failure."""
        return self._down_since is None or self._clock() >= self._next_attempt

    # -- the scanner's interface ---------------------------------------------------------------
    def folder_changed(self, folder: Path, state: FolderState | None = None) -> None:
        """Queue ``folder`` for the next flush. Never raises, never touches the network.

        ``state``: what the sidecars were just written with; kept (for the last WRITTEN_KEPT
        folders) and pushed instead of reading faces.pkl again while that file is unchanged.
        """
        try:
            text = folder_text(folder)
            self.outbox.add(text)
            stamp = _pkl_stamp(Path(folder)) if state is not None else None
            self._written.pop(text, None)
            if stamp is not None:
                self._written[text] = (stamp, state)
                while len(self._written) > WRITTEN_KEPT:
                    self._written.pop(next(iter(self._written)))
        except Exception:  # noqa: BLE001 - the mirror must never break a scan
            log.exception("database mirror: cannot queue %s", folder)

    def flush(self, force: bool = False) -> FlushResult:
        """Push every queued folder; never raises. ``force`` ignores the back-off."""
        result = FlushResult()
        try:
            with self._lock:
                self._flush(result, force)
        except Exception as exc:  # noqa: BLE001 - the mirror must never break a scan
            result.error = self._describe(exc)
            log.error("database mirror: %s", result.error)
        result.pending = len(self.outbox)
        return result

    def _flush(self, result: FlushResult, force: bool) -> None:
        pending = self.outbox.pending()
        erasures = self.outbox.erasures()
        if not pending and not erasures:
            return
        if not force and not self.available:
            result.unreachable = True
            return
        try:
            conn = self.connection()
        except MirrorError as exc:
            result.unreachable, result.error = True, str(exc)
            self._went_down(str(exc))
            return
        self._came_back()
        for digest in erasures:
            if not self._run(result, lambda d=digest: erase_person_rows(conn, name_sha=d)):
                return
            self.outbox.erasure_done(digest)
        pushed_any = False
        for folder, seq in pending:
            outcome = self._push_one(conn, folder, seq, result)
            if outcome is None:
                return
            pushed_any = pushed_any or outcome
        if pushed_any or erasures:
            self._run(result, lambda: drop_unused_people(conn))

    def _push_one(self, conn, folder: str, seq: int, result: FlushResult) -> bool | None:
        """Push one folder; True if pushed, False if skipped/failed, None if the database went away."""
        path = Path(folder)
        with shared_folder_lock(path) as locked:
            if not locked:
                return False  # a writer is at work; it queues the folder again, the next flush sends it
            written = self._written.pop(folder, None)
            state = written[1] if written is not None and written[0] == _pkl_stamp(path) else self._load(path)
        if state is None:
            result.failed += 1
            return False
        if not self._run(result, lambda: push_folder(conn, folder, state), folder):
            return None if result.unreachable else False
        self._folder_errors.pop(folder, None)
        self.outbox.done(folder, seq)
        result.pushed += 1
        return True

    @staticmethod
    def _load(path: Path) -> FolderState | None:
        if not (path / PKL_NAME).exists():
            return FolderState()
        try:
            return FolderStore(path).load()
        except FacesidecarError as exc:
            log.error("database mirror: %s; the folder is sent when it can be read", exc)
            return None

    def _run(self, result: FlushResult, action: Callable[[], object], folder: str | None = None) -> bool:
        """Run one database action; connection trouble marks the database down (False)."""
        errors = connector().Error
        try:
            action()
            return True
        except (connector().errors.InterfaceError, connector().errors.OperationalError, OSError) as exc:
            result.unreachable, result.error = True, self._describe(exc)
            self._went_down(f"lost the connection to {self.where}: {result.error}")
            return False
        except errors as exc:
            message = self._describe(exc)
            result.failed += 1
            result.error = message
            if folder is None or self._folder_errors.get(folder) != message:
                log.error("database mirror: %s%s; kept in the outbox and retried", f"{folder}: " if folder else "", message)
            if folder is not None:
                self._folder_errors[folder] = message
            return False

    def close(self) -> None:
        """Send what is still queued (unless backing off) and close the connection."""
        try:
            if self.outbox.pending() and self.available:
                self.flush()
        finally:
            with self._lock:
                self._drop_connection()

    # -- shared gallery, GDPR, check -----------------------------------------------------------
    def confirmed_faces(self, model: str, exclude: Collection[str] = ()) -> list[tuple[str, np.ndarray]]:
        """Confirmed faces of ``model`` in the database (other servers' and roots' names) for the
        naming gallery, without the face ids in ``exclude``. Never raises; cached for a minute."""
        now = self._clock()
        cached = self._gallery_cache.get(model)
        if cached is None or now - cached[0] > GALLERY_TTL:
            with self._lock:
                rows = self._confirmed_rows(model)
            if rows is None:
                return [(n, v) for fid, n, v in (cached[1] if cached else []) if fid not in exclude]
            cached = (now, rows)
            self._gallery_cache[model] = cached
        return [(n, v) for fid, n, v in cached[1] if fid not in exclude]

    def _confirmed_rows(self, model: str) -> list | None:
        if not self.available:
            return None
        try:
            conn = self.connection()
            cur = conn.cursor()
            cur.execute("SELECT n.face_id, pe.name, e.dimension, e.encoding FROM names n "
                        "JOIN people pe ON pe.id = n.person_id JOIN face_encodings e "
                        "ON e.face_id = n.face_id AND e.model = %s WHERE n.kind = 'confirmed'", (model,))
            rows = cur.fetchall()
            conn.commit()
            cur.close()
        except MirrorError as exc:
            self._went_down(str(exc))
            return None
        except Exception as exc:  # noqa: BLE001 - the gallery works without the database
            self._went_down(self._describe(exc))
            return None
        self._came_back()
        result = []
        for face_id, name, dimension, blob in rows:
            vector = encoding_from_plain(bytes(blob))
            if len(vector) == dimension and name != IGNORE:
                result.append((face_id, name, vector))
        return result

    def forget_person(self, name: str) -> dict[str, int]:
        """Delete the person's rows now, or (database away) queue their erasure. Never raises."""
        self._gallery_cache.clear()
        try:
            with self._lock:
                conn = self.connection()
                counts = erase_person_rows(conn, name=name)
            self._came_back()
            return counts
        except Exception as exc:  # noqa: BLE001
            message = str(exc) if isinstance(exc, MirrorError) else self._describe(exc)
            self._went_down(message)
            self.outbox.add_erasure(name)
            return {"queued": 1}

    def person_rows(self, name: str) -> dict:
        """Every row that mentions ``name`` (for ``export``); raises MirrorError when unreachable."""
        with self._lock:
            return self._person_rows(name)

    def _person_rows(self, name: str) -> dict:
        conn = self.connection()
        cur = conn.cursor(dictionary=True)
        try:
            cur.execute("SELECT * FROM people WHERE name = %s", (name,))
            people = cur.fetchall()
            cur.execute("SELECT n.face_id, n.kind, n.distance, n.named_at, f.face_nr, f.x, f.y, f.w, f.h, f.cluster, "
                        "f.origin, f.updated_at, p.folder, p.file, p.sha256, p.width, p.height, p.scanned_at "
                        "FROM names n JOIN people pe ON pe.id = n.person_id JOIN faces f ON f.face_id = n.face_id "
                        "JOIN photos p ON p.id = f.photo_id WHERE pe.name = %s ORDER BY p.folder, p.file, f.face_nr",
                        (name,))
            faces = cur.fetchall()
            ids = [f["face_id"] for f in faces]
            encodings = []
            for chunk in chunks(ids):
                cur.execute(f"SELECT face_id, model, dimension, encoding FROM face_encodings WHERE face_id IN ({placeholders(chunk)})",
                            chunk)
                encodings.extend(cur.fetchall())
            conn.commit()
        except MirrorError:
            raise
        except Exception as exc:  # noqa: BLE001
            self._drop_connection()
            raise MirrorError(f"database {self.where}: {self._describe(exc)}") from None
        finally:
            with contextlib.suppress(Exception):
                cur.close()
        return {"people": people, "faces": faces, "encodings": encodings}

    def check_folder(self, folder: Path | str, state: FolderState) -> dict[str, TableDiff]:
        """Differences between the folder's sidecars and the database; raises MirrorError."""
        with self._lock:
            return self._check_folder(folder, state)

    def _read(self, query: Callable):
        """Run ``query(cursor)`` in a short read transaction; any failure becomes a MirrorError
        whose text never holds the password."""
        try:
            conn = self.connection()
            cur = conn.cursor()
            result = query(cur)
            conn.commit()
            cur.close()
        except MirrorError:
            raise
        except Exception as exc:  # noqa: BLE001 - every driver error means: the database is not usable now
            self._drop_connection()
            raise MirrorError(f"database {self.where}: {self._describe(exc)}") from None
        return result

    def _check_folder(self, folder: Path | str, state: FolderState) -> dict[str, TableDiff]:
        actual = self._read(lambda cur: read_db_rows(cur, folder_text(folder)))
        return diff_rows(folder_rows(state), actual)

    def known_folders(self) -> list[str]:
        """Every folder the database holds photos of; raises MirrorError."""
        with self._lock:
            return self._known_folders()

    def _known_folders(self) -> list[str]:
        def query(cur) -> list[str]:
            cur.execute("SELECT DISTINCT folder FROM photos")
            return [row[0] for row in cur.fetchall()]

        return self._read(query)
