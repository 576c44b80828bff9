"""Scan benchmark (issue 18): facesidecar vs the original system's per-photo deepface path vs plain dlib.

All figures come from one run on the same photos:

- camera-size photos: the shared set's photos of 1 MP and more, plus re-encoded large copies (24 MP)
  stored under EXIF orientations 3, 6 and 8, made here in code;
- small portraits: the shared set's identity photos under 1 MP;
- facesidecar with engine.workers 1 (in the scanning process) and 2 (a local pool), and through a
  Dask cluster of one scheduler and two workers on this machine (real ``dask scheduler`` / ``facesidecar worker`` processes);
- images/s, ms/face, faces found, peak RSS of the whole process tree, verification accuracy on
  pairs.csv where the set has pairs, and the projected first scan of 100 000 camera photos;
- then the time of a rescan of an unchanged tree of generated photos, extrapolated to 100 000.

Every path runs in its own process, its model loaded before the clock starts (the seed path's
warm-up photo, facesidecar's worker start on one photo); ``facesidecar scan`` is also timed cold,
start-up included, as a user runs it.

    .venv/bin/python bench/scan_bench.py [--tree 20000] [--large 12] [--portraits 40] [--camera N] [--skip-deepface]
                                         [--skip-dask]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT / "tests" / "data" / "faces"
sys.path.insert(0, str(PROJECT))

CAMERA_PIXELS = 1_000_000
LARGE_SIZE = 24_000_000
ORIENTATIONS = (3, 6, 8)


# -- measuring ------------------------------------------------------------------------------------
def tree_processes(pids: list[int]) -> list:
    """These processes and all their descendants (psutil reads every process of the machine for this)."""
    import psutil

    found = []
    for pid in pids:
        try:
            root = psutil.Process(pid)
            found += [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
    return found


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes and their descendants."""
    import psutil

    total = 0.0
    for proc in tree_processes(pids):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class PeakSampler:
    """Samples the summed RSS of process trees every 50 ms; ``peak`` in MB.

    The trees are listed again only every second: listing reads every process of the machine and
    cost 2 ms a tree at each sample, CPU that the photos' workers missed on a 2-core machine.
    """

    LIST_EVERY = 20

    def __init__(self, pids: list[int]):
        self.pids, self.peak = list(pids), 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        procs, sample = [], 0
        while not self._stop.wait(0.05):
            if sample % self.LIST_EVERY == 0:
                procs = tree_processes(self.pids)
            sample += 1
            total = 0
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total / 2**20)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_measured(args: list[str], also: list[int] = ()) -> tuple[float, float]:
    """Run a command; wall seconds and the peak RSS (MB) of its process tree plus ``also``'s trees."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = PeakSampler([proc.pid, *also])
    _, err = proc.communicate()
    peak = sampler.stop()
    if proc.returncode:
        raise SystemExit(f"{args} failed with {proc.returncode}:\n{err[-3000:]}")
    return time.perf_counter() - started, peak


@dataclass
class Row:
    name: str
    photos: int
    faces: int
    seconds: float
    peak_mb: float
    vectors: dict[str, np.ndarray]
    cpu: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    """CPU seconds of the timed part: the scanning process, its local workers, the Dask cluster's
    processes, and how much of the latter they spend idle (heartbeats) in as long."""

    @property
    def rate(self) -> float:
        return self.photos / self.seconds


def run_path(kind: str, root: Path, work: Path, *options: str, also: list[int] = ()) -> Row:
    """One path in a child process (this file with ``--path``); it reports its timed part in an npz."""
    out = work / f"{kind}-{time.monotonic_ns()}.npz"
    _, peak = run_measured([sys.executable, __file__, "--path", kind, str(root), str(out), *options], also)
    data = np.load(out)
    vectors = dict(zip((str(n) for n in data["names"]), data["vectors"], strict=True))
    return Row(kind, int(data["photos"]), int(data["faces"]), float(data["seconds"]), peak, vectors,
               tuple(float(c) for c in data["cpu"]))


def save_result(out: Path, photos: int, seconds: float, faces: int, vectors: dict[str, np.ndarray],
                cpu: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)) -> None:
    np.savez(out, photos=photos, seconds=seconds, faces=faces, names=np.array(list(vectors)),
             vectors=np.array(list(vectors.values())).reshape(len(vectors), -1), cpu=np.array(cpu))


# -- the photo sets --------------------------------------------------------------------------------
def labels() -> list[dict]:
    with open(SHARED / "labels.csv", newline="") as handle:
        return [r for r in csv.DictReader(handle) if r["category"] != "corrupt"]


def copy_set(rows: list[dict], target: Path) -> int:
    for row in rows:
        dest = target / row["file"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHARED / row["file"], dest)
    return len(rows)


def camera_set(target: Path, large: int, limit: int = 0) -> int:
    """The ≥ 1 MP photos, plus ``large`` of them re-encoded at 24 MP under EXIF orientations 3/6/8
    (pixels stored turned, as cameras store them), in a folder of their own."""
    from PIL import Image

    from tests.photos import save_oriented

    rows = [r for r in labels() if int(r["width"]) * int(r["height"]) >= CAMERA_PIXELS][: limit or None]
    count = copy_set(rows, target)
    (target / "large").mkdir()
    for n, row in enumerate(rows[:large]):
        with Image.open(SHARED / row["file"]) as image:
            picture = image.convert("RGB")
        factor = (LARGE_SIZE / (picture.width * picture.height)) ** 0.5
        picture = picture.resize((round(picture.width * factor), round(picture.height * factor)), Image.Resampling.BICUBIC)
        save_oriented(picture, ORIENTATIONS[n % len(ORIENTATIONS)], target / "large" / f"{n:02d}.jpg", quality=90)
    return count + min(large, len(rows))


def portrait_set(target: Path, count: int) -> int:
    rows = [r for r in labels() if r["category"] == "identity" and int(r["width"]) * int(r["height"]) < CAMERA_PIXELS]
    return copy_set(rows[:count], target)


def photo_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png"))


# -- the paths (each runs in its own process) ------------------------------------------------------
def deepface_path(root: Path, out: Path) -> None:
    """The original system: DeepFace.represent(model_name="Dlib", detector_backend="dlib") per photo."""
    import face_recognition_models

    photos = photo_files(root)
    home = Path(tempfile.mkdtemp(prefix="deepface-home-"))
    weights = home / ".deepface" / "weights"
    weights.mkdir(parents=True)
    models = Path(face_recognition_models.__file__).parent / "models"
    for name in ("dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat"):
        (weights / name).symlink_to(models / name)
    os.environ["DEEPFACE_HOME"] = str(home)
    from deepface import DeepFace

    vectors, faces = {}, 0
    DeepFace.represent(str(SHARED / "barack_obama" / "2.jpg"), model_name="Dlib", detector_backend="dlib",
                       enforce_detection=False)
    started = time.perf_counter()
    for photo in photos:
        results = DeepFace.represent(str(photo), model_name="Dlib", detector_backend="dlib", enforce_detection=False)
        found = [r for r in results if r.get("face_confidence", 1) > 0 or r["facial_area"]["w"] > 0]
        faces += len(found)
        if found:
            best = max(found, key=lambda r: r["facial_area"]["w"] * r["facial_area"]["h"])
            vectors[str(photo.relative_to(root))] = np.asarray(best["embedding"], dtype=np.float32)
    save_result(out, len(photos), time.perf_counter() - started, faces, vectors)
    shutil.rmtree(home, ignore_errors=True)


def plain_dlib_path(root: Path, out: Path) -> None:
    """dlib used directly: the full photo turned upright, HOG at its own size (with face_recognition's
    one upsampling a 36 MP photo takes minutes), 5-point landmarks, the ResNet encoder."""
    import dlib
    from PIL import Image, ImageOps

    from facesidecar.engines.dlib_engine import RECOGNITION_MODEL, SHAPE_PREDICTOR, models_dir

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models_dir() / SHAPE_PREDICTOR))
    encoder = dlib.face_recognition_model_v1(str(models_dir() / RECOGNITION_MODEL))
    detector(np.zeros((64, 64, 3), np.uint8), 0)
    vectors, faces = {}, 0
    photos = photo_files(root)
    started = time.perf_counter()
    for photo in photos:
        with Image.open(photo) as image:
            rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        rects = list(detector(rgb, 0))
        faces += len(rects)
        if rects:
            best = max(rects, key=lambda r: r.width() * r.height())
            vector = encoder.compute_face_descriptor(rgb, predictor(rgb, best))
            vectors[str(photo.relative_to(root))] = np.asarray(vector, dtype=np.float32)
    save_result(out, len(photos), time.perf_counter() - started, faces, vectors)


def cpu_split(cluster: list[int]) -> tuple[float, float, float]:
    """CPU seconds so far of this process, of its descendants (the local workers) and of ``cluster``'s trees."""
    import psutil

    me = psutil.Process()
    times = me.cpu_times()
    return times.user + times.system, tree_cpu([child.pid for child in me.children()]), tree_cpu(cluster)


def idle_cpu_rate(cluster: list[int], seconds: float = 3.0) -> float:
    """CPU seconds per second that ``cluster``'s processes spend with nothing to do (heartbeats, event
    loops), so that their cost per photo can be told apart from the time the scan took."""
    if not cluster:
        return 0.0
    before = tree_cpu(cluster)
    time.sleep(seconds)
    return (tree_cpu(cluster) - before) / seconds


def warm_photos(folder: Path, count: int) -> None:
    """``count`` different camera-size photos (one face each): enough work that the pool starts all its
    workers and every one of them has loaded its model before the clock starts."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(SHARED / "barack_obama" / "2.jpg") as image:
        picture = image.convert("RGB")
    factor = (3_000_000 / (picture.width * picture.height)) ** 0.5
    picture = picture.resize((round(picture.width * factor), round(picture.height * factor)), Image.Resampling.BICUBIC)
    for n in range(count):
        picture.save(folder / f"warm{n:02d}.jpg", quality=80 + n % 15)  # different bytes: no photo is a copy


def facesidecar_path(root: Path, out: Path, workers: str, scheduler: str, cluster_pids: str = "") -> None:
    """The scanner the ``scan`` command builds (default config but metadata off), its workers started
    and models loaded on a few photos first; then the timed scan of ``root``, with the CPU seconds of
    this process, of its workers and of the cluster's processes (``cluster_pids``) during it."""
    from facesidecar.compose import build_scanner
    from facesidecar.config import Settings, with_roots
    from facesidecar.folders import walk_folders
    from facesidecar.store.folder import FolderStore
    from facesidecar.workers import LocalPool, worker_count

    warm = Path(tempfile.mkdtemp(prefix="warm-"))
    warm_photos(warm, 6 * worker_count(int(workers)))
    settings = with_roots(Settings(), [str(root), str(warm)])
    settings.metadata.enabled = False
    settings.engine.workers = int(workers)
    settings.cluster.scheduler = scheduler
    scanner = build_scanner(settings)
    cluster = [int(pid) for pid in cluster_pids.split(",") if pid]
    try:
        scanner.scan_paths([warm])
        pool = scanner.detector.executor
        if isinstance(pool, LocalPool) and pool.size < pool.wanted:
            raise SystemExit(f"the warm-up started {pool.size} of {pool.wanted} workers")
        idle_rate = idle_cpu_rate(cluster)
        before = cpu_split(cluster)
        started = time.perf_counter()
        report = scanner.scan_paths([root])
        seconds = time.perf_counter() - started
        after = cpu_split(cluster)
        if scheduler and scanner.detector.executor.fell_back:
            raise SystemExit(f"the Dask cluster at {scheduler} was not used")
    finally:
        scanner.close()
    shutil.rmtree(warm, ignore_errors=True)
    vectors = {}
    for folder in walk_folders([root], []):
        for photo in FolderStore(folder).load().photos.values():
            faces = [f for f in photo.faces if f.encodings]
            if faces:
                best = max(faces, key=lambda f: f.box.area)
                vectors[str((folder / photo.file).relative_to(root))] = next(iter(best.encodings.values()))
    save_result(out, report.scanned, seconds, report.faces, vectors,
                (*(a - b for a, b in zip(after, before, strict=True)), idle_rate * seconds))


PATHS = {"deepface": deepface_path, "dlib": plain_dlib_path, "facesidecar": facesidecar_path}


# -- a Dask cluster on this machine ----------------------------------------------------------------
class LocalCluster:
    """``dask scheduler`` plus ``facesidecar worker --nworkers 2`` on 127.0.0.1, as a user starts them."""

    def __init__(self, work: Path, workers: int):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        log = (work / "cluster.log").open("wb")
        dask = str(Path(sys.executable).parent / "dask")
        self.procs = [
            subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             stdout=log, stderr=log),
            subprocess.Popen([sys.executable, "-m", "facesidecar", "worker", self.address, "--nworkers", str(workers),
                              "--host", "127.0.0.1"], stdout=log, stderr=log),
        ]
        from distributed import Client

        with Client(self.address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=300)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- reporting -------------------------------------------------------------------------------------
def verification_accuracy(vectors: dict[str, np.ndarray], threshold: float = 0.6) -> tuple[float, int]:
    with open(SHARED / "pairs.csv", newline="") as handle:
        pairs = [p for p in csv.DictReader(handle) if p["file_a"] in vectors and p["file_b"] in vectors]
    right = sum((float(np.linalg.norm(vectors[p["file_a"]] - vectors[p["file_b"]])) <= threshold) == (p["same"] == "1")
                for p in pairs)
    return (right / len(pairs) if pairs else float("nan")), len(pairs)


def print_table(title: str, rows: list[Row], seed: Row | None) -> None:
    print(f"\n{title}")
    print(f"{'path':<44} {'photos':>6} {'faces':>6} {'img/s':>7} {'ms/face':>8} {'peak RSS MB':>11} "
          f"{'pairs acc':>9} {'vs seed':>8}")
    for row in rows:
        accuracy, pairs = verification_accuracy(row.vectors)
        ratio = f"{row.rate / seed.rate:7.2f}x" if seed is not None else "       -"
        print(f"{row.name:<44} {row.photos:>6} {row.faces:>6} {row.rate:>7.2f} {1000 * row.seconds / max(row.faces, 1):>8.1f}"
              f" {row.peak_mb:>11.0f} {accuracy:>9.3f} {ratio}")
    if rows:
        print(f"(pairs acc: verification accuracy at 0.6 on the {verification_accuracy(rows[0].vectors)[1]} pairs.csv "
              "pairs with both photos in this set, by the largest face of each)")


def make_tree(root: Path, count: int) -> None:
    from PIL import Image

    image = Image.new("RGB", (16, 16), (120, 120, 120))
    data = io.BytesIO()
    image.save(data, "JPEG", quality=50)
    per_folder = 100
    for i in range(count):
        folder = root / f"album{i // per_folder:04d}"
        if i % per_folder == 0:
            folder.mkdir(parents=True)
        (folder / f"img{i:06d}.jpg").write_bytes(data.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=int, default=20_000, help="photos in the generated rescan tree (0: skip)")
    parser.add_argument("--camera", type=int, default=0, help="only this many of the >= 1 MP photos (0: all; quick runs)")
    parser.add_argument("--large", type=int, default=12, help="24 MP copies with EXIF orientations in the camera set")
    parser.add_argument("--portraits", type=int, default=40, help="small portraits")
    parser.add_argument("--skip-deepface", action="store_true")
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--path", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.path:
        kind, root, out, *options = args.path
        PATHS[kind](Path(root), Path(out), *options)
        return

    work = Path(tempfile.mkdtemp(prefix="scan-bench-"))
    camera, portraits = work / "camera", work / "portraits"
    cameras = camera_set(camera, args.large, args.camera)
    portrait_set(portraits, args.portraits)
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores; camera set: {cameras} photos ({args.large} of them 24 MP copies under EXIF orientations "
          f"{'/'.join(map(str, ORIENTATIONS))}); portraits: {args.portraits} photos under 1 MP")

    def fresh(root: Path) -> Path:
        for sidecar in [*root.rglob("faces.csv"), *root.rglob("faces.pkl")]:
            sidecar.unlink()
        return root

    results: dict[str, list[Row]] = {"camera": [], "portraits": []}
    seeds: dict[str, Row | None] = {"camera": None, "portraits": None}
    for label, root in (("camera", camera), ("portraits", portraits)):
        if not args.skip_deepface:
            seeds[label] = run_path("deepface", root, work)
            seeds[label].name = "seed: deepface represent(Dlib, dlib) per photo"
        plain = run_path("dlib", root, work)
        plain.name = "plain dlib (full photo, HOG, 1 process)"
        default = run_path("facesidecar", fresh(root), work, "0", "")
        default.name = f"facesidecar, default ({cores} local workers)"
        results[label] += [r for r in (seeds[label], plain, default) if r is not None]
    one = run_path("facesidecar", fresh(camera), work, "1", "")
    one.name = "facesidecar, 1 worker (in this process)"
    two = run_path("facesidecar", fresh(camera), work, "2", "")
    two.name = "facesidecar, 2 local workers"
    results["camera"] += [one, two]
    if not args.skip_dask:
        cluster = LocalCluster(work, 2)
        try:
            dask_row = run_path("facesidecar", fresh(camera), work, "2", cluster.address,
                                ",".join(map(str, cluster.pids)), also=cluster.pids)
        finally:
            cluster.close()
        dask_row.name = "facesidecar, Dask: 1 scheduler + 2 workers"
        results["camera"].append(dask_row)
    config = work / "config.toml"
    config.write_text("[metadata]\nenabled = false\n")
    cli = [sys.executable, "-m", "facesidecar", "scan", "-q", "--config", str(config)]
    cold, cold_peak = run_measured([*cli, str(fresh(camera))])

    print_table("camera-size photos (timed after each path loaded its model)", results["camera"], seeds["camera"])
    print_table("small portraits", results["portraits"], seeds["portraits"])
    default = results["camera"][2 if seeds["camera"] else 1]
    print(f"\nscaling on camera photos: engine.workers 1 (in process) -> 2 (local pool) {two.rate / one.rate:.2f}x")
    if not args.skip_dask:
        print(f"Dask cluster (2 workers) vs local pool (2 workers): {dask_row.rate / two.rate:.2f}x the local rate")
    print("CPU seconds per photo in the timed part (user + system; load-independent, unlike the rates):")
    for row in [r for r in results["camera"] if r.name.startswith("facesidecar")]:
        own, workers, cluster, idle = (1000 * c / max(row.photos, 1) for c in row.cpu)
        print(f"  {row.name:<44} scanning process {own:6.1f} ms, workers {workers:6.1f} ms"
              + (f", Dask processes (scheduler, nannies, workers) {cluster:6.1f} ms, {idle:5.1f} ms of it "
                 "idle ticking (their rate before the scan, over the scan's time)" if cluster else ""))
    print(f"'facesidecar scan' cold, start-up included: {cameras} camera photos in {cold:.1f} s "
          f"({cameras / cold:.2f} img/s), peak RSS of the process tree {cold_peak:.0f} MB")
    hours = 100_000 / default.rate / 3600
    print(f"projected first scan of 100 000 camera photos with the default config: {hours:.1f} h "
          f"({default.rate:.2f} img/s)")

    if args.tree:
        tree = work / "tree"
        make_tree(tree, args.tree)
        first, first_rss = run_measured([*cli, str(tree)])
        again, again_rss = run_measured([*cli, str(tree)])
        print(f"\ngenerated tree: {args.tree} photos; first scan {first:.1f} s (peak {first_rss:.0f} MB); "
              f"unchanged rescan {again:.2f} s (peak {again_rss:.0f} MB) -> 100 000 photos ≈ "
              f"{again * 100_000 / args.tree:.1f} s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
