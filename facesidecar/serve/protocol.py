"""The external-model protocol of Nextcloud's Face Recognition app (its model 5), over our engine.

What the app sends and expects (``lib/Model/ExternalModel/ExternalModel.php`` of
matiasdelellis/facerecognition, and the reference service matiasdelellis/facerecognition-external-model):

* ``GET /open`` -> ``{"preferred_mimetype", "maximum_area"}``; the app then scales every photo to
  ``maximum_area`` pixels (after fixing its orientation) and uploads it as JPEG.
* ``POST /detect`` (multipart ``file``) -> ``{"filename", "faces-count", "faces": [{"detection_confidence",
  "left", "top", "right", "bottom", "landmarks": [{"x", "y"}…], "descriptor": [128 floats]}]}``.
* ``POST /compute`` (multipart ``file`` + ``face``, a JSON rectangle) -> ``{"filename", "face": {…the
  rectangle…, "landmarks", "descriptor"}}``.

Rectangles are dlib's: pixels of the uploaded image, ``right`` and ``bottom`` inclusive. So a
rectangle returned by /detect and sent back to /compute gives the same descriptor. The dlib
engine's descriptors are those of Nextcloud's own dlib models (ResNet, 5-point alignment; same
128-d space, Euclidean threshold about 0.6). Detection uses the scan's engine settings
(``engine.detector``, ``engine.upsample``, ``engine.min_face_size``).
"""

from __future__ import annotations

import json
import math
import threading

import numpy as np

from .. import __version__
from ..engines import DLIB_MODEL
from ..engines.base import FaceEngine, PixelBox
from ..imaging import DecodedPhoto
from .errors import ServeError

PREFERRED_MIMETYPE = "image/jpeg"
WELCOME = "welcome"
DETECTION_CONFIDENCE = 1.0
"""Reported for every face: the detectors used here give no calibrated score (the reference service
reports a constant too), and the app keeps faces whose confidence reaches its minimum (0.99)."""
NEXTCLOUD_MODEL_IDS = {"hog": 3, "cnn": 1}
"""The app's own dlib model of the same detector (3 = DlibHogModel, 1 = DlibCnn5Model), as /welcome's
``model`` of the reference service; engines without such a twin report their model name."""
RECTANGLE_KEYS = ("left", "top", "right", "bottom")


class ExternalModel:
    """The protocol's answers for one engine; the engine's own lock serialises its calls."""

    def __init__(self, engine: FaceEngine, maximum_area: int, min_face_size: int):
        self.engine = engine
        self.maximum_area = maximum_area
        self.min_face_size = min_face_size
        self._ready = False
        self._lock = threading.Lock()

    def open(self) -> dict:
        """Load the engine (the first call takes a moment) and say what to send."""
        self.load()
        return {"preferred_mimetype": PREFERRED_MIMETYPE, "maximum_area": self.maximum_area}

    def load(self) -> None:
        """Run the engine once on a blank image so that its models are read before the first photo."""
        with self._lock:
            if not self._ready:
                self.engine.detect(np.zeros((32, 32, 3), np.uint8))
                self._ready = True

    def welcome(self) -> dict:
        answer = {"facerecognition-external-model": WELCOME, "version": __version__}
        if not self._ready:
            answer["facerecognition-external-model"] = "the face engine is not loaded yet; GET /open loads it"
            return answer
        model = self.engine.model_name
        answer["model"] = NEXTCLOUD_MODEL_IDS.get(self.engine.detector_name, model) if model == DLIB_MODEL else model
        answer["engine"] = self.engine.describe()
        return answer

    def detect(self, photo: DecodedPhoto, filename: str) -> dict:
        """Every face of ``photo`` (decoded at full size), left to right, with landmarks and descriptor."""
        self.load()
        boxes = sorted((b for b in self.engine.detect(photo.rgb) if b.width >= self.min_face_size),
                       key=lambda b: (b.left, b.top))
        faces = [{"detection_confidence": DETECTION_CONFIDENCE, **_rectangle(box), **described}
                 for box, described in zip(boxes, self._describe(photo, boxes), strict=True)]
        return {"filename": filename, "faces-count": len(faces), "faces": faces}

    def compute(self, photo: DecodedPhoto, filename: str, face_field: str | None) -> dict:
        """Landmarks and descriptor of the rectangle in ``face_field`` (JSON), echoed back with them."""
        self.load()
        height, width = photo.rgb.shape[:2]
        face, box = parse_rectangle(face_field, width, height)
        (described,) = self._describe(photo, [box])
        return {"filename": filename, "face": {**face, **described}}

    def _describe(self, photo: DecodedPhoto, boxes: list[PixelBox]) -> list[dict]:
        """Landmarks and descriptor per box. Each box is encoded on its own: dlib's batched encoding
        differs from the single one by up to ~0.004, and /compute of a rectangle must give back what
        /detect gave for it."""
        described = []
        for box in boxes:
            (vector,), (marks,) = self.engine.encode_with_landmarks(photo.rgb, [box])
            described.append({"landmarks": [] if marks is None else [{"x": int(x), "y": int(y)} for x, y in marks],
                              "descriptor": [float(v) for v in vector]})
        return described


def _rectangle(box: PixelBox) -> dict:
    """dlib's rectangle of ``box``: right and bottom are the last pixel inside the face."""
    return {"left": box.left, "top": box.top, "right": box.right - 1, "bottom": box.bottom - 1}


def parse_rectangle(raw: str | None, width: int, height: int) -> tuple[dict, PixelBox]:
    """The ``face`` field: a JSON object with numbers left/top/right/bottom (dlib's, inclusive).

    Returns the object (to echo back, coordinates as whole pixels) and the box clipped to the
    image; a missing, malformed or empty rectangle is a 400 that says which.
    """
    if not raw:
        raise ServeError(400, "no face: send the rectangle as the multipart field 'face', JSON like "
                              '{"left": 10, "top": 20, "right": 110, "bottom": 120}')
    try:
        face = json.loads(raw)
    except (ValueError, RecursionError):
        raise ServeError(400, "the field 'face' is not JSON") from None
    if not isinstance(face, dict):
        raise ServeError(400, "the field 'face' must be a JSON object with left, top, right and bottom")
    values = [face.get(k) for k in RECTANGLE_KEYS]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise ServeError(400, "the field 'face' needs left, top, right and bottom as numbers (pixels)")
    left, top, right, bottom = (int(round(v)) for v in values)
    if right < left or bottom < top:
        raise ServeError(400, "the face rectangle is upside down: right must not be left of left, "
                              "nor bottom above top")
    box = PixelBox(max(left, 0), max(top, 0), min(right + 1, width), min(bottom + 1, height))
    if box.width <= 0 or box.height <= 0:
        raise ServeError(400, f"the face rectangle lies outside the {width}x{height} image")
    face.update(left=left, top=top, right=right, bottom=bottom)
    return face, box


__all__ = ["ExternalModel", "parse_rectangle", "PREFERRED_MIMETYPE"]
