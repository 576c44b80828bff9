"""Speed and accuracy of every engine/detector pair that runs offline here, in one run.

For each pair: decode every photo named in ``pairs.csv`` the way ``scan`` does (displayed
orientation, at most ``engine.max_image_pixels``), detect, encode the largest face, and call a
pair "same" when the distance is below the engine's threshold (no face: "different"). Prints a
table of photos/s (detect + encode, decoding excluded), accuracy on the pairs and agreement with
the default engine. Never downloads: deepface pairs whose files are missing are listed as skipped.

    .venv/bin/python bench/engines_bench.py [--faces DIR] [--pairs N] [--weights-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facesidecar import weights  # noqa: E402
from facesidecar.config import EngineSettings  # noqa: E402
from facesidecar.engines import FaceEngine, get_engine  # noqa: E402
from facesidecar.engines.deepface_engine import DeepfaceEngine  # noqa: E402
from facesidecar.errors import FacesidecarError  # noqa: E402
from facesidecar.imaging import decode_photo  # noqa: E402

DEFAULT_FACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "faces"
DEEPFACE_MODELS = ("Dlib", "SFace", "Facenet512", "ArcFace", "Facenet", "VGG-Face", "OpenFace", "GhostFaceNet")
DEEPFACE_DETECTORS = ("dlib", "opencv", "yunet", "ssd", "centerface", "retinaface", "mtcnn", "mediapipe")


@dataclass
class Result:
    label: str
    photos_per_s: float
    faceless: int
    accuracy: float
    agreement: float | None
    same_recall: float
    diff_recall: float


def read_pairs(faces: Path, limit: int | None) -> list[tuple[str, str, bool]]:
    with (faces / "pairs.csv").open(newline="", encoding="utf-8") as handle:
        pairs = [(r["file_a"], r["file_b"], r["same"] == "1") for r in csv.DictReader(handle)]
    if limit and limit < len(pairs):
        pairs = random.Random(8).sample(pairs, limit)
    return pairs


def largest_face_vectors(engine: FaceEngine, images: dict[str, np.ndarray]) -> tuple[dict, float]:
    """Largest face's vector per photo (None without a face) and the photos per second."""
    vectors: dict[str, np.ndarray | None] = {}
    start = time.perf_counter()
    for name, rgb in images.items():
        boxes = engine.detect(rgb)
        if not boxes:
            vectors[name] = None
            continue
        largest = max(boxes, key=lambda b: b.width * b.height)
        vectors[name] = engine.encode(rgb, [largest])[0]
    return vectors, len(images) / (time.perf_counter() - start)


def decisions(engine: FaceEngine, vectors: dict, pairs: list[tuple[str, str, bool]]) -> list[bool]:
    out = []
    for a, b, _ in pairs:
        if vectors[a] is None or vectors[b] is None:
            out.append(False)
            continue
        out.append(float(engine.distances(vectors[a], vectors[b])[0, 0]) < engine.threshold)
    return out


def evaluate(label: str, engine: FaceEngine, images: dict, pairs: list, reference: list[bool] | None) -> tuple:
    engine.detect(next(iter(images.values())))  # load outside the timing
    vectors, speed = largest_face_vectors(engine, images)
    said = decisions(engine, vectors, pairs)
    truth = [same for _, _, same in pairs]
    hits = [s == t for s, t in zip(said, truth, strict=True)]
    same = [h for h, t in zip(hits, truth, strict=True) if t]
    diff = [h for h, t in zip(hits, truth, strict=True) if not t]
    agreement = None if reference is None else float(np.mean([s == r for s, r in zip(said, reference, strict=True)]))
    result = Result(
        label,
        speed,
        sum(v is None for v in vectors.values()),
        float(np.mean(hits)),
        agreement,
        float(np.mean(same)) if same else 0.0,
        float(np.mean(diff)) if diff else 0.0,
    )
    return result, said


Candidate = tuple[str, EngineSettings | None, str, str | None]


def candidates(base: EngineSettings, home: Path) -> list[Candidate]:
    """(label, settings, why skipped, alignment) for the default engine and every deepface pair.

    deepface's Dlib runs twice per detector: with dlib's 5-point alignment (facesidecar's
    choice) and with deepface's eye-line rotation, to show why that choice was made.
    """
    out: list[Candidate] = [("dlib (default) + hog", replace(base), "", None)]
    runtime = weights.deepface_runtime()
    for model in DEEPFACE_MODELS:
        for detector in DEEPFACE_DETECTORS:
            label = f"deepface {model} + {detector}"
            problems = [
                weights.check(spec, home, runtime).problem(home)
                for spec in (weights.MODELS[model], weights.DETECTORS[detector])
            ]
            problems = [p for p in problems if p]
            settings = replace(base, backend="deepface", model=model, detector=detector, weights_dir=str(home))
            out.append((label, None if problems else settings, "; ".join(problems), None))
            if model == "Dlib" and not problems:
                out.append((f"{label} (eye-line align)", settings, "", "deepface"))
    return out


def print_table(results: list[Result], skipped: list[tuple[str, str]], n_photos: int, n_pairs: int) -> None:
    print(f"\n{n_photos} photos, {n_pairs} pairs (pairs.csv), largest face per photo\n")
    print(f"| {'engine + detector':<40} | photos/s | no face | accuracy | same ok | diff ok | agrees w/ default |")
    print(f"|{'-' * 42}|---------:|--------:|---------:|--------:|--------:|------------------:|")
    for r in results:
        agree = "-" if r.agreement is None else f"{r.agreement:.1%}"
        print(
            f"| {r.label:<40} | {r.photos_per_s:8.2f} | {r.faceless:7d} | {r.accuracy:8.1%} |"
            f" {r.same_recall:7.1%} | {r.diff_recall:7.1%} | {agree:>17} |"
        )
    if skipped:
        print(f"\nskipped (not offline here): {len(skipped)} engine/detector pairs, e.g.")
        for label, why in skipped[:6]:
            print(f"  {label}: {why}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="the shared photo set (with pairs.csv)")
    parser.add_argument("--pairs", type=int, default=0, help="use a fixed random sample of N pairs (0: all)")
    parser.add_argument("--weights-dir", type=Path, help="DEEPFACE_HOME to use (default: a temporary one)")
    parser.add_argument("--max-image-pixels", type=int, default=EngineSettings().max_image_pixels)
    args = parser.parse_args(argv)

    pairs = read_pairs(args.faces, args.pairs or None)
    files = sorted({f for a, b, _ in pairs for f in (a, b)})
    base = EngineSettings(max_image_pixels=args.max_image_pixels)
    images = {f: decode_photo(args.faces / f, base.max_image_pixels, base.pixel_limit).rgb for f in files}
    with tempfile.TemporaryDirectory() as temp:
        home = args.weights_dir or Path(temp)
        os.environ["DEEPFACE_HOME"] = str(home)
        weights.setup_local(home)
        results, skipped, reference = [], [], None
        for label, settings, why, alignment in candidates(base, home):
            if settings is None:
                skipped.append((label, why))
                continue
            try:
                engine = DeepfaceEngine(settings, alignment=alignment) if alignment else get_engine(settings)
                result, said = evaluate(label, engine, images, pairs, reference)
            except FacesidecarError as exc:
                skipped.append((label, str(exc)))
                continue
            reference = reference or said
            results.append(result)
            print(f"done: {label}", file=sys.stderr)
    print_table(results, skipped, len(files), len(pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
