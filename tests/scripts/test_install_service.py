"""scripts/install-service.sh for real, below a temporary prefix (tests/scripts/conftest.py): the
user, the venv, the link on PATH, the config, the ACLs, the unit with its drop-in (systemd-analyze
verify), the daemon started from the unit's ExecStart as the service user, an offline re-run that
changes nothing, and --uninstall keeping the config and the sidecars."""

from __future__ import annotations

import csv
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import INSTALL

pytestmark = pytest.mark.slow


LIST_KEYS = {"ReadWritePaths", "Environment", "SystemCallFilter"}


def unit_values(*files: Path) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit and its drop-ins as systemd merges them: list keys add up (an empty
    value resets them), other keys take the last value."""
    found: dict[str, list[str]] = {}
    for path in files:
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith(("#", ";", "[")):
                key, value = line.split("=", 1)
                if key not in LIST_KEYS:
                    found[key] = [value]
                else:
                    found[key] = [] if value == "" else [*found.get(key, []), value]
    return found


def acl(path: Path) -> list[str]:
    return subprocess.run(["getfacl", "-cp", str(path)], capture_output=True, text=True, check=True).stdout.split()


def wait_for(predicate, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_files_permissions_and_doctor(installation):
    user = pwd.getpwnam(installation.user)
    assert user.pw_shell == "/usr/sbin/nologin" and user.pw_uid < 1000, "a system user without a login shell"
    assert "healthy" in installation.output, installation.output

    assert installation.link.is_symlink() and installation.link.resolve() == (installation.opt / ".venv/bin/facesidecar").resolve()
    version = subprocess.run([str(installation.link), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("facesidecar ")

    info = installation.config.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640 and info.st_uid == 0 and info.st_gid == user.pw_gid
    from facesidecar.config import load_settings

    settings = load_settings(installation.config)
    assert settings.root_paths() == installation.roots and settings.state_dir == str(installation.state)

    state = installation.state.stat()
    assert state.st_uid == user.pw_uid and stat.S_IMODE(state.st_mode) == 0o750
    program = (installation.opt / "facesidecar" / "__init__.py").stat()
    assert program.st_uid == 0 and not program.st_mode & 0o022, "the service user cannot change its program"

    for root in installation.roots:
        entries = acl(root)
        assert f"user:{installation.user}:rwx" in entries and f"default:user:{installation.user}:rwx" in entries
    assert f"user:{installation.user}:rw-" in acl(installation.roots[0] / "album" / "1.jpg")

    values = unit_values(installation.unit, installation.dropin)
    assert values["User"] == [installation.user] and values["Group"] == [installation.user]
    assert sorted(json.loads(v) for v in values["ReadWritePaths"]) == sorted([str(installation.state), *map(str, installation.roots)])


def test_systemd_analyze_verify_is_clean(installation):
    if shutil.which("systemd-analyze") is None:
        message = "SYSTEMD-ANALYZE MISSING: the installed unit was NOT verified (scripts/test.sh installs systemd)"
        print(f"\n{'!' * 20} {message}", flush=True)
        pytest.skip(message)
    result = subprocess.run(["systemd-analyze", "verify", str(installation.unit)], capture_output=True, text=True,
                            timeout=120)
    problems = [line for line in result.stderr.splitlines()
                if "facesidecar.service" in line or "install.conf" in line or "Unknown" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_the_daemon_starts_from_the_units_execstart_as_the_service_user(installation):
    values = unit_values(installation.unit, installation.dropin)
    environment = dict(item.split("=", 1) for item in values["Environment"])
    user = pwd.getpwnam(installation.user)
    notify_path = installation.base / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify_path.chmod(0o777)
    notify.settimeout(0.2)
    lines: list[str] = []

    def heard(line: str) -> bool:
        try:
            lines.extend(notify.recv(4096).decode().split("\n"))
        except TimeoutError:
            pass
        return any(item.startswith(line) for item in lines)

    command = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--",
               *shlex.split(values["ExecStart"][0])]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", **environment, "NOTIFY_SOCKET": str(notify_path)}
    log = installation.base / "daemon.log"
    with log.open("wb") as err:
        daemon = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd="/")
    try:
        wait_for(lambda: heard("READY=1") or daemon.poll() is not None)
        assert daemon.poll() is None, log.read_text()
        uid_line = next(ln for ln in Path(f"/proc/{daemon.pid}/status").read_text().splitlines() if ln.startswith("Uid:"))
        assert uid_line.split()[1:] == [str(user.pw_uid)] * 4
        sidecar = installation.roots[0] / "album" / "faces.csv"
        wait_for(lambda: sidecar.exists() and list(csv.DictReader(sidecar.open())))
        assert sidecar.stat().st_uid == user.pw_uid
        wait_for(lambda: heard("STATUS="))
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(20) == 0, log.read_text()
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        notify.close()


def test_running_it_again_offline_changes_nothing_and_keeps_the_config(installation):
    config = installation.config
    config.write_text(config.read_text() + "# edited by the user\n")
    before = config.read_text()
    unlisted = installation.base / "not configured"
    unlisted.mkdir()
    again = installation.run(*map(str, installation.roots), str(unlisted), env=installation.env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert config.read_text() == before
    assert "keeping the existing" in again.stdout and "nothing installed" in again.stdout
    assert f"already has access to {installation.roots[0]}" in again.stdout
    assert f"{unlisted} is not a root in the existing {config}" in again.stdout
    assert not (installation.base / "apt-called").exists()


def test_uninstall_keeps_the_config_and_the_sidecars(installation):
    """On a second installation (hard-linked copy of the first, installed offline into a new prefix)."""
    second = installation.base / "second"
    subprocess.run(["cp", "-al", str(installation.prefix), str(second)], check=True)
    for path in (second / "etc" / "facesidecar" / "config.toml", second / "etc" / "systemd"):
        subprocess.run(["rm", "-rf", str(path)], check=True)
    root = installation.base / "third root"
    root.mkdir()
    (root / "faces.csv").write_text("file,face_nr,x,y,w,h,name,guess,distance,cluster,rev\n")
    install = subprocess.run(["bash", str(INSTALL), "--prefix", str(second), "--user", installation.user, str(root)],
                             capture_output=True, text=True, timeout=600, env=installation.env)
    assert install.returncode == 0, install.stdout + install.stderr
    assert f"user:{installation.user}:rwx" in acl(root)

    removed = subprocess.run(["bash", str(INSTALL), "--prefix", str(second), "--user", installation.user, "--uninstall"],
                             capture_output=True, text=True, timeout=600, env=installation.env)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    for gone in ("opt/facesidecar", "usr/local/bin/facesidecar", "etc/systemd/system/facesidecar.service",
                 "etc/systemd/system/facesidecar.service.d"):
        assert not os.path.lexists(second / gone), gone
    assert (second / "etc" / "facesidecar" / "config.toml").is_file(), "the config stays"
    assert (root / "faces.csv").is_file(), "the sidecars stay"
    assert not any(installation.user in entry for entry in acl(root)), "the ACL entries go"
    assert installation.link.exists() and installation.unit.exists(), "the first installation is untouched"


def test_every_document_gives_the_same_one_recipe():
    from ..conftest import PROJECT

    for document in ("README.md", "systemd/README.md", "systemd/facesidecar.service"):
        text = (PROJECT / document).read_text()
        assert "bash scripts/install-service.sh" in text, document
        for other_recipe in ("useradd ", "python3 -m venv /opt", "pip install facesidecar", "cp systemd/",
                             "install -D -m 0644 config.example.toml"):
            assert other_recipe not in text, f"{document} still shows {other_recipe!r}"
