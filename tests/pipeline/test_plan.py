"""pipeline.plan: what changed in a folder, which new photos are moved old ones, when a folder can be skipped."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from facesidecar.folders import file_sha256
from facesidecar.model import FolderPlan, PhotoState
from facesidecar.pipeline.plan import match_moves, needs_scan, unchanged

from ..photos import noise_picture


def stat_of(path: Path) -> os.stat_result:
    return path.stat()


def test_needs_scan_follows_size_mtime_and_model(tmp_path):
    photo = tmp_path / "a.jpg"
    noise_picture().save(photo)
    info = stat_of(photo)
    known = PhotoState(file="a.jpg", size=info.st_size, mtime_ns=info.st_mtime_ns, model="m")
    assert not needs_scan(known, info, "m")
    assert needs_scan(None, info, "m")
    assert needs_scan(known, info, "other")
    failed = PhotoState(file="a.jpg", size=info.st_size, mtime_ns=info.st_mtime_ns, error="broken")
    assert not needs_scan(failed, info, "other"), "a photo that failed is retried when it changes, not per model"
    os.utime(photo, ns=(info.st_atime_ns, info.st_mtime_ns + 1))
    assert needs_scan(known, stat_of(photo), "m")


def test_a_new_photo_with_a_vanished_photos_content_is_a_move(tmp_path):
    old_folder, new_folder = tmp_path / "old", tmp_path / "new"
    new_folder.mkdir()
    noise_picture(seed=3).save(new_folder / "renamed.jpg")
    gone = PhotoState(file="gone.jpg", sha256=file_sha256(new_folder / "renamed.jpg"))
    source = FolderPlan(old_folder, {}, {"gone.jpg": gone}, missing=("gone.jpg",))
    target = FolderPlan(new_folder, {"renamed.jpg": stat_of(new_folder / "renamed.jpg")}, {}, to_scan=("renamed.jpg",))
    plans, moved = match_moves([source, target])
    assert moved == 1
    assert plans[1].moved_in == {"renamed.jpg": (old_folder, "gone.jpg")} and plans[1].to_scan == ()
    assert plans[0] is source, "a plan without moves is handed on as it is"


def test_unchanged_only_when_faces_csv_is_what_we_wrote(tmp_path):
    (tmp_path / "faces.csv").write_bytes(b"file,face_nr\n")
    digest = hashlib.sha256(b"file,face_nr\n").hexdigest()
    assert unchanged(FolderPlan(tmp_path, {}, {}, csv_sha256=digest))
    assert not unchanged(FolderPlan(tmp_path, {}, {}, csv_sha256="edited since"))
    assert not unchanged(FolderPlan(tmp_path, {}, {}, to_scan=("a.jpg",), csv_sha256=digest))
    assert not unchanged(FolderPlan(tmp_path, {}, {}, csv_sha256=digest, leftovers=True))
