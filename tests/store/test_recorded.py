"""store/recorded.py: the echo check uses what this process last read or wrote in faces.pkl, and
reads faces.pkl again only when it is another file; the commit reads faces.csv again only when it changed."""

from __future__ import annotations

import os
import shutil

import pytest

from facesidecar.model import PhotoState
from facesidecar.store import confined
from facesidecar.store.folder import FolderStore

pytestmark = pytest.mark.usefixtures("no_settle")


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The names of the files read through the confined layer (every read of a sidecar ends in
    Folder.read: confined.read_file and the settle loop of faces.csv alike)."""
    seen: list[str] = []
    real = confined.Folder.read

    def counting(self, name, limit):
        seen.append(os.path.basename(name))
        return real(self, name, limit)

    monkeypatch.setattr(confined.Folder, "read", counting)
    return seen


def saved(folder, file: str = "1.jpg") -> None:
    folder.mkdir(exist_ok=True)
    with FolderStore(folder).transaction() as txn:
        txn.state.photos[file] = PhotoState(file=file, size=3, mtime_ns=7, inode=11, ctime_ns=13)


def test_what_a_save_wrote_is_recalled_without_reading(tmp_path, reads):
    saved(tmp_path)
    reads.clear()
    recorded = FolderStore(tmp_path).recorded_files()
    assert reads == []
    photo = recorded.photos["1.jpg"]
    assert (photo.size, photo.mtime_ns, photo.inode, photo.ctime_ns) == (3, 7, 11, 13) and not photo.faces
    assert recorded.csv_sha256 == FolderStore(tmp_path).load().csv_sha256


def test_another_faces_pkl_is_read(tmp_path, reads):
    saved(tmp_path / "a", "old.jpg")
    saved(tmp_path / "b", "new.jpg")
    shutil.copy(tmp_path / "b" / "faces.pkl", tmp_path / "a" / "faces.pkl.new")
    os.replace(tmp_path / "a" / "faces.pkl.new", tmp_path / "a" / "faces.pkl")  # e.g. restored from a backup
    reads.clear()
    assert set(FolderStore(tmp_path / "a").recorded_files().photos) == {"new.jpg"}
    assert reads == ["faces.pkl"]


def test_the_commit_reads_faces_csv_again_only_when_it_changed(tmp_path, reads):
    saved(tmp_path)
    reads.clear()
    with FolderStore(tmp_path).transaction() as txn:
        txn.state.photos["2.jpg"] = PhotoState(file="2.jpg")
    assert reads.count("faces.csv") == 1

    reads.clear()
    with FolderStore(tmp_path).transaction() as txn:
        txn.state.photos["3.jpg"] = PhotoState(file="3.jpg")
        csv = tmp_path / "faces.csv"
        csv.write_bytes(csv.read_bytes() + b"\n")  # a person's save while the transaction runs
    assert reads.count("faces.csv") >= 2
