"""facesidecar doctor: each check with injected I/O, then the command for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from facesidecar import doctor
from facesidecar.config import MysqlSettings, RootSettings, Settings
from facesidecar.doctor import Check, Status

PROJECT = Path(__file__).resolve().parents[1]
PYTHON = PROJECT / ".venv" / "bin" / "python"


def test_config_errors_fail_and_defaults_carry_on(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[daemon]\nspeed = 3\n")
    check, settings = doctor.check_config(str(bad))
    assert check.status is Status.FAIL and "speed" in check.detail
    assert settings == Settings()


def test_exiftool_missing_fails():
    check = doctor.check_exiftool(which=lambda name: None)
    assert check.status is Status.FAIL and "libimage-exiftool-perl" in check.detail


def test_exiftool_without_mwg_fails():
    def run(args, **kwargs):
        out = "10.00\n" if "-ver" in args else "Writable XMP-mwg-rs tags:\n  None\n"
        return subprocess.CompletedProcess(args, 0, stdout=out)

    check = doctor.check_exiftool(which=lambda name: "/usr/bin/exiftool", run=run, use_adapter=False)
    assert check.status is Status.FAIL and "MWG" in check.detail


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")
def test_real_exiftool_is_found_with_version_and_mwg():
    check = doctor.check_exiftool(use_adapter=False)
    assert check.status is Status.OK, check.detail
    assert check.data["mwg"] and check.data["version"][0].isdigit()


def test_dlib_model_files(tmp_path):
    package = tmp_path / "face_recognition_models"
    (package / "models").mkdir(parents=True)
    (package / "models" / doctor.DLIB_FILES[0]).write_bytes(b"x")
    found = {"dlib": tmp_path / "dlib", "face_recognition_models": package}
    check = doctor.check_dlib_models(find_package=found.get)
    assert check.status is Status.FAIL and doctor.DLIB_FILES[1] in check.detail
    (package / "models" / doctor.DLIB_FILES[1]).write_bytes(b"x")
    assert doctor.check_dlib_models(find_package=found.get).status is Status.OK


def test_installed_dlib_models_are_present():
    assert doctor.check_models(Settings()).status is Status.OK


def test_memory_against_the_engine():
    gb = 2**30
    settings = Settings()
    assert doctor.check_memory(settings, available=lambda: 4 * gb, total=lambda: 8 * gb).status is Status.OK
    assert doctor.check_memory(settings, available=lambda: gb // 4, total=lambda: 8 * gb).status is Status.WARNING
    settings.engine.backend = "deepface"
    check = doctor.check_memory(settings, available=lambda: gb, total=lambda: gb)
    assert check.status is Status.FAIL and "2048" in check.detail


def test_roots_must_exist_and_be_writable(tmp_path):
    assert doctor.check_root(tmp_path).status is Status.OK
    assert doctor.check_root(tmp_path / "missing").status is Status.FAIL
    if os.geteuid() != 0:  # root may write anywhere
        read_only = tmp_path / "ro"
        read_only.mkdir(mode=0o555)
        assert "writable" in doctor.check_root(read_only).detail


def test_inotify_limit_against_folders(tmp_path):
    for n in range(5):
        (tmp_path / f"f{n}" / "sub").mkdir(parents=True)
    assert doctor.count_folders(tmp_path) == 11
    settings = Settings(roots=[RootSettings(path=str(tmp_path))])
    assert doctor.check_inotify(settings, limit=100).status is Status.OK
    assert doctor.check_inotify(settings, limit=12).status is Status.WARNING
    failed = doctor.check_inotify(settings, limit=10)
    assert failed.status is Status.FAIL and "max_user_watches" in failed.detail
    settings.roots[0].poll = True  # polled roots need no watches
    assert doctor.check_inotify(settings, limit=10).status is Status.OK


def test_database_is_skipped_unless_enabled():
    assert doctor.check_database(Settings()) is None


def test_database_failure_never_shows_the_password(monkeypatch):
    monkeypatch.setenv("FACESIDECAR_MYSQL_PASSWORD", "s3cret-pw")
    settings = Settings(mysql=MysqlSettings(enabled=True))
    seen = {}

    def connect(**options):
        seen.update(options)
        raise OSError("Access denied for user 'facesidecar' (password s3cret-pw)")

    check = doctor.check_database(settings, connect=connect)
    assert check.status is Status.FAIL and "s3cret-pw" not in check.detail and "***" in check.detail
    assert seen["password"] == "s3cret-pw" and seen["connection_timeout"] == 5


@pytest.mark.mysql
def test_real_database_reachable():
    settings = Settings(mysql=MysqlSettings(enabled=True, user="root", database="test", password_env="NO_SUCH_VAR"))
    check = doctor.check_database(settings)
    if check.status is Status.FAIL and ("Can't connect" in check.detail or "2003" in check.detail):
        pytest.skip(f"no MariaDB here: {check.detail}")
    assert check.status is Status.OK, check.detail


def test_healthy_means_no_failure():
    assert doctor.healthy([Check("a", Status.OK, ""), Check("b", Status.WARNING, "")])
    assert not doctor.healthy([Check("a", Status.OK, ""), Check("b", Status.FAIL, "")])


def run_doctor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(PYTHON), "-m", "facesidecar", "doctor", *args], capture_output=True, text=True,
                          timeout=120)


def test_doctor_command_json_and_exit_status(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n[[roots]]\npath = "{root}"\n')
    result = run_doctor("--config", str(config), "--json")
    report = json.loads(result.stdout)
    names = {c["name"]: c for c in report["checks"]}
    assert {"config", "exiftool", "models", "memory", "inotify", f"root {root}"} <= set(names)
    assert result.returncode == (0 if report["healthy"] else 1)

    config.write_text(f'state_dir = "{tmp_path / "state"}"\n[[roots]]\npath = "{tmp_path / "missing"}"\n')
    result = run_doctor("--config", str(config))
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "NOT healthy" in result.stdout
