"""The real daemon recomputing every cluster in the background (a library without clusters, as after
``reset``): an edit typed meanwhile is taken within seconds, and SIGTERM ends the daemon within 10 s.

The library (60 000 synthetic faces, built as bench/daemon_soak.py builds its own) needs about
1.8e9 distances for a full recomputation: far longer than the test waits."""

from __future__ import annotations

import random
import re
import signal
import time
from pathlib import Path

import pytest

from facesidecar.store.folder import FolderStore
from tests.support.daemon_soak import build_library, engine_model, write_config
from tests.support.edit_survival import DaemonRunner

from ..csvedit import type_name

WAIT_SECONDS = 3.0
"""How long an edit may wait before its job starts: debounce (0.3 s), settling (0.3 s), faces.csv
read once it stopped changing, and at most one slice of background work."""


def wait_for(path: Path, pattern: str, runner: DaemonRunner, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, path.read_text(errors="replace"), re.M):
        assert runner.running(), path.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, f"no {pattern!r} in the log:\n{path.read_text(errors='replace')[-3000:]}"
        time.sleep(0.2)


@pytest.mark.slow
def test_background_recomputation_yields_to_an_edit_and_to_sigterm(tmp_path):
    root = tmp_path / "library"
    build_library(root, 6000, random.Random(3), engine_model(), faces_per_photo=10)
    runner = DaemonRunner(tmp_path, write_config(tmp_path / "config.toml", root, 3000, metadata=False))
    log = tmp_path / "daemon.log"
    runner.start()
    try:
        wait_for(log, r"recomputing the clusters of 5\d{4} unnamed faces", runner)
        time.sleep(1.0)  # well into it
        folder = root / "000" / "00001"
        photo = next(p for _, p in sorted(FolderStore(folder).load().photos.items()) if not p.faces[0].name)
        typed = time.monotonic()
        type_name(folder, photo.file, 1, "Zed")
        while FolderStore(folder).load().photos[photo.file].faces[0].name != "Zed":
            assert time.monotonic() - typed < 60, log.read_text(errors="replace")[-3000:]
            time.sleep(0.05)
        edit_seconds = time.monotonic() - typed
        assert "clusters recomputed" not in log.read_text(errors="replace"), "the recomputation ended too soon"
        stopping = time.monotonic()
        runner.proc.send_signal(signal.SIGTERM)
        status = runner.proc.wait(60)
        stop_seconds = time.monotonic() - stopping
    finally:
        runner.kill()
    job_seconds = float(re.search(r"^INFO: names: .*00001: .*\(([0-9.]+) s\)$", log.read_text(errors="replace"),
                                  re.M).group(1))
    print(f"\nedit taken in {edit_seconds:.2f} s (its job {job_seconds:.1f} s), SIGTERM to exit {stop_seconds:.2f} s "
          "during the recomputation")
    assert status == 0 and "stopped (" in log.read_text(errors="replace")
    assert stop_seconds < 10, f"SIGTERM took {stop_seconds:.1f} s"
    assert edit_seconds - job_seconds < WAIT_SECONDS, f"the edit waited {edit_seconds - job_seconds:.1f} s for its job"
