"""The suite's one stand-in for the face model: where faces are and who they are, as parameters.

A test that is not about detection wants faces it controls, found in milliseconds. The photo
factories (tests/photos.py, tests/dbhelpers.py) draw faces as solid squares side by side on a plain
background; this engine finds them and tells people apart by colour. Tests about where a box lands
give it fixed ``boxes``; tests about which photos are decoded wrap the real engine (``inner``) to
count its detections. The ``fake_engine`` fixture of tests/conftest.py builds it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facesidecar.engines.base import FaceEngine, PixelBox
from facesidecar.model import Box

COLOUR_MODEL = "fake_colour"
"""The model name of the squares' vectors (stored with every encoding, as a real model's name is)."""
SCALE = 100.0
"""A square's vector is its mean colour / SCALE: colours that differ by a few units are one person
(distance < 0.6), colours far apart are different people."""
TOLERANCE = 30
"""How far (sum over R, G, B) a pixel must differ from the background to be part of a face at all
(JPEG noise in the background stays below it); a square's edge is where it is half-way between its
colour and the background, so a JPEG's blurred edges give the square's exact box."""


class FakeEngine(FaceEngine):
    """Faces found and encoded by rules a test can see (see the module docstring).

    - default: every square that differs from the photo's corner colour (the background) is a face;
      its vector is its mean colour / ``scale``, so similar colours are the same person;
    - ``boxes``: the same faces in every photo: a ``Box`` is a fraction of the image, a ``PixelBox``
      pixels of the image handed over; the vector is where the face is (its edges as tenths of the
      image), so the face in the same place of two photos is the same person;
    - ``inner``: the real engine's faces and vectors.

    ``detections`` counts the images it was asked to look at; ``encoded`` lists every box it encoded.
    """

    metric = "euclidean"

    def __init__(self, *, boxes: Sequence[Box | PixelBox] | None = None, inner: FaceEngine | None = None,
                 model_name: str | None = None, scale: float = SCALE, threshold: float = 0.6) -> None:
        self.scale, self.threshold = scale, threshold
        self.boxes = None if boxes is None else list(boxes)
        self.inner = inner
        self.model_name = model_name or (inner.model_name if inner else COLOUR_MODEL)
        self.detector_name = "fake"
        if inner is not None:
            self.metric, self.threshold = inner.metric, inner.threshold
            self.detector_window, self.max_enlarge = inner.detector_window, inner.max_enlarge
        self.detections = 0
        self.encoded: list[PixelBox] = []

    def vector_of(self, colour: tuple[int, int, int]) -> np.ndarray:
        """The vector of a square drawn in ``colour`` (what the mirror and the sidecars must hold)."""
        return np.asarray(colour, np.float32) / self.scale

    def detect(self, image: np.ndarray) -> list[PixelBox]:
        self.detections += 1
        if self.inner is not None:
            return self.inner.detect(image)
        if self.boxes is not None:
            return [self._pixels(box, image) for box in self.boxes]
        return squares(image)

    def detect_view(self, image: np.ndarray) -> list[PixelBox]:
        if self.inner is None:
            return self.detect(image)
        self.detections += 1
        return self.inner.detect_view(image)

    def encode(self, image: np.ndarray, boxes: list[PixelBox]) -> list[np.ndarray]:
        self.encoded.extend(boxes)
        if self.inner is not None:
            return self.inner.encode(image, boxes)
        if self.boxes is not None:
            height, width = image.shape[:2]
            return [np.array([b.left / width, b.top / height, b.right / width, b.bottom / height], np.float32) * 10
                    for b in boxes]
        return [image[b.top:b.bottom, b.left:b.right].reshape(-1, 3).mean(axis=0).astype(np.float32) / self.scale
                for b in boxes]

    def encode_with_landmarks(self, image: np.ndarray, boxes: list[PixelBox]) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        if self.inner is None:
            return super().encode_with_landmarks(image, boxes)
        self.encoded.extend(boxes)
        return self.inner.encode_with_landmarks(image, boxes)

    def distances(self, gallery: np.ndarray, probes: np.ndarray) -> np.ndarray:
        return self.inner.distances(gallery, probes) if self.inner is not None else super().distances(gallery, probes)

    @staticmethod
    def _pixels(box: Box | PixelBox, image: np.ndarray) -> PixelBox:
        if isinstance(box, PixelBox):
            return box
        height, width = image.shape[:2]
        return PixelBox(round(box.x * width), round(box.y * height), round((box.x + box.w) * width),
                         round((box.y + box.h) * height))


def squares(image: np.ndarray) -> list[PixelBox]:
    """The squares side by side in ``image`` that differ from its top-left pixel (the background)."""
    background = image[0, 0].astype(np.int16)
    difference = np.abs(image.astype(np.int16) - background).sum(axis=2)
    columns = np.flatnonzero((difference > TOLERANCE).any(axis=0))
    boxes = []
    for run in np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1) if columns.size else []:
        patch = difference[:, run[0]:run[-1] + 1]
        inside = patch > patch.max() / 2
        rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
        boxes.append(PixelBox(int(run[0] + cols[0]), int(rows[0]), int(run[0] + cols[-1]) + 1, int(rows[-1]) + 1))
    return boxes


__all__ = ["COLOUR_MODEL", "FakeEngine", "SCALE", "squares"]
