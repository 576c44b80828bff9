"""The confined file-access layer: nothing below a root is reached through a symlink, only regular
files are read, writes land in the folder that was opened (whatever replaces it meanwhile)."""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from facesidecar.store import confined
from facesidecar.store.atomic import exchange_atomic, write_atomic
from facesidecar.store.confined import Folder, RefusedFile


@pytest.fixture
def layout(tmp_path):
    """A registered root with a folder in it, and a sentinel folder outside the root."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "album").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    confined.configure([root])
    return root, outside


def test_anchor_is_the_innermost_registered_root(tmp_path):
    outer, inner = tmp_path / "r", tmp_path / "r" / "nested"
    confined.configure([outer, inner])
    assert confined.anchor(inner / "a" / "b") == (inner, ("a", "b"))
    assert confined.anchor(outer / "x") == (outer, ("x",))
    assert confined.anchor(tmp_path / "elsewhere") == (tmp_path / "elsewhere", ())


def test_a_folder_reached_through_a_symlink_below_the_root_is_refused(layout):
    root, outside = layout
    (root / "link").symlink_to(outside)
    (root / "album" / "inner").symlink_to(root / "album")  # inside the same root: skipped too
    for path in (root / "link", root / "link" / "deeper", root / "album" / "inner"):
        with pytest.raises(RefusedFile, match="symbolic link"):
            Folder.open(path)


def test_a_root_that_is_itself_a_symlink_is_the_admins_choice_and_followed(tmp_path):
    real = tmp_path / "disk" / "photos"
    real.mkdir(parents=True)
    (tmp_path / "photos").symlink_to(real)
    confined.configure([tmp_path / "photos"])
    with confined.opened(tmp_path / "photos") as folder:
        assert folder.identity() == (os.stat(real).st_dev, os.stat(real).st_ino)


def test_a_folder_in_no_root_may_not_be_a_symlink_itself(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    with pytest.raises(RefusedFile):
        Folder.open(tmp_path / "alias")


@pytest.mark.parametrize("kind", ["symlink", "fifo", "socket", "device link", "folder"])
def test_only_regular_files_are_read_and_at_once(layout, kind):
    root, outside = layout
    album = root / "album"
    target = album / "faces.csv"
    if kind == "symlink":
        target.symlink_to(outside / "secret.txt")
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(target))
        server.close()
    elif kind == "device link":
        target.symlink_to("/dev/zero")
    else:
        target.mkdir()
    result: list[BaseException] = []
    reader = threading.Thread(target=lambda: _capture(result, confined.read_file, target, 1 << 20), daemon=True)
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), f"reading a {kind} blocked"
    expected = "is a symbolic link" if "link" in kind else "not a regular file"
    assert isinstance(result[0], RefusedFile) and expected in str(result[0])
    assert str(target) in str(result[0])


def _capture(into: list, func, *args) -> None:
    try:
        into.append(func(*args))
    except BaseException as exc:  # noqa: BLE001 - the test looks at what came out
        into.append(exc)


def test_a_read_above_the_cap_is_refused(layout):
    root, _ = layout
    (root / "album" / "faces.csv").write_bytes(b"x" * 2049)
    assert confined.read_file(root / "album" / "faces.csv", 4096) == b"x" * 2049
    with pytest.raises(RefusedFile, match="larger than"):
        confined.read_file(root / "album" / "faces.csv", 2048)


def test_an_absent_file_reads_as_none(layout):
    root, _ = layout
    assert confined.read_file(root / "album" / "faces.csv", 10) is None


def test_atomic_write_replaces_a_planted_symlink_and_never_writes_through_it(layout):
    root, outside = layout
    (root / "album" / "faces.csv").symlink_to(outside / "secret.txt")
    write_atomic(root / "album" / "faces.csv", b"ours")
    assert (outside / "secret.txt").read_bytes() == b"secret"
    assert not (root / "album" / "faces.csv").is_symlink()
    assert (root / "album" / "faces.csv").read_bytes() == b"ours"


def test_exchange_over_a_planted_symlink_returns_nothing_of_it(layout):
    root, outside = layout
    (root / "album" / "faces.csv").symlink_to(outside / "secret.txt")
    assert exchange_atomic(root / "album" / "faces.csv", b"ours") is None
    assert (outside / "secret.txt").read_bytes() == b"secret"
    assert (root / "album" / "faces.csv").read_bytes() == b"ours"
    assert sorted(p.name for p in (root / "album").iterdir()) == ["faces.csv"]


def test_a_write_through_a_folder_swapped_for_a_symlink_is_refused(layout):
    root, outside = layout
    (root / "album").rename(root / "album-moved")
    (root / "album").symlink_to(outside)
    with pytest.raises(RefusedFile):
        write_atomic(root / "album" / "faces.csv", b"ours")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_an_open_folder_keeps_writing_where_it_was_opened_when_swapped_meanwhile(layout):
    root, outside = layout
    with confined.opened(root / "album") as folder:
        (root / "album").rename(root / "album-moved")
        (root / "album").symlink_to(outside)
        folder.write_atomic("faces.csv", b"ours")
    assert (root / "album-moved" / "faces.csv").read_bytes() == b"ours"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_a_temp_file_replaced_before_its_rename_is_not_renamed(layout):
    root, outside = layout
    with confined.opened(root / "album") as folder:
        written = folder.write_new(".t", b"ours")
        os.unlink(root / "album" / ".t")
        (root / "album" / ".t").symlink_to(outside / "secret.txt")
        with pytest.raises(RefusedFile, match="replaced"):
            folder.rename(".t", "faces.csv", expected=written)
    assert not (root / "album" / "faces.csv").exists()


def test_a_set_aside_copy_is_owner_only_whatever_the_folder_allows(layout):
    root, _ = layout
    (root / "album").chmod(0o777)
    with confined.opened(root / "album") as folder:
        first = folder.set_aside("faces.csv", b"bad", "20260101")
        second = folder.set_aside("faces.csv", b"worse", "20260101")
    assert (first, second) == ("faces.csv.bad-20260101", "faces.csv.bad-20260101-1")
    for name, data in ((first, b"bad"), (second, b"worse")):
        info = (root / "album" / name).stat()
        assert stat.S_IMODE(info.st_mode) == 0o600 and (root / "album" / name).read_bytes() == data


def test_names_that_are_not_plain_file_names_are_refused(layout):
    root, _ = layout
    with confined.opened(root / "album") as folder:
        for bad in ("", ".", "..", "a/b", "../x", "a\0b"):
            with pytest.raises(RefusedFile):
                folder.lstat(bad)


def test_report_once_logs_a_bad_item_once_per_process(caplog, tmp_path):
    path = tmp_path / "weird"
    assert confined.report_once(path, "is a FIFO")
    assert not confined.report_once(path, "is a FIFO")
    assert [r.getMessage() for r in caplog.records].count(f"{path}: is a FIFO") == 1


def test_proc_path_names_the_folder_that_was_opened(layout):
    root, outside = layout
    (root / "album" / "photo.jpg").write_bytes(b"jpeg")
    with confined.opened(root / "album") as folder:
        (root / "album").rename(root / "moved")
        (root / "album").symlink_to(outside)
        assert Path(folder.proc_path("photo.jpg")).read_bytes() == b"jpeg"
