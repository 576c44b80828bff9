"""The mirror's schema against a real MariaDB: migrations recorded, upgrades, a newer schema refused."""

from __future__ import annotations

import os

import pytest

from facesidecar.adapters.mysql.credentials import connect_options, default_connect
from facesidecar.adapters.mysql.mirror import Mirror
from facesidecar.adapters.mysql.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from facesidecar.errors import MirrorError
from tests.dbhelpers import (  # noqa: F401 - fixtures
    PASSWORD_ENV,
    mariadb_server_fixture,
    mysql_db_fixture,
    query,
)


class TestSchema:
    def test_migrations_recorded_and_utf8mb4(self, mysql_db):
        mirror = Mirror(mysql_db)
        mirror.connection()
        versions = [row[0] for row in query(mysql_db, "SELECT version FROM schema_version ORDER BY version")]
        assert versions == [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
        collations = query(mysql_db, "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES "
                                     "WHERE TABLE_SCHEMA = %s", (mysql_db.database,))
        assert {t for t, _ in collations} >= {"photos", "faces", "face_encodings", "people", "names", "folders"}
        assert all(c.startswith("utf8mb4") for _, c in collations)
        mirror.close()

    def test_upgrade_from_version_1(self, mysql_db):
        conn = default_connect(**connect_options(mysql_db), password=os.environ[PASSWORD_ENV])
        assert migrate(conn, target=1) == [1]
        assert migrate(conn) == list(range(2, SCHEMA_VERSION + 1))
        assert migrate(conn) == []
        conn.close()
        assert query(mysql_db, "SELECT MAX(version) FROM schema_version") == [(SCHEMA_VERSION,)]

    def test_newer_schema_is_refused(self, mysql_db):
        mirror = Mirror(mysql_db)
        conn = mirror.connection()
        cur = conn.cursor()
        cur.execute("INSERT INTO schema_version (version, description) VALUES (99, 'from the future')")
        conn.commit()
        mirror.close()
        with pytest.raises(MirrorError, match="newer"):
            Mirror(mysql_db).connection()
