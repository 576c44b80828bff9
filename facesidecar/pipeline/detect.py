"""The detect stage: decode one photo, detect and encode its faces (a pure function of the photo's
bytes and the engine settings), and the engine-independent glue between pixels and stored boxes.

Engines work in pixels of the (possibly reduced) image they are handed; faces.csv and faces.pkl
store fractions of the photo as displayed. Converting here, in one place, keeps boxes identical
whatever size the photo was decoded at.

The stage touches nothing but the photo (and, through the callables it is given, the metadata
reader): its :class:`~facesidecar.model.Detection` can be made in a worker process and applied to
the folder's state later (:mod:`facesidecar.pipeline.apply`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import EngineSettings
from ..engines.base import FaceEngine, PixelBox
from ..errors import EngineError, ImageError, MetadataError
from ..folders import file_sha256
from ..imaging import DecodedPhoto, decode_photo
from ..model import Box, Detection, Face, FoundFace, ImportedRegion, PersonRegion, best_overlap
from ..store import confined
from ..store.confined import RefusedFile
from .inflight import DEATHS_ALLOWED, DecodeMarks, killed_error

log = logging.getLogger(__name__)

IMPORT_IOU = 0.3
"""A region in the photo's metadata names the detected face it overlaps at least this much."""

PeopleReader = Callable[[Path, int, tuple[int, int]], list[PersonRegion]]
"""Reads the named regions other tools wrote into a photo (``MetadataWriter.read_people``)."""


def detect_photo(path: Path, info: os.stat_result, engine: FaceEngine, extra_engines: Mapping[str, FaceEngine],
                 settings: EngineSettings, preview: Callable[[Path], bytes] | None = None,
                 read_people: PeopleReader | None = None, marks: DecodeMarks | None = None) -> Detection:
    """Decode ``path``, find and encode its faces (with every engine), read the regions already in it.

    ``preview`` gives a RAW file's embedded JPEG; ``read_people`` is given only for photos whose
    regions were never imported. A photo that cannot be read or decoded is a Detection with an
    ``error`` (never "no faces"); only an engine that cannot work at all raises (EngineError).
    ``marks`` records the decoding in the state folder: a photo that killed the process while it
    was decoded, twice, is recorded as an error instead of being decoded again (pipeline/inflight.py).
    """
    try:
        digest = file_sha256(path)
    except RefusedFile as exc:
        return Detection(path.name, info.st_size, info.st_mtime_ns, "", error=str(exc))
    except OSError as exc:
        return Detection(path.name, info.st_size, info.st_mtime_ns, "",
                         error=f"{path}: cannot read ({exc.strerror}); give the user facesidecar"
                               " runs read access to the file and its folder")
    deaths = marks.deaths(path, info) if marks is not None else 0
    if deaths >= DEATHS_ALLOWED:
        log.error("%s", killed_error(path))
        return Detection(path.name, info.st_size, info.st_mtime_ns, digest, error=killed_error(path))
    try:
        with marks.decoding(path, info, deaths) if marks is not None else contextlib.nullcontext():
            decoded = decode_photo(path, settings.max_image_pixels, settings.pixel_limit, preview,
                                   settings.decode_memory_mb)
            found = find_faces(engine, decoded, settings.min_face_size, settings.smallest_face)
            extra = {m: encode_boxes(e, decoded, [f.box for f in found]) for m, e in extra_engines.items()}
    except (ImageError, MetadataError) as exc:
        return Detection(path.name, info.st_size, info.st_mtime_ns, digest, error=str(exc))
    except EngineError:
        raise
    except (RuntimeError, ValueError, OSError, MemoryError) as exc:
        return Detection(path.name, info.st_size, info.st_mtime_ns, digest, error=f"{path}: face detection failed: {exc}")
    regions = read_regions(path, decoded, found, engine, read_people) if read_people is not None else ()
    return Detection(path.name, info.st_size, info.st_mtime_ns, digest, faces=tuple(found), extra=extra,
                     width=decoded.stored_width, height=decoded.stored_height, orientation=decoded.orientation,
                     regions=regions)


def read_regions(path: Path, decoded: DecodedPhoto, found: list[FoundFace], engine: FaceEngine,
                 read_people: PeopleReader) -> tuple[ImportedRegion, ...]:
    """Person regions already in the photo, each with an encoding where no detected face matches.

    Done here, while the decoded pixels are at hand, so that nothing big is kept until the
    folder transaction.
    """
    try:
        people = read_people(path, decoded.orientation, (decoded.stored_width, decoded.stored_height))
    except MetadataError as exc:
        log.warning("%s", exc)
        return ()
    detected = [Face(face_id="", box=f.box) for f in found]
    regions = []
    for person in people:
        vector = None
        if best_overlap(person.box, detected, IMPORT_IOU) is None:
            try:
                vector = encode_boxes(engine, decoded, [person.box])[0]
            except (RuntimeError, ValueError) as exc:
                log.warning("%s: region of %s could not be encoded (%s)", path, person.name, exc)
                continue
        regions.append(ImportedRegion(person, vector))
    return tuple(regions)


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


__all__ = ["box_to_pixels", "changed_meanwhile", "detect_photo", "detection_scale", "encode_boxes", "find_faces",
           "pixels_to_box", "read_regions"]
