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

Tables (utf8mb4, created and upgraded by the versioned migrations in ``MIGRATIONS``, recorded in
``schema_version``): ``photos``, ``faces`` (box), ``face_encodings`` (BLOB of float32 with model and
dimension), ``people``, ``names`` (confirmed names and guesses of faces), ``folders``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import math
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import MysqlSettings
from .errors import FacesidecarError
from .model import IGNORE, FolderState, encoding_from_plain, encoding_to_plain
from .store import PKL_NAME
from .store.folder import FolderStore

log = logging.getLogger(__name__)

OUTBOX_NAME = "mirror-outbox.sqlite3"
BACKOFF_FIRST = 5.0
BACKOFF_MAX = 300.0
GALLERY_TTL = 60.0
CHUNK = 500


class MirrorError(FacesidecarError):
    """The database mirror is misconfigured or the database cannot be reached."""


# -- schema -------------------------------------------------------------------------------------

TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "photos, faces, face encodings, people and names", (
        f"""CREATE TABLE IF NOT EXISTS photos (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
            path_sha BINARY(32) NOT NULL,
            folder_sha BINARY(32) NOT NULL,
            folder TEXT NOT NULL,
            file VARCHAR(255) NOT NULL,
            size BIGINT NOT NULL DEFAULT 0,
            mtime_ns BIGINT NOT NULL DEFAULT 0,
            sha256 CHAR(64) NOT NULL DEFAULT '',
            width INT NOT NULL DEFAULT 0,
            height INT NOT NULL DEFAULT 0,
            orientation TINYINT NOT NULL DEFAULT 1,
            model VARCHAR(64) NOT NULL DEFAULT '',
            error TEXT NOT NULL,
            scanned_at DOUBLE NOT NULL DEFAULT 0,
            updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
            UNIQUE KEY photos_path (path_sha),
            KEY photos_folder (folder_sha)
        ) {TABLE_OPTIONS}""",
        f"""CREATE TABLE IF NOT EXISTS people (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
            name VARCHAR(255) NOT NULL,
            created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            UNIQUE KEY people_name (name)
        ) {TABLE_OPTIONS}""",
        f"""CREATE TABLE IF NOT EXISTS faces (
            face_id VARCHAR(64) NOT NULL PRIMARY KEY,
            photo_id BIGINT UNSIGNED NOT NULL,
            face_nr INT NOT NULL,
            x DOUBLE NOT NULL, y DOUBLE NOT NULL, w DOUBLE NOT NULL, h DOUBLE NOT NULL,
            ignored BOOLEAN NOT NULL DEFAULT FALSE,
            cluster VARCHAR(64) NOT NULL DEFAULT '',
            origin VARCHAR(32) NOT NULL DEFAULT 'detected',
            updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
            KEY faces_photo (photo_id),
            CONSTRAINT faces_photo_fk FOREIGN KEY (photo_id) REFERENCES photos (id) ON DELETE CASCADE
        ) {TABLE_OPTIONS}""",
        f"""CREATE TABLE IF NOT EXISTS face_encodings (
            face_id VARCHAR(64) NOT NULL,
            model VARCHAR(64) NOT NULL,
            dimension INT NOT NULL,
            encoding BLOB NOT NULL,
            PRIMARY KEY (face_id, model),
            CONSTRAINT encodings_face_fk FOREIGN KEY (face_id) REFERENCES faces (face_id) ON DELETE CASCADE
        ) {TABLE_OPTIONS}""",
        f"""CREATE TABLE IF NOT EXISTS names (
            face_id VARCHAR(64) NOT NULL,
            kind ENUM('confirmed', 'guess') NOT NULL,
            person_id BIGINT UNSIGNED NOT NULL,
            distance DOUBLE NULL,
            named_at DOUBLE NULL,
            PRIMARY KEY (face_id, kind),
            KEY names_person (person_id),
            CONSTRAINT names_face_fk FOREIGN KEY (face_id) REFERENCES faces (face_id) ON DELETE CASCADE,
            CONSTRAINT names_person_fk FOREIGN KEY (person_id) REFERENCES people (id) ON DELETE CASCADE
        ) {TABLE_OPTIONS}""",
    )),
    Migration(2, "folders: when each folder was last mirrored", (
        f"""CREATE TABLE IF NOT EXISTS folders (
            folder_sha BINARY(32) NOT NULL PRIMARY KEY,
            folder TEXT NOT NULL,
            photos INT NOT NULL DEFAULT 0,
            faces INT NOT NULL DEFAULT 0,
            synced_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
        ) {TABLE_OPTIONS}""",
    )),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
TABLES = ("names", "face_encodings", "faces", "photos", "people", "folders", "schema_version")


def migrate(conn, target: int = SCHEMA_VERSION) -> list[int]:
    """Bring the schema up to ``target``; returns the versions applied. Safe to run concurrently."""
    cur = conn.cursor()
    cur.execute("SELECT GET_LOCK('facesidecar_migrate', 60)")
    cur.fetchall()
    try:
        cur.execute(f"""CREATE TABLE IF NOT EXISTS schema_version (
            version INT NOT NULL PRIMARY KEY,
            description VARCHAR(255) NOT NULL,
            applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
        ) {TABLE_OPTIONS}""")
        cur.execute("SELECT version FROM schema_version")
        done = {row[0] for row in cur.fetchall()}
        newer = [v for v in done if v > SCHEMA_VERSION]
        if newer:
            raise MirrorError(f"the database schema is version {max(newer)}, newer than this facesidecar "
                              f"knows ({SCHEMA_VERSION}); upgrade facesidecar")
        applied = []
        for migration in MIGRATIONS:
            if migration.version in done or migration.version > target:
                continue
            for statement in migration.statements:
                cur.execute(statement)
            cur.execute("INSERT INTO schema_version (version, description) VALUES (%s, %s)",
                        (migration.version, migration.description))
            conn.commit()
            applied.append(migration.version)
            log.info("database schema upgraded to version %d (%s)", migration.version, migration.description)
        return applied
    finally:
        cur.execute("SELECT RELEASE_LOCK('facesidecar_migrate')")
        cur.fetchall()
        cur.close()


# -- what a folder looks like as rows ---------------------------------------------------------


def path_key(text: str) -> bytes:
    return hashlib.sha256(os.fsencode(text)).digest()


def folder_text(folder: Path | str) -> str:
    """The folder as the database knows it: absolute, symbolic links resolved (one key however the
    folder was reached)."""
    return os.path.realpath(os.fspath(folder))


def db_text(text: str) -> str:
    """A file system name as valid UTF-8 (undecodable bytes replaced) for the database."""
    return os.fsencode(text).decode("utf-8", "replace")


@dataclass
class FolderRows:
    """One folder's content in the shape of the tables (keys -> compared values)."""

    photos: dict[str, tuple] = field(default_factory=dict)
    faces: dict[str, tuple] = field(default_factory=dict)
    encodings: dict[tuple[str, str], bytes] = field(default_factory=dict)
    names: dict[tuple[str, str], tuple] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {"photos": len(self.photos), "faces": len(self.faces), "encodings": len(self.encodings),
                "names": len(self.names)}


def folder_rows(state: FolderState) -> FolderRows:
    """The rows the database should hold for ``state``: every photo, every face that has a row
    in faces.csv (rejected and forgotten faces are not mirrored), their encodings and names."""
    rows = FolderRows()
    for file, photo in state.photos.items():
        rows.photos[db_text(file)] = (photo.size, photo.mtime_ns, photo.sha256, photo.width, photo.height,
                                      photo.orientation, photo.model, photo.error, float(photo.scanned_at))
        for number, face in enumerate(photo.visible_faces, start=1):
            box = face.box
            rows.faces[face.face_id] = (db_text(file), number, float(box.x), float(box.y), float(box.w),
                                        float(box.h), face.name == IGNORE, face.cluster, face.origin)
            for model, vector in face.encodings.items():
                rows.encodings[(face.face_id, model)] = encoding_to_plain(vector)
            if face.confirmed:
                named_at = None if face.named_at is None else float(face.named_at)
                rows.names[(face.face_id, "confirmed")] = (face.name, None, named_at)
            elif not face.name and face.guess:
                distance = None if face.distance is None else float(face.distance)
                rows.names[(face.face_id, "guess")] = (face.guess, distance, None)
    return rows


def read_db_rows(cur, folder: str) -> FolderRows:
    """What the database holds for ``folder``."""
    key = path_key(folder)
    rows = FolderRows()
    cur.execute("SELECT file, size, mtime_ns, sha256, width, height, orientation, model, error, scanned_at "
                "FROM photos WHERE folder_sha = %s", (key,))
    for file, *values in cur.fetchall():
        rows.photos[file] = (int(values[0]), int(values[1]), values[2], int(values[3]), int(values[4]),
                             int(values[5]), values[6], values[7], float(values[8]))
    cur.execute("SELECT f.face_id, p.file, f.face_nr, f.x, f.y, f.w, f.h, f.ignored, f.cluster, f.origin "
                "FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.folder_sha = %s", (key,))
    for face_id, file, number, x, y, w, h, ignored, cluster_label, origin in cur.fetchall():
        rows.faces[face_id] = (file, int(number), float(x), float(y), float(w), float(h), bool(ignored),
                               cluster_label, origin)
    cur.execute("SELECT e.face_id, e.model, e.encoding FROM face_encodings e JOIN faces f ON f.face_id = e.face_id "
                "JOIN photos p ON p.id = f.photo_id WHERE p.folder_sha = %s", (key,))
    for face_id, model, blob in cur.fetchall():
        rows.encodings[(face_id, model)] = bytes(blob)
    cur.execute("SELECT n.face_id, n.kind, pe.name, n.distance, n.named_at FROM names n "
                "JOIN people pe ON pe.id = n.person_id JOIN faces f ON f.face_id = n.face_id "
                "JOIN photos p ON p.id = f.photo_id WHERE p.folder_sha = %s", (key,))
    for face_id, kind, name, distance, named_at in cur.fetchall():
        rows.names[(face_id, kind)] = (name, None if distance is None else float(distance),
                                       None if named_at is None else float(named_at))
    return rows


@dataclass
class TableDiff:
    missing: list = field(default_factory=list)
    extra: list = field(default_factory=list)
    changed: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra or self.changed)


def diff_rows(expected: FolderRows, actual: FolderRows) -> dict[str, TableDiff]:
    """Per table: keys missing in the database, extra in it, and keys whose values differ."""
    result = {}
    for table in ("photos", "faces", "encodings", "names"):
        want, have = getattr(expected, table), getattr(actual, table)
        result[table] = TableDiff(
            missing=sorted(k for k in want if k not in have),
            extra=sorted(k for k in have if k not in want),
            changed=sorted(k for k in want if k in have and want[k] != have[k]),
        )
    return result


def _chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for lo in range(0, len(items), size):
        yield items[lo:lo + size]


def _in(items: list) -> str:
    return ", ".join(["%s"] * len(items))


def push_folder(conn, folder: str, state: FolderState) -> dict[str, TableDiff]:
    """Make the database equal to ``state`` for ``folder`` in one transaction; returns what changed."""
    expected = folder_rows(state)
    key = path_key(folder)
    conn.rollback()  # start from a fresh snapshot; the statements below form one transaction
    try:
        cur = conn.cursor()
        cur.execute("SELECT id FROM photos WHERE folder_sha = %s FOR UPDATE", (key,))
        cur.fetchall()
        actual = read_db_rows(cur, folder)
        diff = diff_rows(expected, actual)
        _apply_photos(cur, folder, key, expected, diff["photos"])
        photo_ids = _photo_ids(cur, key)
        _apply_faces(cur, expected, diff["faces"], photo_ids)
        _apply_encodings(cur, expected, diff["encodings"])
        _apply_names(cur, expected, diff["names"])
        if expected.photos:
            cur.execute("INSERT INTO folders (folder_sha, folder, photos, faces) VALUES (%s, %s, %s, %s) "
                        "ON DUPLICATE KEY UPDATE folder = VALUES(folder), photos = VALUES(photos), "
                        "faces = VALUES(faces), synced_at = CURRENT_TIMESTAMP(6)",
                        (key, db_text(folder), len(expected.photos), len(expected.faces)))
        else:
            cur.execute("DELETE FROM folders WHERE folder_sha = %s", (key,))
        conn.commit()
        cur.close()
    except BaseException:
        with contextlib.suppress(Exception):
            conn.rollback()
        raise
    return diff


def _apply_photos(cur, folder: str, key: bytes, expected: FolderRows, diff: TableDiff) -> None:
    for files in _chunks(diff.extra):
        cur.execute(f"DELETE FROM photos WHERE path_sha IN ({_in(files)})",
                    [path_key(os.path.join(folder, f)) for f in files])
    upserts = [(path_key(os.path.join(folder, f)), key, db_text(folder), f, *expected.photos[f])
               for f in diff.missing + diff.changed]
    if upserts:
        cur.executemany(
            "INSERT INTO photos (path_sha, folder_sha, folder, file, size, mtime_ns, sha256, width, height, "
            "orientation, model, error, scanned_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON DUPLICATE KEY UPDATE folder_sha = VALUES(folder_sha), folder = VALUES(folder), file = VALUES(file), "
            "size = VALUES(size), mtime_ns = VALUES(mtime_ns), sha256 = VALUES(sha256), width = VALUES(width), "
            "height = VALUES(height), orientation = VALUES(orientation), model = VALUES(model), "
            "error = VALUES(error), scanned_at = VALUES(scanned_at)", upserts)


def _photo_ids(cur, key: bytes) -> dict[str, int]:
    cur.execute("SELECT file, id FROM photos WHERE folder_sha = %s", (key,))
    return {file: int(pid) for file, pid in cur.fetchall()}


def _apply_faces(cur, expected: FolderRows, diff: TableDiff, photo_ids: dict[str, int]) -> None:
    for ids in _chunks(diff.extra):
        cur.execute(f"DELETE FROM faces WHERE face_id IN ({_in(ids)})", ids)
    upserts = []
    for face_id in diff.missing + diff.changed:
        file, *values = expected.faces[face_id]
        upserts.append((face_id, photo_ids[file], *values))
    if upserts:
        cur.executemany(
            "INSERT INTO faces (face_id, photo_id, face_nr, x, y, w, h, ignored, cluster, origin) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE photo_id = VALUES(photo_id), "
            "face_nr = VALUES(face_nr), x = VALUES(x), y = VALUES(y), w = VALUES(w), h = VALUES(h), "
            "ignored = VALUES(ignored), cluster = VALUES(cluster), origin = VALUES(origin)", upserts)


def _apply_encodings(cur, expected: FolderRows, diff: TableDiff) -> None:
    for face_id, model in diff.extra:
        cur.execute("DELETE FROM face_encodings WHERE face_id = %s AND model = %s", (face_id, model))
    upserts = [(fid, model, len(expected.encodings[(fid, model)]) // 4, expected.encodings[(fid, model)])
               for fid, model in diff.missing + diff.changed]
    if upserts:
        cur.executemany(
            "INSERT INTO face_encodings (face_id, model, dimension, encoding) VALUES (%s, %s, %s, %s) "
            "ON DUPLICATE KEY UPDATE dimension = VALUES(dimension), encoding = VALUES(encoding)", upserts)


def _apply_names(cur, expected: FolderRows, diff: TableDiff) -> None:
    for face_id, kind in diff.extra:
        cur.execute("DELETE FROM names WHERE face_id = %s AND kind = %s", (face_id, kind))
    wanted = diff.missing + diff.changed
    if not wanted:
        return
    people = sorted({expected.names[k][0] for k in wanted})
    cur.executemany("INSERT IGNORE INTO people (name) VALUES (%s)", [(n,) for n in people])
    ids: dict[str, int] = {}
    for chunk in _chunks(people):
        cur.execute(f"SELECT name, id FROM people WHERE name IN ({_in(chunk)})", chunk)
        ids.update((name, int(pid)) for name, pid in cur.fetchall())
    upserts = []
    for face_id, kind in wanted:
        name, distance, named_at = expected.names[(face_id, kind)]
        upserts.append((face_id, kind, ids[name], distance, named_at))
    cur.executemany(
        "INSERT INTO names (face_id, kind, person_id, distance, named_at) VALUES (%s, %s, %s, %s, %s) "
        "ON DUPLICATE KEY UPDATE person_id = VALUES(person_id), distance = VALUES(distance), "
        "named_at = VALUES(named_at)", upserts)


def drop_unused_people(conn) -> int:
    cur = conn.cursor()
    cur.execute("DELETE FROM people WHERE NOT EXISTS (SELECT 1 FROM names n WHERE n.person_id = people.id)")
    count = cur.rowcount
    conn.commit()
    cur.close()
    return max(count, 0)


# -- credentials --------------------------------------------------------------------------------


def read_password(settings: MysqlSettings, environ=os.environ) -> str | None:
    """The password from ``password_file`` (owner-only) or ``$password_env``; None if neither."""
    if settings.password_file:
        path = Path(settings.password_file).expanduser()
        try:
            info = path.stat()
        except OSError as exc:
            raise MirrorError(f"mysql.password_file {path}: {exc.strerror}") from None
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise MirrorError(f"mysql.password_file {path} may be read by others (mode {mode:04o}); "
                              f"it is refused until only its owner can read it: chmod 600 {path}")
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise MirrorError(f"mysql.password_file {path} cannot be read: "
                              f"{getattr(exc, 'strerror', None) or 'not UTF-8 text'}") from None
    if settings.password_env:
        return environ.get(settings.password_env)
    return None


def connect_options(settings: MysqlSettings) -> dict:
    """Connection options without the password (safe to show); TLS options passed through."""
    options = {
        "host": settings.host, "port": settings.port, "user": settings.user, "database": settings.database,
        "charset": "utf8mb4", "collation": "utf8mb4_bin", "autocommit": False, "use_pure": True,
        "connection_timeout": max(1, math.ceil(settings.connect_timeout)),
    }
    for key in ("ssl_ca", "ssl_cert", "ssl_key"):
        value = getattr(settings, key)
        if value:
            options[key] = value
    if settings.ssl_verify_cert:
        options["ssl_verify_cert"] = True
    return options


def _mysql():
    import mysql.connector

    return mysql.connector


def default_connect(**options):
    return _mysql().connect(**options)


# -- the outbox ---------------------------------------------------------------------------------


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


@dataclass
class FlushResult:
    pushed: int = 0
    pending: int = 0
    failed: int = 0
    unreachable: bool = False
    error: str = ""


class Mirror:
    """The adapter the scanner calls: ``folder_changed`` queues, ``flush`` pushes, never raising."""

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
        """Queue ``folder`` for the next flush. Never raises, never touches the network."""
        try:
            self.outbox.add(folder_text(folder))
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
            state = self._load(path)
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
        errors = _mysql().Error
        try:
            action()
            return True
        except (_mysql().errors.InterfaceError, _mysql().errors.OperationalError, OSError) as exc:
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
            for chunk in _chunks(ids):
                cur.execute(f"SELECT face_id, model, dimension, encoding FROM face_encodings WHERE face_id IN ({_in(chunk)})",
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


def erase_person_rows(conn, *, name: str | None = None, name_sha: str | None = None) -> dict[str, int]:
    """Delete every face confirmed or guessed as the person (with encodings and names) and the
    person's row, in one transaction. ``name_sha`` (hex SHA-256) names the person without the name."""
    condition, value = ("pe.name = %s", name) if name is not None else ("SHA2(pe.name, 256) = %s", name_sha)
    cur = conn.cursor()
    conn.rollback()
    try:
        cur.execute(f"SELECT DISTINCT n.face_id FROM names n JOIN people pe ON pe.id = n.person_id WHERE {condition}",
                    (value,))
        face_ids = [row[0] for row in cur.fetchall()]
        counts = {"faces": 0, "encodings": 0, "names": 0, "people": 0}
        for chunk in _chunks(face_ids):
            cur.execute(f"SELECT COUNT(*) FROM face_encodings WHERE face_id IN ({_in(chunk)})", chunk)
            counts["encodings"] += int(cur.fetchone()[0])
            cur.execute(f"SELECT COUNT(*) FROM names WHERE face_id IN ({_in(chunk)})", chunk)
            counts["names"] += int(cur.fetchone()[0])
            cur.execute(f"DELETE FROM faces WHERE face_id IN ({_in(chunk)})", chunk)
            counts["faces"] += max(cur.rowcount, 0)
        cur.execute(f"DELETE pe FROM people pe WHERE {condition}", (value,))
        counts["people"] = max(cur.rowcount, 0)
        conn.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            conn.rollback()
        raise
    finally:
        cur.close()
    return counts


__all__ = ["Mirror", "MirrorError", "MIGRATIONS", "SCHEMA_VERSION", "migrate", "folder_rows", "diff_rows",
           "read_password", "connect_options", "FlushResult", "Outbox"]
