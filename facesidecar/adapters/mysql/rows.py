"""A folder's sidecars as the mirror's rows: serialised, read back, compared, and pushed.

``push_folder`` makes the database equal to one folder's state in one transaction, touching only
the rows that differ; ``erase_person_rows`` removes a person everywhere (GDPR).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ...model import IGNORE, FolderState, encoding_to_plain

CHUNK = 500


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


def chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    """Slices of ``items`` short enough for one ``IN (...)`` list."""
    for lo in range(0, len(items), size):
        yield items[lo:lo + size]


def placeholders(items: list) -> str:
    """The ``%s`` markers of an ``IN (...)`` list for ``items``."""
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
    for files in chunks(diff.extra):
        cur.execute(f"DELETE FROM photos WHERE path_sha IN ({placeholders(files)})",
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
    for ids in chunks(diff.extra):
        cur.execute(f"DELETE FROM faces WHERE face_id IN ({placeholders(ids)})", ids)
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
    for chunk in chunks(people):
        cur.execute(f"SELECT name, id FROM people WHERE name IN ({placeholders(chunk)})", chunk)
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
        for chunk in chunks(face_ids):
            cur.execute(f"SELECT COUNT(*) FROM face_encodings WHERE face_id IN ({placeholders(chunk)})", chunk)
            counts["encodings"] += int(cur.fetchone()[0])
            cur.execute(f"SELECT COUNT(*) FROM names WHERE face_id IN ({placeholders(chunk)})", chunk)
            counts["names"] += int(cur.fetchone()[0])
            cur.execute(f"DELETE FROM faces WHERE face_id IN ({placeholders(chunk)})", chunk)
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
