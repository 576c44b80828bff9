"""The detect stage's engine glue: faces found and encoded in a decoded photo, as boxes stored in
fractions of the displayed photo.

Engines work in pixels of the (possibly reduced) image they are handed; faces.csv and faces.pkl
store fractions of the photo as displayed. Converting here, in one place, keeps boxes identical
whatever size the photo was decoded at. The stage itself (a pure function of the photo's bytes and
the engine settings, run inline, in worker processes or on a Dask cluster) is
:mod:`facesidecar.photojob`; :mod:`facesidecar.detection` streams a pass's photos through it and
turns each result into a :class:`~facesidecar.model.Detection`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from ..engines.base import FaceEngine, PixelBox
from ..imaging import DecodedPhoto
from ..model import Box, Detection, FoundFace, PersonRegion
from ..store import confined

log = logging.getLogger(__name__)

IMPORT_IOU = 0.3
"""A region in the photo's metadata names the detected face it overlaps at least this much."""

PeopleReader = Callable[[Path, int, tuple[int, int]], list[PersonRegion]]
"""Reads the named regions other tools wrote into a photo (``MetadataWriter.read_people``)."""


def changed_meanwhile(path: Path, detection: Detection) -> bool:
    """Whether the photo changed (or went) while it was decoded: its detection is then stale."""
    now = confined.lstat(path)
    if now is None:
        return True
    return (now.st_size, now.st_mtime_ns) != (detection.size, detection.mtime_ns)


def find_faces(engine: FaceEngine, photo: DecodedPhoto, min_face_size: int, smallest_face: float = 0.0) -> list[FoundFace]:
    """Detect and encode the faces of ``photo``, left to right.

    ``min_face_size`` is in pixels of the *full-resolution* photo, so the setting means the same
    thing whatever ``engine.max_image_pixels`` the photo was decoded at. ``smallest_face``
    (``engine.smallest_face``) chooses the resolution the detector runs at; encodings are always
    made from the decoded photo.
    """
    height, width = photo.rgb.shape[:2]
    scale = photo.displayed_width / width
    boxes = [b for b in _detect(engine, photo.rgb, smallest_face) if b.width * scale >= min_face_size]
    encodings = engine.encode(photo.rgb, boxes)
    faces = [FoundFace(pixels_to_box(b, width, height), e) for b, e in zip(boxes, encodings, strict=True)]
    return sorted(faces, key=lambda f: (f.box.x, f.box.y))


def detection_scale(engine: FaceEngine, width: int, height: int, smallest_face: float) -> float | None:
    """How much to resize a ``width`` x ``height`` photo so that a face ``smallest_face`` of its
    shorter side fills the detector's window; None to hand the engine the photo as it is.

    Detection time grows with the pixels the detector scans. A 24 MP camera photo decoded to 4 MP
    and enlarged twice by dlib (``engine.upsample = 1``) meant 16 MP of scanning for faces that a
    3-4 MP view finds as well; a 500 x 375 group photo still gets its 2x enlargement.
    """
    window = getattr(engine, "detector_window", 0)  # engines wrapped by tests may not say
    if smallest_face <= 0 or not window:
        return None
    return min(engine.max_enlarge, window / (smallest_face * min(width, height)))


def _detect(engine: FaceEngine, rgb: np.ndarray, smallest_face: float) -> list[PixelBox]:
    """The engine's boxes in pixels of ``rgb``, found in a view scaled by :func:`detection_scale`."""
    height, width = rgb.shape[:2]
    scale = detection_scale(engine, width, height, smallest_face)
    if scale is None:
        return engine.detect(rgb)
    if abs(scale - 1.0) < 0.02:
        return engine.detect_view(rgb)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    view = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))
    sx, sy = width / size[0], height / size[1]
    return [PixelBox(min(round(b.left * sx), width), min(round(b.top * sy), height),
                     min(round(b.right * sx), width), min(round(b.bottom * sy), height))
            for b in engine.detect_view(view)]


def encode_boxes(engine: FaceEngine, photo: DecodedPhoto, boxes: list[Box]) -> list[np.ndarray]:
    """Encodings for known boxes, in order: regions imported from metadata, or a second model.

    Going through the boxes (not a new detection) keeps one face the same face for every model.
    """
    height, width = photo.rgb.shape[:2]
    return engine.encode(photo.rgb, [box_to_pixels(b, width, height) for b in boxes])


def box_to_pixels(box: Box, width: int, height: int) -> PixelBox:
    """``box`` in pixels of a ``width`` x ``height`` image, clipped to it and at least 1 pixel."""
    left = min(max(round(box.x * width), 0), width - 1)
    top = min(max(round(box.y * height), 0), height - 1)
    right = min(max(round((box.x + box.w) * width), left + 1), width)
    bottom = min(max(round((box.y + box.h) * height), top + 1), height)
    return PixelBox(left, top, right, bottom)


def pixels_to_box(pb: PixelBox, width: int, height: int) -> Box:
    """``pb`` as fractions (0..1) of a ``width`` x ``height`` image, clipped to it."""
    left, right = (min(max(v / width, 0.0), 1.0) for v in (pb.left, pb.right))
    top, bottom = (min(max(v / height, 0.0), 1.0) for v in (pb.top, pb.bottom))
    return Box(left, top, max(right - left, 0.0), max(bottom - top, 0.0))


__all__ = ["IMPORT_IOU", "PeopleReader", "box_to_pixels", "changed_meanwhile", "detection_scale", "encode_boxes",
           "find_faces", "pixels_to_box"]
