"""Peak memory on decompression bombs and amplifying faces.pkl files: facesidecar against a plain peer.

    .venv/bin/python bench/bomb_bench.py

Every bomb is made in code (tests/bombs.py) and opened in a fresh Python process whose peak
resident memory (VmHWM) is measured around the one call. facesidecar: ``imaging.decode_photo``
with the default ``engine.decode_memory_mb`` and ``engine.pixel_limit``, ``store.pklfile.loads_state``.
The peer, in the same run: what a program does without these bounds, Pillow's ``open().convert("RGB")``
and ``thumbnail`` (with the same pixel limit), and ``pickle.loads`` followed by
``FolderState.from_plain``. The peer runs under an address-space limit (``--peer-limit-mb``) so that
it fails with MemoryError instead of taking the machine: "> N MB" then means it wanted more.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests import bombs  # noqa: E402 - the bombs live with the tests that use them

PHOTO_BOMBS = {
    "PNG RGBA 16-bit 20 MP": lambda d: bombs.png_bomb(d / "a.png", 5000, 4000, "RGBA", 16),
    "PNG grey 16-bit 20 MP": lambda d: bombs.png_bomb(d / "b.png", 5000, 4000, "L", 16),
    "TIFF float32 deflate 20 MP": lambda d: bombs.tiff_bomb(d / "c.tif", 5000, 4000, 1, 32, sample_format=3),
    "PNG RGBA 16-bit 196 MP": lambda d: bombs.png_bomb(d / "d.png", 14_000, 14_000, "RGBA", 16),
    "TIFF RGBA 16-bit deflate 196 MP": lambda d: bombs.tiff_bomb(d / "e.tif", 14_000, 14_000, 4, 16),
}

CHILD = """
import json, sys
from pathlib import Path

def peak_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024

kind, who, target = sys.argv[1:4]
import pickle
import numpy as np
from PIL import Image
from facesidecar.config import EngineSettings
from facesidecar.imaging import decode_photo
from facesidecar.model import FolderState
from facesidecar.store.pklfile import loads_state
from tests import bombs
engine = EngineSettings()
data = bombs.PKL_BOMBS[target]() if kind == "pkl" else None
before = peak_mb()
try:
    if kind == "photo" and who == "facesidecar":
        decode_photo(Path(target), engine.max_image_pixels, engine.pixel_limit, decode_memory_mb=engine.decode_memory_mb)
    elif kind == "photo":
        Image.MAX_IMAGE_PIXELS = engine.pixel_limit
        image = Image.open(target).convert("RGB")
        image.thumbnail((2000, 2000))
    elif who == "facesidecar":
        loads_state(data)
    else:
        FolderState.from_plain(pickle.loads(data))
    outcome = "loaded"
except MemoryError:
    outcome = "MemoryError"
except Exception as exc:  # noqa: BLE001 - the outcome is reported, whatever it is
    outcome = "refused" if who == "facesidecar" else type(exc).__name__
print(json.dumps({"peak_mb": peak_mb() - before, "outcome": outcome}))
"""


def measure(kind: str, who: str, target: str, limit_mb: int) -> tuple[str, float]:
    """(what happened, peak MB) of one call in a fresh process; the peer under ``limit_mb`` of address space."""
    def limit() -> None:
        if who == "peer":
            resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))

    done = subprocess.run([sys.executable, "-c", CHILD, kind, who, target], capture_output=True, text=True,
                          cwd=PROJECT, preexec_fn=limit, timeout=600)
    if done.returncode != 0 or not done.stdout.strip():
        return (f"> {limit_mb} MB (died)" if who == "peer" else f"crashed: {done.stderr.strip()[-200:]}"), float(limit_mb)
    result = json.loads(done.stdout)
    if result["outcome"] == "MemoryError" and who == "peer":
        return f"> {limit_mb} MB (MemoryError)", float(limit_mb)
    return f"{result['peak_mb']:7.0f} MB ({result['outcome']})", result["peak_mb"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-limit-mb", type=int, default=6000, help="address-space limit of the peer")
    args = parser.parse_args()
    print(f"{'bomb':34} {'on disk':>9}   {'facesidecar':22} peer (same run)")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for label, make in PHOTO_BOMBS.items():
            path = make(Path(tmp))
            ours, peak = measure("photo", "facesidecar", str(path), args.peer_limit_mb)
            peer, _ = measure("photo", "peer", str(path), args.peer_limit_mb)
            worst = max(worst, peak)
            print(f"{label:34} {path.stat().st_size / 1e6:7.1f} MB   {ours:22} {peer}", flush=True)
            path.unlink()
    for kind, make in bombs.PKL_BOMBS.items():
        ours, peak = measure("pkl", "facesidecar", kind, args.peer_limit_mb)
        peer, _ = measure("pkl", "peer", kind, args.peer_limit_mb)
        worst = max(worst, peak)
        print(f"{'faces.pkl ' + kind:34} {len(make()) / 1e6:7.2f} MB   {ours:22} {peer}", flush=True)
    print(f"worst facesidecar peak over all bombs: {worst:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
