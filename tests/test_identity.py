"""A photo replaced by another of the same size and mtime is noticed; names follow content (issue 13, rule 7)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from facesidecar.identity import check_identities
from facesidecar.model import PhotoState
from facesidecar.store.csvfile import parse_csv
from facesidecar.store.folder import FolderStore

from .hardening.helpers import cli, small_photo, write_config

GEORGE, COLIN = small_photo(0), small_photo(5)  # two different people


# -- the check itself ---------------------------------------------------------------------------------
def recorded(path: Path, content_of: Path | None = None) -> PhotoState:
    photo = PhotoState(file=path.name, sha256=hashlib.sha256((content_of or path).read_bytes()).hexdigest())
    photo.take_stat(os.stat(path))
    return photo


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_file_needs_nothing_and_an_unrecorded_identity_is_recorded_unread(tmp_path):
    same, legacy = tmp_path / "same.jpg", tmp_path / "legacy.jpg"
    same.write_bytes(b"one")
    legacy.write_bytes(b"two")
    known = {"same.jpg": recorded(same), "legacy.jpg": PhotoState(file="legacy.jpg", size=3)}
    on_disk = {name: os.stat(tmp_path / name) for name in known}

    def never(path: Path) -> str:
        raise AssertionError(f"{path} was read")

    check = check_identities(tmp_path, known, on_disk, (), never)
    assert check.replaced == [] and list(check.restat) == ["legacy.jpg"]


def test_new_inode_with_the_same_bytes_is_recorded_other_bytes_are_a_replacement(tmp_path):
    kept, swapped = tmp_path / "kept.jpg", tmp_path / "swapped.jpg"
    kept.write_bytes(b"same bytes")
    swapped.write_bytes(b"old bytes!")
    known = {"kept.jpg": recorded(kept), "swapped.jpg": recorded(swapped)}
    for path, data in ((kept, b"same bytes"), (swapped, b"new bytes!")):
        info = os.stat(path)
        path.with_suffix(".new").write_bytes(data)
        os.replace(path.with_suffix(".new"), path)  # another inode
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    on_disk = {name: os.stat(tmp_path / name) for name in known}
    assert all(known[n].same_file_as(i.st_size, i.st_mtime_ns) for n, i in on_disk.items()), "size and mtime alike"
    check = check_identities(tmp_path, known, on_disk, (), sha)
    assert check.replaced == ["swapped.jpg"] and list(check.restat) == ["kept.jpg"]
    assert check_identities(tmp_path, known, on_disk, ("swapped.jpg",), sha).replaced == [], "already to scan"


# -- through the real command ---------------------------------------------------------------------------
def same_size_copies(*sources: Path) -> list[bytes]:
    """The photos' bytes padded after their end to one size (JPEG readers ignore what follows)."""
    datas = [s.read_bytes() for s in sources]
    size = max(len(d) for d in datas) + 16
    return [d + b"\0" * (size - len(d)) for d in datas]


def put(path: Path, data: bytes, mtime_ns: int, *, in_place: bool) -> None:
    """Write ``data`` to ``path`` as a restore from a backup does, then set the old mtime back."""
    if in_place:
        with path.open("r+b") as handle:
            handle.write(data)
    else:
        path.with_name(".restore").write_bytes(data)
        os.replace(path.with_name(".restore"), path)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def names(folder: Path) -> dict[str, str]:
    return {r.file: r.name for r in parse_csv((folder / "faces.csv").read_bytes())}


def type_names(folder: Path, wanted: dict[str, str]) -> None:
    lines = (folder / "faces.csv").read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        cells = line.split(",")
        if cells[0] in wanted:
            cells[6] = wanted[cells[0]]
            lines[i] = ",".join(cells)
    (folder / "faces.csv").write_text("\n".join(lines), encoding="utf-8")


@pytest.fixture
def named(tmp_path, shared_faces) -> tuple[Path, Path, list[bytes], int]:
    """a.jpg (George) and b.jpg (Colin), one size and one mtime, scanned and named by a person; and
    the bytes of a third photo of that size."""
    folder = tmp_path / "photos" / "album"
    folder.mkdir(parents=True)
    george, colin, stranger = same_size_copies(GEORGE, COLIN, small_photo(1))
    mtime = 1_700_000_000_000_000_000
    for name, data in (("a.jpg", george), ("b.jpg", colin)):
        (folder / name).write_bytes(data)
        os.utime(folder / name, ns=(mtime, mtime))
    config = write_config(tmp_path / "config.toml", folder.parent, metadata=False)
    assert cli("scan", folder, config=config).returncode == 0
    type_names(folder, {"a.jpg": "George Named", "b.jpg": "Colin Named"})
    result = cli("scan", folder, config=config)
    assert result.returncode == 0 and names(folder) == {"a.jpg": "George Named", "b.jpg": "Colin Named"}
    return folder, config, [george, colin, stranger], mtime


def scanned_count(result) -> str:
    return (result.stdout + result.stderr).split(" scanned")[0].rsplit("(", 1)[-1]


@pytest.mark.parametrize("in_place", [False, True], ids=["renamed-over", "written-in-place"])
def test_photos_swapped_with_the_same_size_and_mtime_take_their_names_along(named, in_place):
    folder, config, (george, colin, _), mtime = named
    put(folder / "a.jpg", colin, mtime, in_place=in_place)
    put(folder / "b.jpg", george, mtime, in_place=in_place)
    result = cli("scan", folder, config=config)
    assert result.returncode == 0, result.stderr
    assert names(folder) == {"a.jpg": "Colin Named", "b.jpg": "George Named"}, "names follow content, not file names"
    state = FolderStore(folder).load()
    assert state.photos["a.jpg"].sha256 == hashlib.sha256(colin).hexdigest()


def test_a_photo_replaced_by_an_unknown_one_is_scanned_afresh_without_the_old_name(named, tmp_path):
    folder, config, (_, _, stranger), mtime = named
    put(folder / "a.jpg", stranger, mtime, in_place=False)
    result = cli("scan", folder, config=config)
    assert result.returncode == 0, result.stderr
    assert scanned_count(result) == "1"
    assert names(folder) == {"a.jpg": "", "b.jpg": "Colin Named"}
    assert FolderStore(folder).load().photos["a.jpg"].sha256 == hashlib.sha256(stranger).hexdigest()


def test_a_chmod_or_a_copy_of_the_same_bytes_is_no_rescan(named):
    folder, config, (george, _, _), mtime = named
    os.chmod(folder / "b.jpg", 0o600)
    shutil.copyfile(folder / "a.jpg", folder / ".copy")
    put(folder / "a.jpg", george, mtime, in_place=False)
    (folder / ".copy").unlink()
    result = cli("scan", folder, config=config)
    assert result.returncode == 0 and scanned_count(result) == "0"
    assert names(folder) == {"a.jpg": "George Named", "b.jpg": "Colin Named"}
    again = cli("scan", folder, config=config)
    assert scanned_count(again) == "0" and FolderStore(folder).load().photos["a.jpg"].inode == os.stat(folder / "a.jpg").st_ino
