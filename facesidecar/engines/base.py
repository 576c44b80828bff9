"""The engine interface: detect -> pixel boxes, encode -> vectors, compare with a threshold.

Engines are adapters around heavy libraries (dlib, deepface). They are imported lazily by
``engines.get_engine`` so that commands such as ``status`` and ``doctor`` work without them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PixelBox:
    """A face box in pixels of the image array handed to the engine (right/bottom exclusive)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


def pairwise_distances(metric: str, gallery: np.ndarray, probes: np.ndarray) -> np.ndarray:
    """Distances between every probe (rows) and every gallery vector (columns).

    ``euclidean`` is dlib's metric; ``cosine`` and ``euclidean_l2`` are deepface's others.
    """
    gallery = np.atleast_2d(np.asarray(gallery, dtype=np.float32))
    probes = np.atleast_2d(np.asarray(probes, dtype=np.float32))
    if metric in ("cosine", "euclidean_l2"):
        gallery = gallery / np.maximum(np.linalg.norm(gallery, axis=1, keepdims=True), 1e-12)
        probes = probes / np.maximum(np.linalg.norm(probes, axis=1, keepdims=True), 1e-12)
        if metric == "cosine":
            return 1.0 - probes @ gallery.T
    squared = (
        np.sum(probes * probes, axis=1)[:, None]
        + np.sum(gallery * gallery, axis=1)[None, :]
        - 2.0 * (probes @ gallery.T)
    )
    return np.sqrt(np.maximum(squared, 0.0))


class FaceEngine(ABC):
    """Finds faces in an RGB image and turns each into a vector.

    Subclasses set ``model_name`` (stored with every encoding, so encodings of different models
    are never compared), ``metric`` and ``threshold`` (two faces closer than it are the same
    person).
    """

    model_name: str = ""
    detector_name: str = ""
    metric: str = "euclidean"
    threshold: float = 0.6
    detector_window: int = 0
    """The smallest face (pixels of the image handed to ``detect_view``) the detector finds; 0 when
    unknown: the engine then sees every photo as decoded (see ``faces.detection_scale``)."""
    max_enlarge: float = 1.0
    """How much a small photo may be enlarged for the detector (dlib: ``2 ** engine.upsample``)."""

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[PixelBox]:
        """Boxes of the faces in ``image`` (H x W x 3, uint8 RGB)."""

    def detect_view(self, image: np.ndarray) -> list[PixelBox]:
        """Boxes of the faces in an image already scaled for the faces to find (no enlargement of its own)."""
        return self.detect(image)

    @abstractmethod
    def encode(self, image: np.ndarray, boxes: list[PixelBox]) -> list[np.ndarray]:
        """One vector per box, in the same order."""

    def encode_with_landmarks(self, image: np.ndarray, boxes: list[PixelBox]) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """``encode`` plus the 5 landmarks (two corners of each eye, the nose; pixels of ``image``)
        the engine aligned each face with, for its quality (see quality.py); None where it has none."""
        return self.encode(image, boxes), [None] * len(boxes)

    def distances(self, gallery: np.ndarray, probes: np.ndarray) -> np.ndarray:
        return pairwise_distances(self.metric, gallery, probes)

    def describe(self) -> str:
        return f"{self.model_name} ({self.detector_name} detector, {self.metric} < {self.threshold})"
