"""Scan benchmark: facesidecar scan vs the original system's per-photo deepface path, same photos.

Prints images/s, ms/face, peak RSS and verification accuracy on pairs.csv for both, then the time
of a rescan of an unchanged tree of generated photos (default 20 000), extrapolated to 100 000.

    .venv/bin/python bench/scan_bench.py [--photos DIR] [--tree 20000] [--skip-deepface]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT / "tests" / "data" / "faces"
sys.path.insert(0, str(PROJECT))


def run_measured(args: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run a command; return wall seconds, peak RSS in MB and stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{args} failed with {proc.returncode}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, out


def copy_photos(source: Path, target: Path) -> list[Path]:
    with open(source / "labels.csv", newline="") as handle:
        labels = [r for r in csv.DictReader(handle) if r["category"] != "corrupt"]
    for row in labels:
        dest = target / row["file"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / row["file"], dest)
    return [target / r["file"] for r in labels]


def largest_face_vectors_facesidecar(root: Path) -> dict[str, np.ndarray]:
    from facesidecar.folders import walk_folders
    from facesidecar.store.folder import FolderStore

    vectors = {}
    for folder in walk_folders([root], []):
        state = FolderStore(folder).load()
        for photo in state.photos.values():
            faces = [f for f in photo.faces if f.encodings]
            if faces:
                best = max(faces, key=lambda f: f.box.area)
                vectors[str((folder / photo.file).relative_to(root))] = next(iter(best.encodings.values()))
    return vectors


def deepface_worker(root: Path, out: Path) -> None:
    """Child process: the deepface path over every photo below ``root``; results into ``out``."""
    photos = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    seconds, faces, vectors = deepface_path(photos, root)
    np.savez(out, seconds=seconds, faces=faces, names=np.array(list(vectors)), vectors=np.array(list(vectors.values())))


def run_deepface(root: Path, work: Path) -> tuple[float, int, dict[str, np.ndarray], float]:
    """The deepface path in its own process, so its peak RSS is its own."""
    out = work / "deepface.npz"
    _, rss, _ = run_measured([sys.executable, __file__, "--deepface-worker", str(root), str(out)])
    data = np.load(out)
    vectors = dict(zip((str(n) for n in data["names"]), data["vectors"], strict=True))
    return float(data["seconds"]), int(data["faces"]), vectors, rss


def deepface_path(photos: list[Path], root: Path) -> tuple[float, int, dict[str, np.ndarray]]:
    """The original system: DeepFace.represent(model_name="Dlib", detector_backend="dlib") per photo."""
    import face_recognition_models

    home = Path(tempfile.mkdtemp(prefix="deepface-home-"))
    weights = home / ".deepface" / "weights"
    weights.mkdir(parents=True)
    models = Path(face_recognition_models.__file__).parent / "models"
    for name in ("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat"):
        (weights / name).symlink_to(models / name)
    os.environ["DEEPFACE_HOME"] = str(home)
    from deepface import DeepFace

    vectors, faces = {}, 0
    DeepFace.represent(str(photos[0]), model_name="Dlib", detector_backend="dlib", enforce_detection=False)
    started = time.perf_counter()
    for photo in photos:
        results = DeepFace.represent(str(photo), model_name="Dlib", detector_backend="dlib", enforce_detection=False)
        found = [r for r in results if r.get("face_confidence", 1) > 0 or r["facial_area"]["w"] > 0]
        faces += len(found)
        if found:
            best = max(found, key=lambda r: r["facial_area"]["w"] * r["facial_area"]["h"])
            vectors[str(photo.relative_to(root))] = np.asarray(best["embedding"], dtype=np.float32)
    return time.perf_counter() - started, faces, vectors


def verification_accuracy(vectors: dict[str, np.ndarray], threshold: float) -> tuple[float, int]:
    with open(SHARED / "pairs.csv", newline="") as handle:
        pairs = list(csv.DictReader(handle))
    right = total = 0
    for pair in pairs:
        a, b = vectors.get(pair["file_a"]), vectors.get(pair["file_b"])
        total += 1
        if a is None or b is None:
            continue
        same = float(np.linalg.norm(a - b)) <= threshold
        right += same == (pair["same"] == "1")
    return right / total, total


def make_tree(root: Path, count: int) -> None:
    from PIL import Image

    image = Image.new("RGB", (16, 16), (120, 120, 120))
    per_folder = 100
    for i in range(count):
        folder = root / f"album{i // per_folder:04d}"
        if i % per_folder == 0:
            folder.mkdir(parents=True)
        image.save(folder / f"img{i:06d}.jpg", quality=50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=SHARED)
    parser.add_argument("--tree", type=int, default=20_000, help="photos in the generated rescan tree")
    parser.add_argument("--skip-deepface", action="store_true")
    parser.add_argument("--deepface-worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.deepface_worker:
        deepface_worker(*args.deepface_worker)
        return

    work = Path(tempfile.mkdtemp(prefix="scan-bench-"))
    config = work / "config.toml"
    config.write_text("[metadata]\nenabled = false\n")
    cli = [sys.executable, "-m", "facesidecar", "scan", "-q", "--config", str(config)]
    photos = copy_photos(args.photos, work / "photos")

    seconds, rss, _ = run_measured([*cli, str(work / "photos")])
    vectors = largest_face_vectors_facesidecar(work / "photos")
    from facesidecar.cli.status import collect_status

    faces = collect_status([work / "photos"], [])["faces"]
    ours_accuracy, pairs = verification_accuracy(vectors, 0.6)
    rows = [("facesidecar scan (dlib HOG + ResNet)", len(photos), faces, seconds, rss, ours_accuracy)]

    tree = work / "tree"
    make_tree(tree, args.tree)
    first, first_rss, _ = run_measured([*cli, str(tree)])
    again, again_rss, _ = run_measured([*cli, str(tree)])

    if not args.skip_deepface:
        df_seconds, df_faces, df_vectors, df_rss = run_deepface(work / "photos", work)
        df_accuracy, _ = verification_accuracy(df_vectors, 0.6)
        rows.append(("deepface represent(Dlib, dlib) per photo", len(photos), df_faces, df_seconds, df_rss, df_accuracy))

    print(f"\n{'path':<42} {'photos':>6} {'faces':>6} {'img/s':>7} {'ms/face':>8} {'peak RSS MB':>11} {'pairs acc':>9}")
    for name, count, found, secs, peak, accuracy in rows:
        print(f"{name:<42} {count:>6} {found:>6} {count / secs:>7.2f} {1000 * secs / max(found, 1):>8.1f} {peak:>11.0f} {accuracy:>9.3f}")
    if len(rows) == 2:
        print(f"speed-up: {rows[0][3] and (rows[0][1] / rows[0][3]) / (rows[1][1] / rows[1][3]):.2f}x images/s ({pairs} pairs)")

    print(f"\ngenerated tree: {args.tree} photos; first scan {first:.1f} s (peak {first_rss:.0f} MB); "
          f"unchanged rescan {again:.2f} s (peak {again_rss:.0f} MB) -> 100 000 photos ≈ {again * 100_000 / args.tree:.1f} s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
