"""scripts/setup.sh and scripts/run.sh on a fresh copy of the checkout: the first set-up installs the
small default (dlib, no test tools, no deepface); a second one with the network and apt blocked
installs nothing and succeeds, and so does the run command."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ..conftest import PROJECT

pytestmark = pytest.mark.slow

COPIED = ("pyproject.toml", "README.md", "config.example.toml", "facesidecar", "scripts", "systemd")


def fresh_copy(target: Path) -> Path:
    """The checkout's files a clone would have (without its .venv), as a new checkout."""
    target.mkdir()
    for name in COPIED:
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, target / name)
    return target


def offline_env(tmp_path: Path) -> dict[str, str]:
    """No package index (pip fails at once if it is asked) and an apt-get that records being called."""
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir(exist_ok=True)
    apt = fake_bin / "apt-get"
    apt.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/apt-called\nexit 1\n")
    apt.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PATH=f"{fake_bin}:{env['PATH']}", PIP_NO_INDEX="1", PIP_INDEX_URL="http://127.0.0.1:9/simple",
               PIP_FIND_LINKS="", PIP_CONFIG_FILE=os.devnull)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_setup_twice_the_second_time_offline_installs_nothing(tmp_path):
    repo = fresh_copy(tmp_path / "repo")
    first = run(["bash", "scripts/setup.sh"], repo, timeout=1500)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "installing facesidecar" in first.stdout
    python = repo / ".venv" / "bin" / "python"
    modules = run([str(python), "-c", "import importlib.util as u; print([m for m in ('pytest', 'ruff', "
                   "'selenium', 'deepface', 'tensorflow', 'cv2') if u.find_spec(m)])"], repo)
    assert modules.stdout.strip() == "[]", "the run command's install carries no test tools and no deepface"
    site = next((repo / ".venv" / "lib").glob("python3*/site-packages"))
    before = sorted(p.name for p in site.iterdir())

    env = offline_env(tmp_path)
    second = run(["bash", "scripts/setup.sh"], repo, env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "up to date" in second.stdout and "nothing installed" in second.stdout
    assert sorted(p.name for p in site.iterdir()) == before
    assert not (tmp_path / "apt-called").exists()

    watch = run(["bash", "scripts/run.sh", str(tmp_path / "no-such-folder")], repo, env)
    assert "nothing installed" in watch.stdout, watch.stderr
    assert watch.returncode == 1 and "no-such-folder is not a folder" in watch.stderr

    config = tmp_path / "deepface.toml"
    config.write_text('[engine]\nbackend = "deepface"\nmodel = "Facenet512"\n')
    (tmp_path / "photos").mkdir()
    shutil.copy(PROJECT / "tests" / "data" / "tom_cruise.jpg", tmp_path / "photos")
    scan = run([str(repo / ".venv" / "bin" / "facesidecar"), "scan", "--config", str(config), str(tmp_path / "photos")],
               repo, env)
    assert scan.returncode == 1 and "Traceback" not in scan.stderr
    assert f"install it with: bash {repo}/scripts/setup.sh --deepface" in scan.stderr, scan.stderr


def test_setup_refuses_unknown_options(tmp_path):
    result = run(["bash", str(PROJECT / "scripts" / "setup.sh"), "--gpu"], tmp_path)
    assert result.returncode == 2 and "unknown option --gpu" in result.stderr
