"""The mirror's credentials: a private password file, a password that never shows, TLS options."""

from __future__ import annotations

import logging

import pytest

from facesidecar.adapters.mysql.credentials import connect_options, read_password
from facesidecar.adapters.mysql.mirror import Mirror
from facesidecar.errors import MirrorError
from tests.dbhelpers import (  # noqa: F401 - fixtures
    PASSWORD_ENV,
    mariadb_server_fixture,
    mysql_db_fixture,
)


class TestCredentials:
    def test_password_file_must_be_private(self, tmp_path, mysql_db):
        secret = tmp_path / "pw"
        secret.write_text(mysql_db.test_password + "\n")
        secret.chmod(0o644)
        mysql_db.password_file = str(secret)
        with pytest.raises(MirrorError) as err:
            Mirror(mysql_db)
        assert "chmod 600" in str(err.value) and mysql_db.test_password not in str(err.value)
        secret.chmod(0o600)
        assert read_password(mysql_db, environ={}) == mysql_db.test_password
        mirror = Mirror(mysql_db, environ={})
        mirror.connection()
        mirror.close()

    def test_wrong_password_never_shows(self, tmp_path, mysql_db, caplog, monkeypatch):
        caplog.set_level(logging.DEBUG)
        wrong = "wrong-" + mysql_db.test_password
        monkeypatch.setenv(PASSWORD_ENV, wrong)
        mirror = Mirror(mysql_db, outbox_dir=tmp_path / "state")
        with pytest.raises(MirrorError) as err:
            mirror.connection()
        text = f"{err.value}\n{err.value!r}\n{err.value.__cause__!r}\n{err.value.__context__!r}"
        assert "Access denied" in text
        mirror.folder_changed(tmp_path, None)
        result = mirror.flush(force=True)
        assert result.unreachable
        logs = "\n".join(r.getMessage() for r in caplog.records)
        for secret in (wrong, mysql_db.test_password):
            assert secret not in text and secret not in logs and secret not in repr(mirror)
            assert secret not in result.error

    def test_tls_options_are_passed_through(self, tmp_path):
        from facesidecar.config import MysqlSettings

        settings = MysqlSettings(ssl_ca="/ca.pem", ssl_cert="/c.pem", ssl_key="/k.pem", ssl_verify_cert=True)
        seen = {}

        def fake_connect(**options):
            seen.update(options)
            raise OSError("no server here")

        mirror = Mirror(settings, connect=fake_connect, environ={settings.password_env: "s3cret"})
        with pytest.raises(MirrorError) as err:
            mirror.connection()
        assert {k: seen[k] for k in ("ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert")} == {
            "ssl_ca": "/ca.pem", "ssl_cert": "/c.pem", "ssl_key": "/k.pem", "ssl_verify_cert": True}
        assert seen["password"] == "s3cret" and "s3cret" not in str(err.value)
        assert "password" not in connect_options(settings)
