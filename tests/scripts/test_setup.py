"""scripts/setup.sh and scripts/run.sh: the run command's install is small (no test tools, no deepface),
a second set-up with the network and apt blocked installs nothing and succeeds, and so does the run
command. The checkout they run in is the /opt/facesidecar copy of the service installation
(tests/scripts/conftest.py), whose venv was built from the package index."""

from __future__ import annotations

import subprocess

import pytest

from ..conftest import PROJECT, TEST_DATA

pytestmark = pytest.mark.slow


def run(args: list[str], cwd, env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_run_install_has_no_test_tools_and_no_deepface(installation):
    python = installation.opt / ".venv" / "bin" / "python"
    probe = "import importlib.util as u; print([m for m in ('pytest', 'ruff', 'selenium', 'deepface', 'cv2') if u.find_spec(m)])"
    assert run([str(python), "-c", probe], installation.base).stdout.strip() == "[]"


def test_a_second_setup_offline_installs_nothing(installation):
    site = next((installation.opt / ".venv" / "lib").glob("python3*/site-packages"))
    before = sorted(p.name for p in site.iterdir())
    second = run(["bash", "scripts/setup.sh"], installation.opt, installation.env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "up to date" in second.stdout and "nothing installed" in second.stdout
    assert sorted(p.name for p in site.iterdir()) == before
    assert not (installation.base / "apt-called").exists()


def test_the_run_command_works_offline(installation, tmp_path):
    result = run(["bash", "scripts/run.sh", str(tmp_path / "no-such-folder")], installation.opt, installation.env)
    assert "nothing installed" in result.stdout, result.stderr
    assert result.returncode == 1 and "no-such-folder is not a folder" in result.stderr


def test_deepface_without_the_extra_names_the_command_to_run(installation, tmp_path):
    config = tmp_path / "deepface.toml"
    config.write_text('[engine]\nbackend = "deepface"\nmodel = "Facenet512"\n[metadata]\nenabled = false\n')
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "tom.jpg").write_bytes((TEST_DATA / "tom_cruise.jpg").read_bytes())
    command = [str(installation.opt / ".venv" / "bin" / "facesidecar"), "scan", "--config", str(config),
               str(tmp_path / "photos")]
    scan = run(command, tmp_path, installation.env)
    assert scan.returncode == 1 and "Traceback" not in scan.stderr
    assert f"install it with: bash {installation.opt}/scripts/setup.sh --deepface" in scan.stderr, scan.stderr
    doctor = run([command[0], "doctor", "--config", str(config)], tmp_path, installation.env)
    assert doctor.returncode == 1 and "setup.sh --deepface" in doctor.stdout


def test_setup_refuses_unknown_options(tmp_path):
    result = run(["bash", str(PROJECT / "scripts" / "setup.sh"), "--gpu"], tmp_path)
    assert result.returncode == 2 and "unknown option --gpu" in result.stderr
