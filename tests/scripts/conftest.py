"""One real installation of the service below a temporary prefix, shared by the script tests.

``scripts/install-service.sh --prefix DIR`` builds the venv of DIR/opt/facesidecar from the package
index once (the expensive part); the tests then run the scripts again, offline, against it. The
service user is a real system user made by the script, removed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..conftest import FACES, PROJECT

INSTALL = PROJECT / "scripts" / "install-service.sh"


def _loud_skip(reason: str):
    message = f"SERVICE INSTALL TEST SKIPPED: {reason}"
    print(f"\n{'!' * 20} {message}", flush=True)
    pytest.skip(message)


@dataclass
class Installation:
    base: Path
    prefix: Path
    user: str
    roots: list[Path]
    output: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def opt(self) -> Path:
        return self.prefix / "opt" / "facesidecar"

    @property
    def config(self) -> Path:
        return self.prefix / "etc" / "facesidecar" / "config.toml"

    @property
    def unit(self) -> Path:
        return self.prefix / "etc" / "systemd" / "system" / "facesidecar.service"

    @property
    def dropin(self) -> Path:
        return self.unit.parent / "facesidecar.service.d" / "install.conf"

    @property
    def link(self) -> Path:
        return self.prefix / "usr" / "local" / "bin" / "facesidecar"

    @property
    def state(self) -> Path:
        return self.prefix / "var" / "lib" / "facesidecar"

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        command = ["bash", str(INSTALL), "--prefix", str(self.prefix), "--user", self.user, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def offline_env(where: Path) -> dict[str, str]:
    """No package index (pip fails at once if asked) and an apt-get that records being called."""
    fake_bin = where / "fake-bin"
    fake_bin.mkdir(exist_ok=True)
    apt = fake_bin / "apt-get"
    apt.write_text(f"#!/bin/sh\necho \"$@\" >> {where}/apt-called\nexit 1\n")
    apt.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PATH=f"{fake_bin}:{env['PATH']}", PIP_NO_INDEX="1", PIP_INDEX_URL="http://127.0.0.1:9/simple",
               PIP_FIND_LINKS="", PIP_CONFIG_FILE=os.devnull)
    return env


@pytest.fixture(scope="session")
def installation():
    """``install-service.sh --prefix`` run once for real: user, venv, link, config, ACLs, unit, doctor."""
    if os.geteuid() != 0:
        _loud_skip("installing a service needs root (useradd, ACLs)")
    for tool in ("useradd", "userdel", "runuser", "setpriv"):
        if shutil.which(tool) is None:
            _loud_skip(f"{tool} is missing")
    base = Path(tempfile.mkdtemp(prefix="fsc-install-"))
    base.chmod(0o755)  # the service user must get through to its venv and its photos
    user = f"fsctest{uuid.uuid4().hex[:6]}"
    roots = [base / "photos", base / "more photos"]
    for root in roots:
        (root / "album").mkdir(parents=True)
    shutil.copy(FACES / "barack_obama" / "1.jpg", roots[0] / "album" / "1.jpg")
    (roots[0] / "album" / "1.jpg").chmod(0o644)
    prefix = base / "root"
    command = ["bash", str(INSTALL), "--prefix", str(prefix), "--user", user, *map(str, roots)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stdout + done.stderr
        yield Installation(base, prefix, user, roots, done.stdout + done.stderr, offline_env(base))
    finally:
        subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", user], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
