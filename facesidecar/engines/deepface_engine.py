"""deepface adapter: the original system's models (Facenet512, ArcFace, SFace, Dlib, …) behind
the FaceEngine interface, without ever downloading a file the user did not ask for.

How a face becomes a vector here, and why:
- ``detect`` runs deepface's detector (the same ``Detector.detect_faces`` that
  ``DeepFace.extract_faces`` uses). ``extract_faces`` first pads the photo with a black border half
  its size on every side (four times the pixels, which makes dlib's HOG detector that much
  slower); we pad 25 % for the detectors that need context around a face filling the frame
  (Haar) and nothing for HOG. Alignment does not need the border: ``extract_face`` pads each face itself.
- ``encode`` for every model but Dlib aligns each face with deepface's own
  ``detection.extract_face`` (rotate by the eye line, crop the detector's box) and embeds it with
  ``DeepFace.represent(detector_backend="skip")``: the crop, alignment and normalisation of
  ``DeepFace.represent`` on the whole photo, which deepface's per-model thresholds were tuned on.
  The eyes come from the last ``detect`` on the same image; for a box from elsewhere (faces.pkl,
  another model's detector) the detector runs again in a margin around the box and the detection
  overlapping it best lends its eyes (without one the box is embedded unaligned).
- ``encode`` for Dlib uses dlib's 5-point landmarks and face chip, the alignment the Dlib ResNet
  was trained on and its 0.6 threshold belongs to, with the ResNet deepface loaded from its own
  weights folder. On the shared pairs that agrees with the default engine on 99-100 % of pairs
  with the dlib detector, against 97.6 % with deepface's eye-line alignment (see ALIGNMENTS).

Model files live under ``$DEEPFACE_HOME/.deepface/weights`` with ``DEEPFACE_HOME`` set to a
folder facesidecar controls (see ``facesidecar.weights``). Before anything is loaded, the files
are checked; a missing one is an EngineError naming it, unless ``engine.allow_downloads``. As a
second line, deepface's and retina-face's download functions are wrapped so that they refuse to
fetch a missing file while downloads are off.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import weights
from ..config import EngineSettings
from ..errors import ConfigError, EngineError
from .base import FaceEngine, PixelBox

log = logging.getLogger(__name__)

MODEL_ALIASES = {"dlib_resnet_v1": "Dlib", "dlib": "Dlib"}
DETECTOR_ALIASES = {"hog": "dlib"}
METRICS = ("cosine", "euclidean", "euclidean_l2")
# Dlib's vectors are made for euclidean distance (threshold 0.6, as in the default engine); the
# others are compared by cosine, deepface's default.
DEFAULT_METRICS = {"Dlib": "euclidean"}
# How a face is cut out before the model sees it. "deepface": rotate by the eye line and crop the
# detector's box (deepface's own way, which its per-model thresholds were tuned on). "dlib5":
# dlib's 5-point landmarks and face chip, the alignment the Dlib ResNet was trained on; with the
# opencv detector (whose eye finder is weak) it lifts pair accuracy from 92 % to 97 %.
ALIGNMENTS = ("deepface", "dlib5")
DEFAULT_ALIGNMENT = {"Dlib": "dlib5"}
# Black border added around a photo before detection, as a fraction of its sides. deepface adds
# 50 % (four times the pixels) so that faces filling the frame have context around them; the
# Haar cascades need that (of the 160 shared photos 30 had no face without a border, 4 with
# 10 %, none with 25 %; agreement with the default engine rose to 99.6 % of pairs), while dlib's
# HOG detector finds them without one and is slowed down most by the extra pixels.
DETECT_BORDER = {"dlib": 0.0}
DEFAULT_DETECT_BORDER = 0.25
RECROP_MARGIN = 0.5  # a stored box is re-detected in a crop this much larger on every side
MIN_OVERLAP = 0.4  # IoU a re-detected face needs to count as the stored box
LOAD_ERRORS = (ImportError, ValueError, OSError, RuntimeError, AttributeError)

_downloads_allowed = False  # set by an engine whose settings allow downloads


def deepface_model_name(name: str) -> str:
    """deepface's spelling of a model name from the config; unknown names list the choices."""
    name = MODEL_ALIASES.get(name, name)
    for known in weights.MODELS:
        if known.lower() == name.lower():
            return known
    choices = ", ".join(weights.MODELS)
    raise ConfigError(f"engine.model {name!r} is not a deepface model; choose one of {choices}")


def deepface_detector_name(name: str) -> str:
    """deepface's name of a detector; our default ``hog`` is dlib's HOG detector."""
    name = DETECTOR_ALIASES.get(name.lower(), name.lower())
    if name not in weights.DETECTORS:
        choices = ", ".join(["hog", *weights.DETECTORS])
        raise ConfigError(f"engine.detector {name!r} is not a deepface detector; choose one of {choices}")
    return name


def _same_model(a: str, b: str) -> bool:
    return MODEL_ALIASES.get(a, a).lower() == MODEL_ALIASES.get(b, b).lower()


def default_threshold(model: str, metric: str) -> float:
    """deepface's own tuned threshold for this model and metric (deepface/config/threshold.py)."""
    try:
        from deepface.config.threshold import thresholds
    except ImportError as exc:
        raise EngineError(f"deepface is not installed ({exc}); pip install deepface") from None
    try:
        return float(thresholds[model][metric])
    except KeyError:
        raise ConfigError(f"deepface has no threshold for {model} with {metric}; set engine.threshold") from None


class DeepfaceEngine(FaceEngine):
    """One deepface recognition model plus one deepface detector.

    Not thread-safe: one engine per worker thread (deepface itself caches models per process).
    """

    def __init__(
        self,
        settings: EngineSettings,
        model_name: str | None = None,
        home: Path | None = None,
        alignment: str | None = None,
    ) -> None:
        self.settings = settings
        self.deepface_model = deepface_model_name(model_name or settings.model)
        self.detector_backend = deepface_detector_name(settings.detector)
        self.detector_name = self.detector_backend
        # engine.metric and engine.threshold are tuned for the primary model; an extra model
        # (model_name) keeps deepface's defaults, whose distances live on another scale.
        primary = model_name is None or _same_model(model_name, settings.model)
        self.metric = (settings.metric if primary else "") or DEFAULT_METRICS.get(self.deepface_model, "cosine")
        if self.metric not in METRICS:
            raise ConfigError(f"engine.metric {self.metric!r} is not known; choose one of {', '.join(METRICS)}")
        configured = settings.threshold if primary else 0.0
        self.threshold = configured if configured > 0 else default_threshold(self.deepface_model, self.metric)
        self.home = home or weights.deepface_home(settings)
        default_alignment = DEFAULT_ALIGNMENT.get(self.deepface_model, "deepface")
        self.alignment = alignment or default_alignment
        if self.alignment not in ALIGNMENTS or (self.alignment == "dlib5" and self.deepface_model != "Dlib"):
            raise ConfigError(f"alignment {self.alignment!r} does not fit {self.deepface_model}")
        # stored with every encoding: vectors of another model or alignment are never compared
        suffix = "" if self.alignment == default_alignment else f"+{self.alignment}"
        self.model_name = f"deepface_{self.deepface_model}{suffix}"
        self._deepface: Any = None
        self._dlib5: tuple[Any, Any] | None = None  # (shape predictor, dlib encoder) for "dlib5"
        self._detector: Any = None
        self._last_image: np.ndarray | None = None
        self._last_regions: dict[PixelBox, Any] = {}

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Check files and packages, then build the model and detector (once)."""
        if self._deepface is not None:
            return
        os.environ["DEEPFACE_HOME"] = str(self.home)
        self._prepare_weights()
        self._check_available()
        global _downloads_allowed
        _downloads_allowed = _downloads_allowed or self.settings.allow_downloads
        deepface = _import_deepface()
        _install_download_guard()
        try:
            model = deepface.build_model(self.deepface_model, task="facial_recognition")
            self._detector = deepface.build_model(self.detector_backend, task="face_detector")
            if self.alignment == "dlib5":
                self._dlib5 = (self._shape_predictor(), model.model.model)
        except EngineError:
            raise
        except LOAD_ERRORS as exc:
            raise EngineError(f"deepface could not load {self.describe()}: {exc}") from None
        self._deepface = deepface
        log.info("loaded %s from %s", self.describe(), weights.weights_path(self.home))

    def _prepare_weights(self) -> None:
        """Create deepface's folder and link the files installed packages already ship (Dlib)."""
        try:
            weights.weights_path(self.home).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EngineError(
                f"cannot create the deepface weights folder {weights.weights_path(self.home)}: {exc}; "
                "set engine.weights_dir to a writable folder"
            ) from None
        for spec in self._specs():
            for wf in spec.files_for(weights.deepface_runtime()):
                if weights.find_file(self.home, wf) is None and weights.local_source(wf.name):
                    weights.setup_local(self.home, [wf.name])

    def _shape_predictor(self) -> Any:
        import dlib

        return dlib.shape_predictor(str(weights.weights_path(self.home) / weights.DLIB_PREDICTOR_5.name))

    def _specs(self) -> list[weights.ModelSpec]:
        return [weights.MODELS[self.deepface_model], weights.DETECTORS[self.detector_backend]]

    def _check_available(self) -> None:
        """Fail before deepface starts a download or dies in an import deep inside."""
        for spec in self._specs():
            found = weights.check(spec, self.home)
            if found.missing_packages or (found.missing_files and not self.settings.allow_downloads):
                raise EngineError(found.problem(self.home))

    # -- FaceEngine ------------------------------------------------------------------------

    def detect(self, image: np.ndarray) -> list[PixelBox]:
        self.load()
        bgr = _to_bgr(image)
        regions = self._run_detector(bgr)
        found = {}
        for region in regions:
            box = _to_box(region, bgr.shape)
            if box is not None and min(box.width, box.height) >= self.settings.min_face_size:
                found[box] = region
        self._last_image, self._last_regions = image, found
        return sorted(found, key=lambda b: (b.left, b.top))

    def encode(self, image: np.ndarray, boxes: list[PixelBox]) -> list[np.ndarray]:
        if not boxes:
            return []
        self.load()
        if self._dlib5 is not None:
            return self._encode_dlib5(image, boxes)
        bgr = _to_bgr(image)
        known = self._last_regions if image is self._last_image else {}
        faces = [self._aligned_face(bgr, box, known.get(box)) for box in boxes]
        return self._represent(faces)

    # -- steps -----------------------------------------------------------------------------

    def _run_detector(self, bgr: np.ndarray) -> list[Any]:
        """deepface's detector on ``bgr`` inside a black border; regions in ``bgr``'s coordinates."""
        fraction = DETECT_BORDER.get(self.detector_backend, DEFAULT_DETECT_BORDER)
        dy, dx = int(bgr.shape[0] * fraction), int(bgr.shape[1] * fraction)
        padded = np.pad(bgr, ((dy, dy), (dx, dx), (0, 0))) if dx or dy else bgr
        try:
            return [_shift(region, -dx, -dy) for region in self._detector.detect_faces(padded)]
        except LOAD_ERRORS as exc:
            raise EngineError(f"deepface detector {self.detector_backend} failed: {exc}") from None

    def _encode_dlib5(self, image: np.ndarray, boxes: list[PixelBox]) -> list[np.ndarray]:
        """Dlib's own alignment (5 landmarks, 150x150 chip) and deepface's loaded Dlib ResNet."""
        import dlib

        predictor, encoder = self._dlib5  # type: ignore[misc]
        rgb = _check_rgb(image)
        shapes = dlib.full_object_detections()
        for box in boxes:
            rect = dlib.rectangle(box.left, box.top, max(box.left, box.right - 1), max(box.top, box.bottom - 1))
            shapes.append(predictor(rgb, rect))
        try:
            vectors = encoder.compute_face_descriptor(rgb, shapes)
        except RuntimeError as exc:
            raise EngineError(f"deepface Dlib could not encode: {exc}") from None
        return [np.asarray(v, dtype=np.float32) for v in vectors]

    def _aligned_face(self, bgr: np.ndarray, box: PixelBox, region: Any) -> np.ndarray:
        """The face in ``box``, rotated upright by deepface, BGR uint8."""
        from deepface.models.Detector import FacialAreaRegion
        from deepface.modules.detection import extract_face

        if region is None:  # a box from elsewhere: its own crop, eyes from a new detection
            found = self._redetect(bgr, box)
            region = FacialAreaRegion(
                x=box.left,
                y=box.top,
                w=box.width,
                h=box.height,
                left_eye=found.left_eye if found else None,
                right_eye=found.right_eye if found else None,
            )
        face = extract_face(
            facial_area=region,
            img=bgr,
            align=True,
            expand_percentage=0,
            width_border=0,
            height_border=0,
            detector_backend=self.detector_backend,
        ).img
        if face.size == 0:  # alignment projected the box off the crop: use it as it is
            face = bgr[box.top : box.bottom, box.left : box.right]
        if face.size == 0:
            raise EngineError(f"face box {box} is empty in a {bgr.shape[1]}x{bgr.shape[0]} image")
        return np.ascontiguousarray(face)

    def _redetect(self, bgr: np.ndarray, box: PixelBox) -> Any:
        """The detection in a margin around ``box`` that overlaps it best, or None.

        Only its eyes are used: the crop stays the stored box, because Dlib's vectors move by a
        third of the threshold when the box moves by 3 %.
        """
        mx, my = int(box.width * RECROP_MARGIN), int(box.height * RECROP_MARGIN)
        left, top = max(0, box.left - mx), max(0, box.top - my)
        crop = bgr[top : min(bgr.shape[0], box.bottom + my), left : min(bgr.shape[1], box.right + mx)]
        if crop.size == 0:
            return None
        shifted = [_shift(region, left, top) for region in self._run_detector(np.ascontiguousarray(crop))]
        scored = [(_iou(box, _to_box(r, bgr.shape)), r) for r in shifted]
        best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
        return best[1] if best[0] >= MIN_OVERLAP else None

    def _represent(self, faces: list[np.ndarray]) -> list[np.ndarray]:
        """Embed aligned faces with deepface's preprocessing for the model (one batch)."""
        try:
            result = self._deepface.represent(
                img_path=faces if len(faces) > 1 else faces[0],
                model_name=self.deepface_model,
                detector_backend="skip",
                enforce_detection=False,
                align=False,
            )
        except LOAD_ERRORS as exc:
            raise EngineError(f"deepface {self.deepface_model} could not encode: {exc}") from None
        per_face = result if len(faces) > 1 else [result]
        return [np.asarray(objs[0]["embedding"], dtype=np.float32) for objs in per_face]


def _check_rgb(image: np.ndarray) -> np.ndarray:
    """Anything but H x W x 3 uint8 is a programming error, caught here rather than deep in dlib."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {image.shape} {image.dtype}")
    return np.ascontiguousarray(image)


def _to_bgr(image: np.ndarray) -> np.ndarray:
    """deepface (OpenCV) wants BGR; our images are RGB."""
    return np.ascontiguousarray(_check_rgb(image)[:, :, ::-1])


def _to_box(region: Any, shape: tuple[int, ...]) -> PixelBox | None:
    """A detector region clipped to the image; None when nothing of it is inside."""
    left, top = max(0, int(region.x)), max(0, int(region.y))
    right = min(shape[1], int(region.x) + int(region.w))
    bottom = min(shape[0], int(region.y) + int(region.h))
    if right <= left or bottom <= top:
        return None
    return PixelBox(left, top, right, bottom)


def _shift(region: Any, dx: int, dy: int) -> Any:
    """A region found in a crop, in the coordinates of the whole image."""
    from dataclasses import replace

    def move(point: tuple[int, int] | None) -> tuple[int, int] | None:
        return None if point is None else (int(point[0]) + dx, int(point[1]) + dy)

    return replace(
        region,
        x=int(region.x) + dx,
        y=int(region.y) + dy,
        left_eye=move(region.left_eye),
        right_eye=move(region.right_eye),
        nose=move(region.nose),
        mouth_left=move(region.mouth_left),
        mouth_right=move(region.mouth_right),
    )


def _iou(a: PixelBox, b: PixelBox | None) -> float:
    if b is None:
        return 0.0
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (a.width * a.height + b.width * b.height - inter)


def _import_deepface() -> Any:
    """``deepface.DeepFace``, imported so that its global side effects stay contained.

    Importing it silences all Python warnings process-wide and creates its weights folder under
    ``$DEEPFACE_HOME``; the first is undone here, the second is why DEEPFACE_HOME is set first.
    """
    try:
        with warnings.catch_warnings():
            from deepface import DeepFace
    except ImportError as exc:
        raise EngineError(
            f"deepface cannot be imported: {exc}; pip install deepface werkzeug "
            "'opencv-contrib-python-headless<5' (or choose engine.backend = \"dlib\")"
        ) from None
    except ValueError as exc:  # deepface's way to say no tensorflow/torch/onnxruntime
        raise EngineError(f"deepface cannot start: {exc}") from None
    return DeepFace


def _refuse(file_name: str) -> EngineError:
    target = weights.weights_path(Path(os.environ.get("DEEPFACE_HOME", "~"))) / file_name
    return EngineError(
        f"deepface wanted to download {file_name}; downloads are off (engine.allow_downloads = false). "
        f"Put the file at {target} (`facesidecar models import DIR`) or allow downloads"
    )


def _guarded(original: Callable[..., str]) -> Callable[..., str]:
    """Wrap a ``download_weights_if_necessary`` so that it only returns files already there."""

    def download_weights_if_necessary(file_name: str, *args: Any, **kwargs: Any) -> str:
        home = Path(os.environ.get("DEEPFACE_HOME", os.path.expanduser("~")))
        if _downloads_allowed or (weights.weights_path(home) / file_name).is_file():
            return original(file_name, *args, **kwargs)
        raise _refuse(file_name)

    download_weights_if_necessary.__wrapped__ = original  # type: ignore[attr-defined]
    download_weights_if_necessary.facesidecar_guard = True  # type: ignore[attr-defined]
    return download_weights_if_necessary


def _install_download_guard() -> None:
    """Make deepface's and retina-face's downloaders refuse while downloads are off (idempotent)."""
    from deepface.commons import weight_utils

    modules = [weight_utils]
    try:
        from retinaface.commons import weight_utils as retina_weight_utils

        modules.append(retina_weight_utils)
    except ImportError:
        pass
    for module in modules:
        current = module.download_weights_if_necessary
        if not getattr(current, "facesidecar_guard", False):
            module.download_weights_if_necessary = _guarded(current)


__all__ = ["DeepfaceEngine", "deepface_model_name", "deepface_detector_name", "default_threshold"]
