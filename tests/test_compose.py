"""The composition root: every scanner of the program comes from build_scanner, with its adapters."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

import facesidecar
from facesidecar.compose import build_scanner, detect_executor
from facesidecar.config import MetadataSettings, RootSettings, Settings
from facesidecar.daemon import default_scanner_factory
from facesidecar.workers import LocalPool

PACKAGE = Path(facesidecar.__file__).parent
needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")


def settings_for(tmp_path: Path, metadata: bool = True) -> Settings:
    return Settings(roots=[RootSettings(path=str(tmp_path))], state_dir=str(tmp_path / "state"),
                    metadata=MetadataSettings(enabled=metadata))


def test_only_the_composition_root_builds_a_scanner():
    builders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Scanner":
                builders.append(path.relative_to(PACKAGE).as_posix())
    assert builders == ["compose.py"]


@needs_exiftool
def test_the_daemon_and_the_commands_get_the_metadata_writer(tmp_path):
    for scanner in (build_scanner(settings_for(tmp_path)), default_scanner_factory(settings_for(tmp_path), lambda: False)):
        try:
            assert scanner.metadata is not None and scanner.mirror is None  # [mysql] is off
        finally:
            scanner.close()


def test_a_scanner_without_adapters_is_asked_for_by_name(tmp_path):
    scanner = build_scanner(settings_for(tmp_path), sidecars_only=True)
    assert scanner.metadata is None and scanner.mirror is None


def test_switched_off_metadata_builds_no_writer(tmp_path):
    scanner = build_scanner(settings_for(tmp_path, metadata=False))
    assert scanner.metadata is None


def test_one_worker_analyses_photos_in_the_scanning_process(tmp_path):
    """``engine.workers = 1``: no pool (what the pool's start failure message promises)."""
    settings = settings_for(tmp_path, metadata=False)
    settings.engine.workers = 1
    assert detect_executor(settings) is None
    settings.engine.workers = 2
    pool = detect_executor(settings)
    try:
        assert isinstance(pool, LocalPool) and pool.wanted == 2
    finally:
        pool.close()
