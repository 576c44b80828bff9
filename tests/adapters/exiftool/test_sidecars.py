"""Which file holds a RAW photo's names: existing sidecars first, then the configured convention."""

from __future__ import annotations

import os

import pytest

from facesidecar.adapters.exiftool.sidecars import existing_sidecars, new_sidecar, role, targets_for
from facesidecar.errors import MetadataError


def touch(path):
    path.write_bytes(b"x")
    return path


def test_a_photo_is_its_own_target(tmp_path):
    assert targets_for(tmp_path / "a.jpg", "auto") == [tmp_path / "a.jpg"]


def test_every_existing_sidecar_is_a_target(tmp_path):
    raw = touch(tmp_path / "IMG_1.CR2")
    assert targets_for(raw, "auto") == [tmp_path / "IMG_1.CR2.xmp"]  # none yet: the one to create
    touch(tmp_path / "IMG_1.xmp")
    assert targets_for(raw, "IMG_1.CR2.xmp") == [tmp_path / "IMG_1.xmp"]  # the existing one wins
    touch(tmp_path / "IMG_1.CR2.xmp")
    assert targets_for(raw, "auto") == [tmp_path / "IMG_1.CR2.xmp", tmp_path / "IMG_1.xmp"]


def test_symlinks_and_folders_are_not_sidecars(tmp_path):
    raw = touch(tmp_path / "IMG_1.NEF")
    (tmp_path / "IMG_1.NEF.xmp").symlink_to("/etc/passwd")
    (tmp_path / "IMG_1.xmp").mkdir()
    assert existing_sidecars(raw) == []


def test_a_sidecar_name_taken_by_a_symlink_is_never_written_through(tmp_path):
    raw = touch(tmp_path / "IMG_1.NEF")
    (tmp_path / "IMG_1.NEF.xmp").symlink_to("/etc/passwd")
    assert targets_for(raw, "IMG_1.CR2.xmp") == [tmp_path / "IMG_1.xmp"]
    (tmp_path / "IMG_1.xmp").mkdir()
    with pytest.raises(MetadataError, match="IMG_1.NEF: its sidecar names .* are taken"):
        targets_for(raw, "auto")


def test_upper_case_sidecar_is_found_once(tmp_path):
    raw = touch(tmp_path / "IMG_1.CR2")
    touch(tmp_path / "IMG_1.XMP")
    os.link(tmp_path / "IMG_1.XMP", tmp_path / "IMG_1.xmp")  # what a case-insensitive share shows
    assert existing_sidecars(raw) == [tmp_path / "IMG_1.xmp"]


@pytest.mark.parametrize(("names", "expected"), [
    ([], "IMG_1.CR2.xmp"),
    (["IMG_2.CR2", "IMG_2.xmp"], "IMG_1.xmp"),  # the folder is Lightroom's
    (["IMG_2.CR2", "IMG_2.CR2.xmp", "IMG_3.CR2", "IMG_3.CR2.xmp", "IMG_4.CR2", "IMG_4.xmp"], "IMG_1.CR2.xmp"),
    (["IMG_2.CR2", "IMG_2.xmp", "IMG_1.JPG"], "IMG_1.CR2.xmp"),  # RAW+JPEG: IMG_1.xmp would be the JPEG's too
])
def test_auto_follows_the_folder(tmp_path, names, expected):
    raw = tmp_path / "IMG_1.CR2"
    assert new_sidecar(raw, "auto", ["IMG_1.CR2", *names]).name == expected
    assert new_sidecar(raw, "IMG_1.xmp", names).name == "IMG_1.xmp"
    assert new_sidecar(raw, "IMG_1.CR2.xmp", names).name == "IMG_1.CR2.xmp"


def test_roles_survive_renames(tmp_path):
    raw = tmp_path / "DSC_7.nef"
    assert role(raw, raw) == "photo"
    assert role(tmp_path / "DSC_7.nef.xmp", raw) == "IMG_1.CR2.xmp"
    assert role(tmp_path / "DSC_7.xmp", raw) == "IMG_1.xmp"
