"""cli/common.py: which folders a command works through, and working through them alone."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

import pytest

from facesidecar.cli.common import roots_locked, target_roots
from facesidecar.config import Settings, with_roots
from facesidecar.errors import FacesidecarError
from facesidecar.runlock import RootLocks, RootsBusy


def settings_in(tmp_path: Path, *roots: Path) -> Settings:
    settings = with_roots(Settings(), [str(r) for r in roots]) if roots else Settings()
    settings.state_dir = str(tmp_path / "state")
    return settings


def test_the_paths_given_become_the_roots_when_none_are_configured(tmp_path):
    (tmp_path / "a").mkdir()
    target = target_roots(argparse.Namespace(paths=[str(tmp_path / "a")]), settings_in(tmp_path), "scan")
    assert target.paths == [(tmp_path / "a").resolve()]
    assert target.settings.root_paths() == [(tmp_path / "a").resolve()]


def test_configured_roots_stay_and_are_the_default_paths(tmp_path):
    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    settings = settings_in(tmp_path, root)
    given = target_roots(argparse.Namespace(paths=[str(root / "a")]), settings, "scan")
    assert given.paths == [(root / "a").resolve()] and given.settings is settings
    default = target_roots(argparse.Namespace(paths=[]), settings, "recluster")
    assert default.paths == settings.root_paths()


def test_neither_paths_nor_roots_is_said_and_gives_nothing(tmp_path, caplog):
    assert target_roots(argparse.Namespace(paths=[]), settings_in(tmp_path), "recluster") is None
    assert "nothing to recluster: give a folder" in caplog.text


def test_a_path_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(FacesidecarError, match="nowhere: no such file or folder"):
        target_roots(argparse.Namespace(paths=[str(tmp_path / "nowhere")]), settings_in(tmp_path), "scan")


def test_roots_locked_keeps_others_out_until_done(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    settings = settings_in(tmp_path, root)
    with roots_locked(settings, [root], "scan"):
        with RootLocks(settings.state_path(), "other") as other, pytest.raises(RootsBusy):
            other.acquire([root], wait=False)
    with RootLocks(settings.state_path(), "other") as other:
        assert other.acquire([root], wait=False)


def test_roots_locked_waits_and_says_so(tmp_path, caplog):
    root = tmp_path / "photos"
    root.mkdir()
    settings = settings_in(tmp_path, root)
    holder = RootLocks(settings.state_path(), "scan", "facesidecar scan elsewhere")
    holder.acquire([root], wait=False)
    timer = threading.Timer(0.5, holder.release)
    timer.start()
    with roots_locked(settings, [root], "recluster"):
        pass
    timer.join()
    assert "waiting for " in caplog.text and "this command goes on when it is done" in caplog.text


def test_nothing_to_lock_writes_nothing(tmp_path):
    with roots_locked(settings_in(tmp_path), [], "scan"):
        pass
    assert not (tmp_path / "state").exists()
