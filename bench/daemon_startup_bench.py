"""Start-up of ``facesidecar watch`` on a big library where nothing changed: time and memory.

    .venv/bin/python bench/daemon_startup_bench.py [--files 100000] [--per-folder 100] [--dir /tmp/fs-bench]

Generates small distinct JPEGs (no faces) in many folders, runs one full scan so every folder has
its sidecars, then starts the daemon (real observers, real scanner) and measures how long it takes
until the start-up catch-up has found that nothing changed, and the process's resident memory.
The generated tree is kept between runs (delete the folder to regenerate).
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import threading
import time
from pathlib import Path

import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facesidecar.compose import build_scanner  # noqa: E402
from facesidecar.config import DaemonSettings, MetadataSettings, RootSettings, Settings  # noqa: E402
from facesidecar.daemon import Daemon  # noqa: E402
from facesidecar.sdnotify import Notifier  # noqa: E402


def tiny_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 90, 60)).save(buffer, "JPEG", quality=50)
    return buffer.getvalue()


def generate(root: Path, files: int, per_folder: int) -> int:
    """``files`` distinct JPEGs (a numbered COM segment makes each unique), ``per_folder`` per folder."""
    base = tiny_jpeg()
    written = 0
    for index in range(files):
        folder = root / f"y{index // (per_folder * 100):03d}" / f"f{index // per_folder:05d}"
        if index % per_folder == 0:
            folder.mkdir(parents=True, exist_ok=True)
        comment = f"bench photo {index}".encode()
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        (folder / f"IMG_{index:06d}.jpg").write_bytes(base[:2] + segment + base[2:])
        written += 1
    return written


class RssSampler:
    """Peak resident memory of this process, sampled every 50 ms on its own thread."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler")

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def mb(value: int) -> str:
    return f"{value / 2**20:.0f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--per-folder", type=int, default=100)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/fs-bench"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")

    root = args.dir / f"library-{args.files}"
    settings = Settings(
        roots=[RootSettings(path=str(root))],
        state_dir=str(args.dir / "state"),
        metadata=MetadataSettings(enabled=False),
        daemon=DaemonSettings(nice=0, memory_limit_mb=0),
    )
    if not (root / ".generated").exists():
        started = time.monotonic()
        count = generate(root, args.files, args.per_folder)
        print(f"generated {count} files in {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        scanner = build_scanner(settings)
        report = scanner.scan_paths([root])
        scanner.close()
        print(f"first full scan: {report.photos} photos, {report.folders} folders, {len(report.errors)} errors "
              f"in {time.monotonic() - started:.1f} s")
        (root / ".generated").touch()

    rss_before = psutil.Process().memory_info().rss
    with RssSampler() as sampler:
        started = time.monotonic()
        with Daemon(settings, notifier=Notifier(None)) as daemon:
            observers_ready = time.monotonic() - started
            if not daemon.worker.wait_idle(3600):
                print("catch-up did not finish within an hour")
                return 1
            caught_up = time.monotonic() - started
    rss_after = psutil.Process().memory_info().rss
    folders = sum(1 for _ in root.glob("y*/f*"))
    print(f"daemon start-up, nothing changed: {args.files} files in {folders} folders")
    print(f"  observers + lock ready: {observers_ready:.1f} s")
    print(f"  catch-up finished:      {caught_up:.1f} s  ({args.files / caught_up:.0f} files/s)")
    print(f"  jobs: {daemon.worker.jobs_done}, errors: {daemon.worker.errors}")
    print(f"  RSS: {mb(rss_before)} before, peak {mb(sampler.peak)}, {mb(rss_after)} after stop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
