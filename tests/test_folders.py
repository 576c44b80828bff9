"""folders: the photo folders below the roots and the photos in one, the tree taken as hostile input."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest

from facesidecar.config import RootSettings, Settings
from facesidecar.folders import NOFACES_MARKER, file_sha256, is_photo_name, list_folder, list_photos, walk_folders
from facesidecar.store.confined import RefusedFile

EXTENSIONS = (".jpg", ".png")


@pytest.fixture
def root(tmp_path) -> Path:
    """A root with nested albums, a hidden folder, an excluded one and one marked ``.nofaces``."""
    root = tmp_path / "photos"
    for folder in ("b", "a/inner", ".hidden", "@eaDir", "private"):
        (root / folder).mkdir(parents=True)
    (root / "private" / NOFACES_MARKER).touch()
    Settings(roots=[RootSettings(path=str(root))])  # confines every file access to the root
    return root


@pytest.mark.parametrize("name,photo", [
    ("IMG_1.JPG", True), ("holiday.jpg ", True), ("scan.png", True), ("notes.txt", False),
    (".IMG_1.jpg", False), ("faces.csv", False), ("faces.pkl", False), ("jpg", False),
])
def test_a_photo_is_known_by_its_extension_never_a_dotfile_or_a_sidecar(name, photo):
    assert is_photo_name(name, EXTENSIONS) is photo


def test_the_walk_is_depth_first_in_name_order_and_leaves_out_hidden_excluded_and_marked_folders(root):
    assert list(walk_folders([root], ["@eaDir"])) == [root, root / "a", root / "a" / "inner", root / "b"]


def test_a_linked_folder_is_reported_once_and_never_followed(root, tmp_path, caplog):
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "b" / "link").symlink_to(outside)
    (root / "b" / "loop").symlink_to(root)
    with caplog.at_level(logging.WARNING):
        folders = list(walk_folders([root], []))
        list(walk_folders([root], []))
    assert outside not in folders and all("link" not in p.name and "loop" not in p.name for p in folders)
    reports = [r.getMessage() for r in caplog.records if "symbolic link" in r.getMessage()]
    assert len(reports) == 2, reports  # one per link, not one per walk


def test_a_photo_path_walks_its_folder(root):
    photo = root / "b" / "1.jpg"
    photo.write_bytes(b"jpeg")
    assert list(walk_folders([photo], [])) == [root / "b"]


def test_the_listing_has_regular_photos_only_and_says_when_a_save_may_be_left_behind(root, caplog):
    album = root / "b"
    (album / "1.jpg").write_bytes(b"one")
    (album / "notes.txt").write_text("not a photo")
    (album / "alias.jpg").symlink_to(album / "1.jpg")
    os.mkfifo(album / "pipe.jpg")
    with caplog.at_level(logging.WARNING):
        listing = list_folder(album, EXTENSIONS)
    assert sorted(listing.photos) == ["1.jpg"] and listing.photos["1.jpg"].st_size == 3
    assert not listing.leftovers
    assert any("alias.jpg" in r.getMessage() for r in caplog.records)
    assert any("pipe.jpg" in r.getMessage() for r in caplog.records)
    (album / ".faces.csv.tmp-123-abc").write_text("a killed writer's temp file")
    assert list_folder(album, EXTENSIONS).leftovers
    assert sorted(list_photos(album, EXTENSIONS)) == ["1.jpg"]


def test_a_folder_that_is_a_link_is_refused_not_listed(root, tmp_path):
    (root / "linked").symlink_to(root / "b")
    with pytest.raises(RefusedFile):
        list_folder(root / "linked", EXTENSIONS)


def test_file_sha256_is_the_content_hash(root):
    photo = root / "b" / "1.jpg"
    photo.write_bytes(b"x" * (3 << 20))
    assert file_sha256(photo) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()
