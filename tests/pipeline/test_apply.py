"""pipeline.apply: detections into a folder's state — faces found again keep id and name, a failure
is never "no faces", regions already in the photo become names once, vanished photos leave."""

from __future__ import annotations

import numpy as np

from facesidecar.model import Box, Detection, Face, FolderState, FoundFace, ImportedRegion, PersonRegion, PhotoState
from facesidecar.pipeline.apply import apply_detection, merge_faces, remove_missing

MODEL = "m"


def found(x: float) -> FoundFace:
    return FoundFace(Box(x, 0.1, 0.2, 0.2), np.full(4, x, np.float32))


def detection(*faces: FoundFace, error: str = "", regions: tuple[ImportedRegion, ...] = ()) -> Detection:
    return Detection("a.jpg", 10, 20, "sha", error=error, faces=faces, width=100, height=50, regions=regions)


def test_a_face_found_again_keeps_its_id_and_name_and_a_lost_named_face_stays():
    named = Face(face_id="kept", box=Box(0.1, 0.1, 0.2, 0.2), name="Anna")
    elsewhere = Face(face_id="lost", box=Box(0.7, 0.1, 0.2, 0.2), name="Bea")
    unnamed = Face(face_id="gone", box=Box(0.4, 0.6, 0.2, 0.2))
    merged = merge_faces([named, elsewhere, unnamed], [found(0.11)], MODEL, {})
    assert [f.face_id for f in merged] == ["kept", "lost"]
    assert merged[0].name == "Anna" and merged[0].box == Box(0.11, 0.1, 0.2, 0.2)
    assert np.array_equal(merged[0].encodings[MODEL], np.full(4, 0.11, np.float32))


def test_a_failed_detection_keeps_the_faces_known_before():
    state = FolderState({"a.jpg": PhotoState(file="a.jpg", faces=[Face(face_id="f", box=Box(0, 0, 1, 1), name="Anna")])})
    assert apply_detection(state, detection(error="a.jpg: cannot decode"), MODEL, now=1.0) == []
    photo = state.photos["a.jpg"]
    assert photo.error == "a.jpg: cannot decode" and [f.name for f in photo.faces] == ["Anna"]


def test_regions_in_the_photo_name_faces_once():
    state = FolderState()
    anna = ImportedRegion(PersonRegion("Anna", Box(0.1, 0.1, 0.2, 0.2)), None)
    cleo = ImportedRegion(PersonRegion("Cleo", Box(0.6, 0.6, 0.2, 0.2)), np.ones(4, np.float32))
    changes = apply_detection(state, detection(found(0.1), regions=(anna, cleo)), MODEL, now=1.0)
    photo = state.photos["a.jpg"]
    assert sorted(c.new for c in changes) == ["Anna", "Cleo"] and photo.imported
    assert sorted((f.name, f.origin) for f in photo.faces) == [("Anna", "detected"), ("Cleo", "imported")]
    assert apply_detection(state, detection(found(0.1), regions=(anna, cleo)), MODEL, now=2.0) == []


def test_only_photos_gone_from_disk_are_removed(tmp_path):
    (tmp_path / "back.jpg").write_bytes(b"x")
    state = FolderState({n: PhotoState(file=n) for n in ("gone.jpg", "back.jpg")})
    removed = remove_missing(state, tmp_path, ["gone.jpg", "back.jpg"])
    assert list(removed) == ["gone.jpg"] and list(state.photos) == ["back.jpg"]
