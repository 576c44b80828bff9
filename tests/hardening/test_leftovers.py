"""A save moved aside by a killed writer (issue 20): ``.faces.csv.tmp-<pid>-<id>`` holding a person's
in-place save is merged by the next ``scan``, the daemon's catch-up and the daemon's own events,
even when faces.csv itself looks unchanged; a file under that name is read as untrusted input."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from facesidecar.store.csvfile import parse_csv
from facesidecar.store.folder import FolderStore

from .helpers import cli, put_photo, wait_for_catch_up, write_config

DEAD_WRITER = ".faces.csv.tmp-999999-abcd1234"
"""The temporary file of a writer that no longer runs (pid 999999 does not exist here)."""


def with_name(csv: bytes, name: str) -> bytes:
    """faces.csv with ``name`` typed into the name column of its first row."""
    lines = csv.decode().split("\n")
    cells = lines[1].split(",")
    cells[6] = name
    lines[1] = ",".join(cells)
    return "\n".join(lines).encode()


def csv_names(folder: Path) -> list[str]:
    return [r.name for r in parse_csv((folder / "faces.csv").read_bytes())]


def pkl_names(folder: Path) -> list[str]:
    return [f.name for _, f in FolderStore(folder).load().faces()]


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


@pytest.fixture
def scanned(tmp_path, shared_faces) -> tuple[Path, Path]:
    """A root with one folder of one photo, scanned once through the real command."""
    root = tmp_path / "photos"
    put_photo(root / "a" / "1.jpg")
    config = write_config(tmp_path / "config.toml", root, metadata=False)
    result = cli("scan", root, config=config)
    assert result.returncode == 0, result.stderr
    return root / "a", config


def leave_save_behind(folder: Path, name: str, temp_name: str = DEAD_WRITER) -> Path:
    """What a killed writer leaves: faces.csv as it wrote it, the person's save in the moved-aside file."""
    leftover = folder / temp_name
    leftover.write_bytes(with_name((folder / "faces.csv").read_bytes(), name))
    return leftover


def test_scan_merges_a_save_left_behind_although_faces_csv_looks_unchanged(scanned):
    folder, config = scanned
    leave_save_behind(folder, "Left Behind")
    result = cli("scan", folder.parent, config=config)
    assert result.returncode == 0, result.stderr
    assert "1 names changed" in result.stdout + result.stderr
    assert csv_names(folder) == ["Left Behind"] and pkl_names(folder) == ["Left Behind"]
    assert temp_files(folder) == []
    again = cli("scan", folder.parent, config=config)
    assert "0 names changed" in again.stdout + again.stderr and csv_names(folder) == ["Left Behind"]


def test_a_save_in_faces_csv_newer_than_the_leftover_wins(scanned):
    """The leftover counts as a save made at its mtime: a later save of faces.csv wins its rows."""
    folder, config = scanned
    leftover = leave_save_behind(folder, "Older Save")
    past = time.time() - 60
    os.utime(leftover, (past, past))
    (folder / "faces.csv").write_bytes(with_name((folder / "faces.csv").read_bytes(), "Newer Save"))
    assert cli("scan", folder.parent, config=config).returncode == 0
    assert csv_names(folder) == ["Newer Save"] and temp_files(folder) == []


def test_a_leftover_that_is_a_link_or_a_fifo_is_never_read(scanned, tmp_path):
    folder, config = scanned
    outside = tmp_path / "outside.csv"
    outside.write_bytes(with_name((folder / "faces.csv").read_bytes(), "From Outside"))
    before = outside.read_bytes()
    (folder / DEAD_WRITER).symlink_to(outside)
    os.mkfifo(folder / ".faces.csv.tmp-999999-fifo0001")
    result = cli("scan", folder.parent, config=config, timeout=120)
    assert result.returncode == 0, result.stderr
    assert csv_names(folder) == [""] and outside.read_bytes() == before
    assert "not a regular file" in result.stderr and "links are never followed" in result.stderr
    assert temp_files(folder) == []


def test_the_daemons_catch_up_merges_a_save_left_behind(scanned, tmp_path):
    from tests.support.edit_survival import DaemonRunner

    folder, config = scanned
    leave_save_behind(folder, "Caught Up")
    runner = DaemonRunner(tmp_path, config)
    try:
        runner.start()
        wait_for_name(folder, "Caught Up")
    finally:
        runner.stop()
        runner.kill()
    assert pkl_names(folder) == ["Caught Up"] and temp_files(folder) == []


def test_the_running_daemon_merges_a_save_landing_in_a_dead_writers_temp_file(scanned, tmp_path):
    """The daemon is idle after its catch-up; then the in-place save lands in the moved-aside file."""
    from tests.support.edit_survival import DaemonRunner

    folder, config = scanned
    runner = DaemonRunner(tmp_path, config)
    try:
        runner.start()
        wait_for_catch_up(tmp_path / "state")
        aside = folder / DEAD_WRITER
        shutil.copyfile(folder / "faces.csv", aside)
        with aside.open("r+b") as handle:  # the editor saves in place into the inode it had open
            data = with_name(handle.read(), "Saved Aside")
            handle.seek(0)
            handle.truncate()
            handle.write(data)
        wait_for_name(folder, "Saved Aside")
    finally:
        runner.stop()
        runner.kill()
    assert pkl_names(folder) == ["Saved Aside"] and temp_files(folder) == []


def wait_for_name(folder: Path, name: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while csv_names(folder) != [name]:
        assert time.monotonic() < deadline, f"{name!r} never reached {folder / 'faces.csv'}: {csv_names(folder)}"
        time.sleep(0.2)

