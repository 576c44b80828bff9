"""pipeline.detect (the detector glue): boxes as fractions of the displayed photo, whatever size and orientation it was decoded at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesidecar.config import EngineSettings
from facesidecar.engines.base import PixelBox
from facesidecar.imaging import DecodedPhoto, decode_photo
from facesidecar.model import Box, FoundFace
from facesidecar.pipeline.detect import box_to_pixels, detection_scale, encode_boxes, find_faces, pixels_to_box

from ..conftest import TEST_DATA
from ..fake_engine import FakeEngine
from ..test_imaging import save_oriented

LIMIT = 200_000_000


def photo_of(width: int, height: int, displayed_width: int, displayed_height: int) -> DecodedPhoto:
    """A decoded photo reduced to ``width`` x ``height`` from a larger displayed size."""
    return DecodedPhoto(np.zeros((height, width, 3), np.uint8), displayed_width, displayed_height, 1, displayed_width, displayed_height)


def assert_same_boxes(expected: list[FoundFace], actual: list[FoundFace], tolerance: float = 0.02) -> None:
    assert len(actual) == len(expected)
    for want, got in zip(expected, actual, strict=True):
        assert np.allclose(want.box.to_plain(), got.box.to_plain(), atol=tolerance), (want.box, got.box)


class TestConversions:
    def test_round_trip(self):
        pb = PixelBox(10, 20, 60, 90)
        box = pixels_to_box(pb, 200, 100)
        assert box == Box(0.05, 0.2, 0.25, 0.7)
        assert box_to_pixels(box, 200, 100) == pb

    def test_to_another_size(self):
        assert box_to_pixels(Box(0.25, 0.5, 0.5, 0.25), 400, 200) == PixelBox(100, 100, 300, 150)

    def test_clipped_to_the_image(self):
        assert box_to_pixels(Box(-0.1, 0.9, 0.3, 0.3), 100, 100) == PixelBox(0, 90, 20, 100)
        assert pixels_to_box(PixelBox(-10, 90, 20, 130), 100, 100).to_plain() == pytest.approx([0.0, 0.9, 0.2, 0.1])

    def test_degenerate_box_keeps_one_pixel(self):
        assert box_to_pixels(Box(1.2, 0.5, 0.0, 0.0), 100, 100) == PixelBox(99, 50, 100, 51)


class TestFindFacesWithFakeEngine:
    def test_sorted_left_to_right(self):
        engine = FakeEngine(boxes=[PixelBox(60, 10, 80, 30), PixelBox(5, 50, 25, 70), PixelBox(30, 0, 50, 20)])
        faces = find_faces(engine, photo_of(100, 100, 100, 100), min_face_size=0)
        assert [f.box.x for f in faces] == [0.05, 0.3, 0.6]
        assert [f.encoding[0] for f in faces] == pytest.approx([0.5, 3, 6]), "each face keeps its own encoding"

    def test_min_face_size_counts_full_resolution_pixels(self):
        """A 30-pixel face in a photo decoded at half size is 60 pixels wide in the photo."""
        engine = FakeEngine(boxes=[PixelBox(0, 0, 30, 30), PixelBox(50, 0, 70, 20)])
        faces = find_faces(engine, photo_of(100, 100, 200, 200), min_face_size=50)
        assert [f.box for f in faces] == [Box(0.0, 0.0, 0.3, 0.3)]
        assert engine.encoded == [PixelBox(0, 0, 30, 30)], "small faces are not even encoded"

    def test_encode_boxes_uses_pixels_of_the_decoded_image(self):
        engine = FakeEngine(boxes=[])
        vectors = encode_boxes(engine, photo_of(100, 50, 4000, 2000), [Box(0.5, 0.5, 0.25, 0.5), Box(0, 0, 0.1, 0.1)])
        assert engine.encoded == [PixelBox(50, 25, 75, 50), PixelBox(0, 0, 10, 5)] and len(vectors) == 2

    def test_no_faces(self):
        assert find_faces(FakeEngine(boxes=[]), photo_of(10, 10, 10, 10), 20) == []


@pytest.fixture(scope="module")
def engine():
    pytest.importorskip("dlib")
    from facesidecar.engines.dlib_engine import DlibEngine

    return DlibEngine(EngineSettings())


def decode(path: Path, max_pixels: int = 4_000_000) -> DecodedPhoto:
    return decode_photo(path, max_pixels, LIMIT)


class TestWithDlib:
    def test_group_photo(self, engine):
        faces = find_faces(engine, decode(TEST_DATA / "group13.jpg"), min_face_size=20)
        assert len(faces) == 7
        assert [f.box.x for f in faces] == sorted(f.box.x for f in faces)
        assert all(0 <= f.box.x and f.box.x + f.box.w <= 1 and 0 <= f.box.y and f.box.y + f.box.h <= 1 for f in faces)

    def test_min_face_size_drops_small_faces(self, engine):
        photo = decode(TEST_DATA / "group13.jpg")
        all_faces = find_faces(engine, photo, min_face_size=0)
        large = find_faces(engine, photo, min_face_size=42)
        assert 0 < len(large) < len(all_faces)
        assert all(f.box.w * photo.displayed_width >= 42 for f in large)

    @pytest.mark.parametrize("orientation", range(2, 9))
    def test_same_displayed_boxes_in_every_orientation(self, engine, tmp_path, orientation):
        upright = decode(TEST_DATA / "group16.jpg")
        expected = find_faces(engine, upright, min_face_size=20)
        picture = Image.fromarray(upright.rgb)
        photo = decode(save_oriented(picture, orientation, tmp_path / "turned.jpg", quality=95))
        assert photo.orientation == orientation
        assert photo.rgb.shape == upright.rgb.shape
        assert_same_boxes(expected, find_faces(engine, photo, min_face_size=20))

    def test_draft_reduced_decode_gives_the_same_boxes(self, engine, tmp_path):
        """Decoded at half size by the JPEG decoder itself (draft), the faces stay where they were."""
        path = tmp_path / "large.jpg"
        Image.open(TEST_DATA / "group16.jpg").resize((2000, 1500), Image.Resampling.LANCZOS).save(path, quality=92)
        full = decode(path)
        reduced = decode(path, max_pixels=750_000)
        assert full.rgb.shape == (1500, 2000, 3)
        assert reduced.rgb.shape == (750, 1000, 3)
        assert (reduced.displayed_width, reduced.displayed_height) == (2000, 1500)
        assert_same_boxes(find_faces(engine, full, 20), find_faces(engine, reduced, 20))

    def test_encode_boxes_matches_the_detected_encodings(self, engine):
        photo = decode(TEST_DATA / "group16.jpg")
        faces = find_faces(engine, photo, min_face_size=20)
        again = encode_boxes(engine, photo, [f.box.rounded() for f in faces])
        distances = [float(np.linalg.norm(f.encoding - v)) for f, v in zip(faces, again, strict=True)]
        assert max(distances) < 0.05, "a box read back from faces.csv (4 decimals) is the same face"


class TestDetectionScale:
    """The detector looks at each photo at the size where the smallest wanted face fills its window."""

    def test_engines_without_a_window_see_the_decoded_photo(self):
        assert detection_scale(FakeEngine(boxes=[]), 4000, 3000, 0.05) is None

    def test_camera_photo_is_scanned_smaller_and_a_small_one_enlarged(self, engine):
        assert detection_scale(engine, 2449, 1632, 0.05) == pytest.approx(80 / (0.05 * 1632))
        assert detection_scale(engine, 500, 375, 0.05) == 2.0  # 2 ** engine.upsample at most
        assert detection_scale(engine, 500, 375, 0.0) is None

    def test_boxes_come_back_in_pixels_of_the_decoded_photo(self, engine):
        """Found in a view enlarged twice, a face is where the detector finds it at the decoded size."""
        photo = decode(TEST_DATA / "group16.jpg")
        height = photo.rgb.shape[0]
        as_decoded = find_faces(engine, photo, 20, smallest_face=80 / height)
        enlarged = find_faces(engine, photo, 20, smallest_face=40 / height)
        assert detection_scale(engine, photo.rgb.shape[1], height, 80 / height) == 1.0
        assert len(as_decoded) == len(enlarged) == 3
        assert all(a.box.iou(b.box) > 0.7 for a, b in zip(as_decoded, enlarged, strict=True))


@pytest.mark.slow
def test_group_faces_found_stay_at_least_at_the_count_before_scaled_detection(engine, shared_faces):
    """issue 18: speed must not cost detection. Before: every photo decoded to 4 MP and scanned by dlib
    at twice that size (engine.upsample = 1, smallest_face = 0); after: the default smallest_face."""
    import csv

    with open(shared_faces / "labels.csv", newline="") as handle:
        groups = [shared_faces / r["file"] for r in csv.DictReader(handle) if r["category"] == "group"]
    photos = [decode(path) for path in groups]
    before = sum(len(find_faces(engine, photo, 20, smallest_face=0.0)) for photo in photos)
    after = sum(len(find_faces(engine, photo, 20, smallest_face=EngineSettings().smallest_face)) for photo in photos)
    assert len(groups) == 20 and before >= 90
    assert after >= before
