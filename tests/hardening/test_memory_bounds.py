"""Rule 5 of issue 13: memory stays bounded by configuration, whatever the photo's bytes say.

Every bomb is made in code (tests/bombs.py), decoded in a fresh Python process, and the process's
peak resident memory (VmHWM) measured around the decode: a photo under ``engine.decode_memory_mb``
decodes within it, one over it is refused from its header before a pixel is allocated.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facesidecar.store.folder import FolderStore
from tests import bombs
from tests.hardening.helpers import PROJECT, put_photo, write_config

PEAK = """
import json, sys
from pathlib import Path
from facesidecar.errors import ImageError
from facesidecar.imaging import decode_photo

def peak_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024

before = peak_mb()
try:
    decoded = decode_photo(Path(sys.argv[1]), 4_000_000, 200_000_000, decode_memory_mb=int(sys.argv[2]))
    outcome = "decoded %dx%d" % (decoded.rgb.shape[1], decoded.rgb.shape[0])
except ImageError as exc:
    outcome = str(exc)
print(json.dumps({"peak_mb": peak_mb() - before, "outcome": outcome}))
"""


def decode_in_child(path: Path, decode_memory_mb: int) -> tuple[float, str]:
    """(peak MB the decode added to a fresh process, "decoded WxH" or the error)."""
    done = subprocess.run([sys.executable, "-c", PEAK, str(path), str(decode_memory_mb)], capture_output=True,
                          text=True, timeout=300, cwd=PROJECT, check=True)
    result = json.loads(done.stdout)
    return result["peak_mb"], result["outcome"]


# 20 megapixels each: the decoder before issue 13 took 130-550 MB for these (up to 27 bytes a pixel)
BOMBS = {
    "png-rgba16": lambda p: bombs.png_bomb(p / "b.png", 5000, 4000, "RGBA", 16),
    "png-la8": lambda p: bombs.png_bomb(p / "b.png", 5000, 4000, "LA", 8),
    "png-grey16": lambda p: bombs.png_bomb(p / "b.png", 5000, 4000, "L", 16),
    "png-rgb8": lambda p: bombs.png_bomb(p / "b.png", 5000, 4000, "RGB", 8),
    "tiff-rgba16-deflate": lambda p: bombs.tiff_bomb(p / "b.tif", 5000, 4000, 4, 16),
    "tiff-rgb16-deflate": lambda p: bombs.tiff_bomb(p / "b.tif", 5000, 4000, 3, 16),
    "tiff-float32-deflate": lambda p: bombs.tiff_bomb(p / "b.tif", 5000, 4000, 1, 32, sample_format=3),
    "tiff-grey16-deflate": lambda p: bombs.tiff_bomb(p / "b.tif", 5000, 4000, 1, 16),
}


@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_a_bomb_within_decode_memory_decodes_within_it(tmp_path, kind):
    peak, outcome = decode_in_child(BOMBS[kind](tmp_path), 420)
    assert outcome.startswith("decoded"), outcome
    assert peak <= 420, f"{kind}: decoding took {peak:.0f} MB, more than engine.decode_memory_mb allowed"


@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_a_bomb_over_decode_memory_is_refused_before_decoding(tmp_path, kind):
    peak, outcome = decode_in_child(BOMBS[kind](tmp_path), 100)
    assert "more than engine.decode_memory_mb (100 MB); not decoded" in outcome
    assert str(tmp_path) in outcome
    assert peak < 40, f"{kind}: refusing took {peak:.0f} MB"


@pytest.mark.parametrize("make", [
    lambda p: bombs.png_bomb(p / "huge.png", 14_000, 14_000, "RGBA", 16),
    lambda p: bombs.tiff_bomb(p / "huge.tif", 14_000, 14_000, 4, 16),
], ids=["png-rgba16", "tiff-rgba16-deflate"])
def test_a_bomb_just_under_pixel_limit_does_not_reach_gigabytes(tmp_path, make):
    """196 megapixels, under the default engine.pixel_limit: 1.5 MB on disk, 3 GB of 16-bit samples."""
    peak, outcome = decode_in_child(make(tmp_path), 768)
    assert "more than engine.decode_memory_mb (768 MB)" in outcome
    assert peak < 40


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def decoding(state: Path, photo: Path, pid: int | None = None) -> bool:
    """Whether a process (``pid`` if given) has marked ``photo`` as being decoded."""
    for mark in (state / "decoding").glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            entry = json.loads(mark.read_bytes())
            if entry["photo"] == str(photo) and pid in (None, entry["pid"]):
                return True
    return False


def photo_error(folder: Path, name: str) -> str:
    with contextlib.suppress(OSError, pickle.UnpicklingError):
        photo = FolderStore(folder).load().photos.get(name)
        return photo.error if photo is not None else ""
    return ""


@pytest.mark.slow
def test_a_photo_that_kills_the_daemon_is_recorded_as_an_error_not_retried_forever(tmp_path, shared_faces):
    """The kernel's OOM killer under the unit's MemoryMax sends SIGKILL: so does this test, twice,
    while the daemon decodes the same photo (a cgroup needs systemd, which this machine has not)."""
    from tests.support.edit_survival import DaemonRunner

    folder = tmp_path / "photos" / "a"
    folder.mkdir(parents=True)
    bomb = bombs.png_bomb(folder / "0_bomb.png", 6_000, 4_000, "RGB", 8)  # seconds to decode and detect
    for n in (1, 2):
        put_photo(folder / f"{n}.jpg", n)
    state = tmp_path / "state"
    config = write_config(tmp_path / "config.toml", tmp_path / "photos", metadata=False, state=state,
                          extra="[engine]\ndecode_memory_mb = 3000\n")
    runner = DaemonRunner(tmp_path, config)
    try:
        for _ in range(2):
            runner.start()
            wait_for(lambda: decoding(state, bomb, runner.proc.pid))
            assert runner.kill()
        runner.start()
        wait_for(lambda: photo_error(folder, "2.jpg") == "" and "stopped twice while decoding" in photo_error(folder, bomb.name)
                 and all(FolderStore(folder).load().photos.get(f"{n}.jpg") for n in (1, 2)))
        assert runner.running()
        assert not decoding(state, bomb)
        runner.stop()
    finally:
        runner.kill()
    assert FolderStore(folder).load().photos["1.jpg"].faces, "the other photos were scanned"
    assert "stopped twice while decoding" in (tmp_path / "daemon.log").read_text(errors="replace")
