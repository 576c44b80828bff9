"""The naming commands' fixtures: the naming library, a config whose root it is, the commands run in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesidecar.cli.main import main
from facesidecar.engines import source as engine_source

from ..photos import naming_library


@pytest.fixture
def root(tmp_path) -> Path:
    return naming_library(tmp_path / "photos")


@pytest.fixture
def commands_use_the_fake_engine(monkeypatch, fake_engine):
    """The fake engine in place of dlib (photos are analysed in this process: ``detection_in_process``)."""
    monkeypatch.setattr(engine_source, "get_engine", lambda settings, model=None, state_dir=None: fake_engine)


@pytest.fixture
def config(tmp_path, root) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n[[roots]]\npath = "{root}"\n\n[metadata]\nenabled = false\n')
    return path


@pytest.fixture
def cli(config, capsys):
    """Run a command with the test config; returns (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        status = main([args[0], "--config", str(config), *args[1:]])
        out = capsys.readouterr()
        return status, out.out, out.err

    return run


@pytest.fixture
def scanned(cli, root):
    assert cli("scan")[0] == 0
    return root
