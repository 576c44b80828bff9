"""The mirror's tables and the versioned migrations that create and upgrade them.

Tables (utf8mb4, created and upgraded by the versioned migrations in ``MIGRATIONS``, recorded in
``schema_version``): ``photos``, ``faces`` (box), ``face_encodings`` (BLOB of float32 with model and
dimension), ``people``, ``names`` (confirmed names and guesses of faces), ``folders``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ...errors import MirrorError

log = logging.getLogger(__name__)

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
