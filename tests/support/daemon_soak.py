"""The daemon soak (bench/daemon_soak.py runs it big, tests/hardening/test_resources.py small): an
indexed library, a stream of changes, the daemon's memory sampled all along.
"""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facesidecar.model import Box, Face, PhotoState
from facesidecar.store.folder import FolderStore

from .edit_survival import DaemonRunner, source_photos

PER_FOLDER = 100
STOP_LIMIT = 10.0
"""Seconds from SIGTERM to the daemon's exit that fail the run (the promise of the unit file)."""
NAMES = [f"Person {i:03d}" for i in range(60)]


@dataclass
class SoakResult:
    files: int = 0
    folders: int = 0
    build_seconds: float = 0.0
    catchup_seconds: float = 0.0
    events: int = 0
    batches: int = 0
    samples: list = field(default_factory=list)  # (seconds since start, events done, rss MB)
    limit_mb: int = 0
    seconds: float = 0.0
    job_seconds: list = field(default_factory=list)
    """Per event: seconds until its folder showed it."""
    stop_seconds: float = 0.0

    def job_quantile(self, q: float) -> float:
        return float(np.quantile(self.job_seconds, q)) if self.job_seconds else 0.0

    def rss_after_catchup(self) -> list[float]:
        return [rss for _, events, rss in self.samples if events >= 0]

    def tenth(self, which: str) -> float:
        """Median RSS at the start (the second tenth of the events: the first warms up the engine,
        the gallery and the caches) or at the end (the last tenth) of the stream."""
        total = max(self.events, 1)
        low, high = (0.1, 0.2) if which == "first" else (0.9, 1.01)
        window = [rss for _, done, rss in self.samples if total * low <= done <= total * high]
        return statistics.median(window) if window else 0.0

    @property
    def peak(self) -> float:
        return max((rss for _, _, rss in self.samples), default=0.0)

    @property
    def growth(self) -> float:
        return self.tenth("last") - self.tenth("first")

    def curve(self, points: int = 6) -> str:
        after = [(done, rss) for _, done, rss in self.samples if done >= 0]
        if not after:
            return "(no samples)"
        step = max(1, len(after) // points)
        picked = after[::step][:points] + [after[-1]]
        return ", ".join(f"{done} ev: {rss:.0f} MB" for done, rss in picked)

    def line(self) -> str:
        return (f"files {self.files}, events {self.events}, RSS start {self.tenth('first'):.0f} MB, "
                f"end {self.tenth('last'):.0f} MB, growth {self.growth:+.0f} MB, peak {self.peak:.0f} MB "
                f"(limit {self.limit_mb} MB); catch-up {self.catchup_seconds:.0f} s, build {self.build_seconds:.0f} s, "
                f"total {self.seconds:.0f} s")


def tiny_jpeg(seed: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), (seed * 37 % 256, seed * 91 % 256, 120)).save(buffer, "JPEG", quality=60)
    return buffer.getvalue()


def engine_model() -> str:
    from facesidecar.config import Settings
    from facesidecar.engines import get_engine

    return get_engine(Settings().engine).model_name


def face_box(k: int, count: int) -> Box:
    """The box of face ``k`` of ``count`` in a photo: one face in the middle, more side by side."""
    if count == 1:
        return Box(0.25, 0.25, 0.5, 0.5)
    return Box(k % 10 * 0.1, k // 10 * 0.1 % 1.0, 0.08, 0.08)


def build_library(root: Path, files: int, rng: random.Random, model: str, faces_share: float = 1.0,
                  faces_per_photo: int = 1) -> int:
    """``files`` tiny photos in folders of PER_FOLDER, each folder already indexed; a share
    ``faces_share`` of them holds ``faces_per_photo`` faces (the others: landscapes, documents)."""
    from facesidecar.folders import file_sha256

    folders = (files + PER_FOLDER - 1) // PER_FOLDER
    made = 0
    vectors = np.random.default_rng(rng.randrange(2**32))
    for f in range(folders):
        folder = root / f"{f // 100:03d}" / f"{f:05d}"
        folder.mkdir(parents=True)
        data = tiny_jpeg(f)
        count = min(PER_FOLDER, files - made)
        with FolderStore(folder).transaction() as txn:
            for n in range(count):
                path = folder / f"img{n:03d}.jpg"
                path.write_bytes(data)
                info = path.stat()
                faces = [Face(face_id=f"f{f}-{n}-{k}" if k else f"f{f}-{n}", box=face_box(k, faces_per_photo),
                              encodings={model: vectors.standard_normal(128).astype(np.float32) * 0.05},
                              name=rng.choice(NAMES) if rng.random() < 0.1 else "")
                         for k in range(faces_per_photo)]
                txn.state.photos[path.name] = PhotoState(
                    file=path.name, size=info.st_size, mtime_ns=info.st_mtime_ns, sha256=file_sha256(path),
                    model=model, width=24, height=16, orientation=1, imported=True,
                    faces=faces if rng.random() < faces_share else [])
        made += count
    return folders


def write_config(path: Path, root: Path, limit_mb: int, metadata: bool) -> Path:
    path.write_text(
        f'state_dir = "{path.parent / "state"}"\n'
        f'[[roots]]\npath = "{root}"\n'
        f'[daemon]\ndebounce_seconds = 0.3\nstable_seconds = 0.3\nnice = 0\nlog_level = "debug"\n'
        f'memory_limit_mb = {limit_mb}\n'
        f'[metadata]\nenabled = {str(metadata).lower()}\n',
        encoding="utf-8",
    )
    return path


class Sampler(threading.Thread):
    def __init__(self, pid: int, result: SoakResult, progress):
        super().__init__(daemon=True, name="rss-sampler")
        import psutil

        self.process = psutil.Process(pid)
        self.result, self.progress = result, progress
        self.started = time.monotonic()
        self.stopped = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stopped.wait(0.5):
            try:
                rss = self.process.memory_info().rss / 2**20
            except psutil.Error:
                return
            self.result.samples.append((time.monotonic() - self.started, self.progress(), rss))


class Stream:
    """The steady stream of changes to the hot folders, and the check that the daemon took them."""

    def __init__(self, hot: list[Path], rng: random.Random, pool: list[Path]):
        self.hot, self.rng, self.pool = hot, rng, pool
        self.added: dict[Path, list[str]] = {folder: [] for folder in hot}
        self.typed: dict[Path, dict[str, str]] = {folder: {} for folder in hot}
        self.counter = 0

    def one(self) -> Path:
        """Make one change; returns its folder."""
        folder = self.rng.choice(self.hot)
        roll = self.rng.random()
        self.counter += 1
        if roll < 0.4 or not self.added[folder]:
            name = f"s{self.counter:06d}.jpg"
            tmp = folder / f".{name}.part"
            shutil.copyfile(self.rng.choice(self.pool), tmp)
            os.replace(tmp, folder / name)
            self.added[folder].append(name)
        elif roll < 0.7 and len(self.added[folder]) > 2:
            gone = self.added[folder].pop(0)
            (folder / gone).unlink()
            self.typed[folder].pop(gone, None)
        else:
            self.type_name(folder)
        return folder

    def type_name(self, folder: Path) -> None:
        path = folder / "faces.csv"
        lines = path.read_text(encoding="utf-8").split("\n")
        candidates = [i for i, line in enumerate(lines[1:], 1) if line.startswith("img")]
        if not candidates:
            return
        i = self.rng.choice(candidates)
        cells = lines[i].split(",")
        name = self.rng.choice(NAMES)
        cells[6] = name
        lines[i] = ",".join(cells)
        path.write_text("\n".join(lines), encoding="utf-8")
        self.typed[folder][cells[0]] = name

    def processed(self, folder: Path) -> bool:
        """Whether the daemon took every change made to the folder: its faces.pkl (what the daemon
        writes, not faces.csv, where the typed names are at once) holds the photos on disk and the names."""
        try:
            photos = FolderStore(folder).load().photos
        except Exception:  # noqa: BLE001 - being replaced right now: not processed yet
            return False
        if set(photos) != {p.name for p in folder.iterdir() if p.suffix == ".jpg"}:
            return False
        names = {file: photo.faces[0].name for file, photo in photos.items() if photo.faces}
        return all(names.get(file) == name for file, name in self.typed[folder].items())


def run(files: int = 2000, events: int = 300, hot: int = 8, batch: int = 20, limit_mb: int = 1500,
        metadata: bool = False, seed: int = 1, max_growth: float = 40.0, work: Path | None = None,
        log=print, faces_share: float = 1.0) -> SoakResult:
    rng = random.Random(seed)
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="daemon-soak-")) if own else work
    result = SoakResult(files=files, limit_mb=limit_mb)
    started = time.monotonic()
    runner = None
    try:
        root = work / "library"
        t0 = time.monotonic()
        result.folders = build_library(root, files, rng, engine_model(), faces_share)
        result.build_seconds = time.monotonic() - t0
        log(f"built {files} photos in {result.folders} folders ({result.build_seconds:.0f} s)")
        config = write_config(work / "config.toml", root, limit_mb, metadata)
        hot_folders = sorted(p for p in root.glob("*/*") if p.is_dir())[:hot]
        stream = Stream(hot_folders, rng, source_photos(40))
        done = {"events": -1}
        runner = DaemonRunner(work, config)
        t0 = time.monotonic()
        runner.start()
        sampler = Sampler(runner.proc.pid, result, lambda: done["events"])
        sampler.start()
        log_path = work / "daemon.log"
        while time.monotonic() - t0 < 3600:  # the start-up catch-up: "rescan" of the whole root
            text = log_path.read_text(errors="replace")
            if re.search(r"^(INFO|DEBUG): rescan: .*photos scanned", text, re.M):
                break
            if not runner.running():
                raise SystemExit(f"the daemon ended during its catch-up:\n{text[-3000:]}")
            time.sleep(0.5)
        result.catchup_seconds = time.monotonic() - t0
        log(f"catch-up done in {result.catchup_seconds:.0f} s")
        done["events"] = 0
        while done["events"] < events:
            sent: dict[Path, list[float]] = {}
            for _ in range(min(batch, events - done["events"])):
                sent.setdefault(stream.one(), []).append(time.monotonic())
            deadline = time.monotonic() + 1800
            while sent:
                for folder in [f for f in sent if stream.processed(f)]:
                    now = time.monotonic()
                    result.job_seconds += [now - t for t in sent.pop(folder)]
                if time.monotonic() > deadline or not runner.running():
                    raise SystemExit(f"the daemon did not process a batch:\n{log_path.read_text(errors='replace')[-3000:]}")
                time.sleep(0.05)
            done["events"] += min(batch, events - done["events"])
            result.batches += 1
            if result.batches % 50 == 0:
                log(f"... {done['events']} events, RSS {result.samples[-1][2] if result.samples else 0:.0f} MB")
        result.events = done["events"]
        time.sleep(1.0)
        sampler.stopped.set()
        sampler.join()
        t0 = time.monotonic()
        runner.stop()
        result.stop_seconds = time.monotonic() - t0
    finally:
        if runner is not None:
            runner.kill()
        if own:
            shutil.rmtree(work, ignore_errors=True)
    result.seconds = time.monotonic() - started
    return result
