"""``db sync``, ``db check``, ``forget`` and ``export`` from the command line, against a real MariaDB;
the password never shows in ``ps``, output or logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facesidecar.cli import common
from facesidecar.cli.main import main
from facesidecar.config import load_settings
from facesidecar.store.merge import set_name
from tests.dbhelpers import (  # noqa: F401 - fixtures
    PASSWORD_ENV,
    PEOPLE,
    all_table_bytes,
    env_without,
    mariadb_server_fixture,
    mysql_db_fixture,
    query,
)
from tests.photos import make_photo

PROJECT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, mysql, root: Path, password_file: Path | None = None, enabled: bool = True) -> Path:
    secret = f'password_file = "{password_file}"' if password_file else f'password_env = "{PASSWORD_ENV}"'
    config = tmp_path / "config.toml"
    config.write_text(f"""
state_dir = "{tmp_path / 'state'}"
[[roots]]
path = "{root}"
[engine]
min_face_size = 1
[metadata]
enabled = false
[mysql]
enabled = {'true' if enabled else 'false'}
host = "{mysql.host}"
port = {mysql.port}
user = "{mysql.user}"
database = "{mysql.database}"
{secret}
connect_timeout = 3
""", encoding="utf-8")
    return config


@pytest.fixture
def scanned(tmp_path, mysql_db, commands_use_the_fake_engine):
    root = tmp_path / "photos"
    make_photo(root / "a" / "one.png", PEOPLE["red"], PEOPLE["green"])
    make_photo(root / "a" / "two.png", PEOPLE["red"])
    make_photo(root / "b" / "three.png", PEOPLE["blue"])
    secret = tmp_path / "pw"
    secret.write_text(mysql_db.test_password + "\n")
    secret.chmod(0o600)
    config = write_config(tmp_path, mysql_db, root, secret)
    settings = load_settings(config)
    with common.scanner_for(settings) as scanner:
        scanner.scan_paths([root])

        def change(txn):
            photo = txn.state.photos["one.png"]
            txn.changes.append(set_name(photo, photo.visible_faces[0], "Anna", "cli", txn.now))

        scanner.update_folder(root / "a", change)
        scanner.refresh()
    return root, config


class TestDbCommands:
    def test_check_clean_then_differences_then_sync(self, scanned, mysql_db, capsys):
        root, config = scanned
        assert main(["db", "check", "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert "the database matches the sidecars" in out and "faces" in out

        query(mysql_db, "DELETE FROM names WHERE kind = 'guess'")
        query(mysql_db, "UPDATE faces SET x = 0.9 WHERE face_nr = 2")
        query(mysql_db, "DELETE FROM photos WHERE file = 'three.png'")
        assert main(["db", "check", "--config", str(config), "--json"]) == 1
        result = json.loads(capsys.readouterr().out)
        kinds = {(d["table"], d["kind"]) for d in result["differences"]}
        assert {("names", "missing"), ("faces", "changed"), ("photos", "missing")} <= kinds
        assert result["sidecars"]["photos"] == 3 and result["database"]["photos"] == 2

        assert main(["db", "check", "--config", str(config)]) == 1
        assert "db sync" in capsys.readouterr().out
        assert main(["db", "sync", "--config", str(config)]) == 0
        assert main(["db", "check", "--config", str(config)]) == 0

    def test_mirror_off_is_a_clear_error(self, tmp_path, mysql_db, capsys):
        config = write_config(tmp_path, mysql_db, tmp_path, enabled=False)
        assert main(["db", "check", "--config", str(config)]) == 1
        assert "mirror is off" in capsys.readouterr().err

    def test_unreachable_database_is_exit_1(self, scanned, mysql_db, capsys, tmp_path):
        root, config = scanned
        text = config.read_text().replace(f"port = {mysql_db.port}", "port = 1")
        config.write_text(text)
        assert main(["db", "sync", "--config", str(config)]) == 1
        err = capsys.readouterr().err
        assert "cannot connect" in err and mysql_db.test_password not in err


class TestPasswordNeverShows:
    def run_watched(self, args: list[str], env: dict) -> tuple[subprocess.CompletedProcess, str]:
        """Run the CLI in a subprocess and sample every process's command line while it runs."""
        proc = subprocess.Popen([sys.executable, "-m", "facesidecar", *args], cwd=PROJECT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        samples = []
        while proc.poll() is None:
            samples.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout)
            time.sleep(0.02)
        out, err = proc.communicate()
        return subprocess.CompletedProcess(args, proc.returncode, out, err), "\n".join(samples)

    def test_not_in_ps_logs_or_errors(self, scanned, mysql_db, tmp_path):
        root, config = scanned
        password = mysql_db.test_password
        env = env_without(PASSWORD_ENV)
        done, ps = self.run_watched(["db", "check", "-vv", "--config", str(config)], env)
        assert done.returncode == 0, done.stderr
        assert ps and password not in ps
        assert password not in done.stdout and password not in done.stderr

        # a wrong password (from the environment this time): refused, and neither shows
        wrong = "wrong-" + password
        (tmp_path / "bad").mkdir()
        bad = write_config(tmp_path / "bad", mysql_db, root)
        env[PASSWORD_ENV] = wrong
        done, ps = self.run_watched(["db", "sync", "-vv", "--config", str(bad)], env)
        assert done.returncode == 1 and "Access denied" in done.stderr
        for secret in (password, wrong):
            assert secret not in ps and secret not in done.stdout and secret not in done.stderr

    def test_open_password_file_refused(self, scanned, mysql_db, tmp_path, capsys):
        root, config = scanned
        secret = tmp_path / "pw"
        secret.chmod(0o640)
        assert main(["db", "check", "--config", str(config)]) == 1
        err = capsys.readouterr().err
        assert "chmod 600" in err and mysql_db.test_password not in err


class TestForgetAndExportCommands:
    def test_forget_export_round(self, scanned, mysql_db, tmp_path, capsys):
        root, config = scanned
        out_file = tmp_path / "anna.json"
        assert main(["export", "Anna", "--config", str(config), "-o", str(out_file)]) == 0
        assert oct(out_file.stat().st_mode & 0o777) == oct(0o600)
        data = json.loads(out_file.read_text())
        assert len(data["faces"]) == 2 and len(data["database"]["faces"]) == 2

        assert main(["forget", "Anna", "--dry-run", "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert "would erase" in out and "one.png face 1 (confirmed)" in out and "two.png face 1 (guessed)" in out
        assert b"Anna" in (root / "a" / "faces.csv").read_bytes()

        assert main(["forget", "Anna", "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert "erased for 'Anna'" in out and "database:" in out
        for sidecar in root.rglob("faces.*"):
            assert b"Anna" not in sidecar.read_bytes()
        assert b"Anna" not in all_table_bytes(mysql_db)
        assert main(["db", "check", "--config", str(config)]) == 0

        assert main(["forget", "Anna", "--config", str(config)]) == 1, "nothing found is a failure"
        assert "nothing found for 'Anna'" in capsys.readouterr().out
        log = (tmp_path / "state" / "erasure-log.jsonl").read_text()
        assert len(log.splitlines()) == 1 and "Anna" not in log

    def test_forget_photo_and_usage_errors(self, scanned, mysql_db, capsys):
        root, config = scanned
        assert main(["forget", "--config", str(config)]) == 1
        assert "either NAME or --photo" in capsys.readouterr().err
        assert main(["forget", "--photo", str(root / "a" / "one.png"), "--json", "--config", str(config)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["found"] and result["totals"]["encodings"] == 2
        assert "one.png" not in (root / "a" / "faces.csv").read_text()
        assert main(["db", "check", "--config", str(config)]) == 0
        assert os.path.exists(root / "a" / "one.png")
