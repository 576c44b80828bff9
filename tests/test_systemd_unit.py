"""The unit file passes systemd's own checks (read from stderr: verify exits 0 on warnings)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
UNIT = PROJECT / "systemd" / "facesidecar.service"
INSTALLED = "/opt/facesidecar/.venv/bin/facesidecar"
MAX_EXPOSURE = 2.0

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def keys(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.fixture
def unit_here(tmp_path) -> Path:
    """The unit with ExecStart pointing at this checkout's venv (verify checks the binary exists)."""
    target = tmp_path / "facesidecar.service"
    target.write_text(UNIT.read_text().replace(INSTALLED, str(PROJECT / ".venv" / "bin" / "facesidecar")))
    return target


def test_unit_has_what_the_service_needs():
    found = keys(UNIT.read_text())
    expected = {
        "Type": "notify", "User": "facesidecar", "ProtectSystem": "strict", "PrivateTmp": "true",
        "NoNewPrivileges": "true", "IOSchedulingClass": "idle", "Restart": "on-failure",
        "StateDirectory": "facesidecar",
        "OOMPolicy": "continue",  # one OOM-killed worker process is retried by the pool, not the service stopped
    }
    for key, value in expected.items():
        assert found.get(key) == [value], key
    for key in ("ReadWritePaths", "ProtectHome", "MemoryMax", "Nice", "WatchdogSec", "TimeoutStopSec", "ExecReload"):
        assert key in found, key
    assert found["ExecStart"] == [f"{INSTALLED} watch --config /etc/facesidecar/config.toml"]


def test_systemd_analyze_verify_is_clean(unit_here):
    result = subprocess.run(["systemd-analyze", "verify", str(unit_here)], capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines() if unit_here.name in line or "Unknown" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_security_exposure_is_low(unit_here):
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit_here)],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    score = float(match.group(1))
    print(f"systemd-analyze security exposure: {score}")
    assert score <= MAX_EXPOSURE
