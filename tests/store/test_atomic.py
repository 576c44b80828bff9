"""store.atomic: a sidecar is the old file or the new one, never a mix, and a save made meanwhile comes back.

What a planted link does to these writes is in test_confined.py; here: contents, modes, failures,
the exchange's returned bytes and its fallback where the file system cannot exchange.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from facesidecar.config import RootSettings, Settings
from facesidecar.errors import SidecarError
from facesidecar.store import confined
from facesidecar.store.atomic import exchange_atomic, write_atomic


@pytest.fixture
def album(tmp_path) -> Path:
    album = tmp_path / "photos" / "album"
    album.mkdir(parents=True)
    Settings(roots=[RootSettings(path=str(tmp_path / "photos"))])  # confines every file access to the root
    return album


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_a_write_replaces_the_file_and_leaves_no_temporary_file(album):
    write_atomic(album / "faces.csv", b"old")
    write_atomic(album / "faces.csv", b"new")
    assert (album / "faces.csv").read_bytes() == b"new" and leftovers(album) == []


def test_a_sidecar_gets_the_folders_mode_without_execute_bits_unless_told(album):
    album.chmod(0o750)
    write_atomic(album / "faces.csv", b"rows")
    assert (album / "faces.csv").stat().st_mode & 0o777 == 0o640
    write_atomic(album / "faces.pkl", b"state", mode=0o600)
    assert (album / "faces.pkl").stat().st_mode & 0o777 == 0o600


def test_a_failed_write_keeps_the_previous_version_and_says_so(album, monkeypatch):
    write_atomic(album / "faces.csv", b"old")

    def disk_full(self, name, data, mode=None):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(confined.Folder, "write_new", disk_full)
    with pytest.raises(SidecarError, match=r"cannot write .*faces\.csv: .*the previous version is kept \(disk full"):
        write_atomic(album / "faces.csv", b"new")
    assert (album / "faces.csv").read_bytes() == b"old" and leftovers(album) == []


def test_the_exchange_returns_what_the_file_held_at_the_swap(album):
    (album / "faces.csv").write_bytes(b"the person's save")
    assert exchange_atomic(album / "faces.csv", b"ours") == b"the person's save"
    assert (album / "faces.csv").read_bytes() == b"ours"


def test_a_save_the_caller_does_not_know_stays_on_disk_until_committed(album):
    """The swapped-out file holds a person's save: a writer killed now must leave it for the next one."""
    (album / "faces.csv").write_bytes(b"ours before")
    known = hashlib.sha256(b"ours before").hexdigest()
    assert exchange_atomic(album / "faces.csv", b"ours", known=[known]) == b"ours before"
    assert leftovers(album) == [], "our own bytes need not be kept"
    (album / "faces.csv").write_bytes(b"the person's save")
    assert exchange_atomic(album / "faces.csv", b"ours again", known=[known]) == b"the person's save"
    (kept,) = leftovers(album)
    assert (album / kept).read_bytes() == b"the person's save"


def test_without_an_exchange_the_last_read_comes_back_and_the_file_is_replaced(album, monkeypatch):
    """Network mounts cannot exchange two names: a read just before a plain atomic rename."""
    monkeypatch.setattr(confined.Folder, "exchange", lambda self, first, second: False)
    (album / "faces.csv").write_bytes(b"the person's save")
    assert exchange_atomic(album / "faces.csv", b"ours") == b"the person's save"
    assert (album / "faces.csv").read_bytes() == b"ours" and leftovers(album) == []


def test_an_absent_file_is_created_and_nothing_comes_back(album):
    assert exchange_atomic(album / "faces.csv", b"ours") is None
    assert (album / "faces.csv").read_bytes() == b"ours"
