"""The local worker pool (issue 18): real worker processes with the real dlib engine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from facesidecar.compose import assemble_scanner, build_scanner
from facesidecar.config import EngineSettings
from facesidecar.engines.dlib_engine import DlibEngine
from facesidecar.imaging import read_photo
from facesidecar.photojob import PhotoJob
from facesidecar.workers import LocalPool, worker_count

from .conftest import PROJECT
from .processes import sigint_default
from .scanlibrary import PHOTOS, assert_same_sidecars, copy_library, jobs_of, settings_for, sidecars

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_settle", "worker_pool")]

@pytest.fixture
def library(tmp_path, shared_faces) -> Path:
    return copy_library(tmp_path / "photos", shared_faces)


def test_pool_writes_the_same_sidecars_as_a_scan_in_one_process(tmp_path, library):
    single = tmp_path / "single"
    shutil.copytree(library, single)
    assemble_scanner(settings_for(single, 1), engine=DlibEngine(EngineSettings())).scan_paths([single])
    scanner = build_scanner(settings_for(library, 2))
    try:
        report = scanner.scan_paths([library])
    finally:
        scanner.close()
    assert report.scanned == len(PHOTOS) and len(report.errors) == 1
    assert_same_sidecars(sidecars(single), sidecars(library))
    assert sum(len(faces) for *_, faces in sidecars(library).values()) >= 13


def test_a_worker_killed_mid_scan_loses_no_photo(library):
    names = [n for n in PHOTOS if not n.startswith("corrupt")] * 2
    pool = LocalPool(EngineSettings(), workers=2)
    killed = []
    try:
        results = []
        for result in pool.run(jobs_of(library, names), lambda: False):
            results.append(result)
            if len(results) == 2 and not killed:
                victim = next(w for w in pool._workers if w.held)  # a worker holding photos
                os.kill(victim.process.pid, signal.SIGKILL)
                killed.append(victim.process.pid)
        assert killed and killed[0] not in pool.worker_pids() and pool.size == 2
    finally:
        pool.close()
    assert [r.key for r in results] == list(range(len(names)))
    assert not [r.error for r in results if r.error]
    counts = [len(r.faces) for r in results]
    assert counts[: len(names) // 2] == counts[len(names) // 2:] and sum(counts) >= 26


def test_a_photo_that_kills_its_worker_twice_is_an_error_and_the_pool_goes_on(library):
    """A worker is killed whenever it holds the one photo: retried once alone, then recorded as an error."""
    pool = LocalPool(EngineSettings(), workers=1)
    stop = threading.Event()

    def kill_holders():
        while not stop.wait(0.05):
            for worker in list(pool._workers):
                if worker.ready and worker.held:
                    os.kill(worker.process.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_holders)
    killer.start()
    try:
        [result] = list(pool.run(jobs_of(library, ["group/16.jpg"]), lambda: False))
        stop.set()
        killer.join()
        assert "died twice" in result.error and "group/16.jpg" in result.error and "SIGKILL" in result.error
        assert not result.faces
        [after] = list(pool.run([PhotoJob(99, read_photo(library / "group/16.jpg"))], lambda: False))
    finally:
        stop.set()
        killer.join()
        pool.close()
    assert not after.error and len(after.faces) == 3


def test_pool_size_follows_the_cores_and_the_memory_limit(library):
    assert worker_count(0) == len(os.sched_getaffinity(0)) and worker_count(3) == 3
    pool = LocalPool(EngineSettings(), workers=3, memory_limit_mb=1, own_rss=lambda: 0)
    try:
        results = list(pool.run(jobs_of(library, ["group/13.jpg", "group/16.jpg", "barack_obama/1.jpg"]),
                                lambda: False))
        assert pool.size == 1, "three workers of ~100 MB do not fit in 1 MB: one runs, none more"
    finally:
        pool.close()
    assert [len(r.faces) for r in results] == [7, 3, 1]
    assert all(r.peak_rss > 50 * 2**20 for r in results)


@pytest.fixture(scope="module")
def large_photos(tmp_path_factory, shared_faces) -> Path:
    """Twelve 27 MP group photos: seconds of work for two workers."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("large")
    with Image.open(shared_faces / "group/5.jpg") as group:
        large = group.convert("RGB").resize((6000, 4500))
    for n in range(12):
        large.save(folder / f"{n}.jpg", quality=85)
    return folder


def test_the_pool_retires_workers_when_measured_photo_peaks_no_longer_fit_the_memory_limit(library, large_photos):
    """The limit is set between what the workers measure at start and what a 27 MP photo makes them
    grow to: two fit while only the model is loaded, one once a worker reports that photo's peak."""
    probe = LocalPool(EngineSettings(), workers=1)
    try:
        [small] = probe.run(jobs_of(library, ["barack_obama/1.jpg"]), lambda: False)
        [large] = probe.run(jobs_of(large_photos, ["0.jpg"]), lambda: False)
    finally:
        probe.close()
    assert large.peak_rss > small.peak_rss > 50 * 2**20, "peaks are measured (getrusage), not assumed"
    limit_mb = (small.peak_rss + large.peak_rss) // 2**20
    pool = LocalPool(EngineSettings(), workers=3, memory_limit_mb=limit_mb, own_rss=lambda: 0)
    try:
        results = list(pool.run(jobs_of(large_photos, ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]), lambda: False))
        assert len(pool._workers) <= 2, "a third worker never fitted"
        assert [w.retiring for w in pool._workers].count(False) == 1, "one worker of that peak fits the limit"
    finally:
        pool.close()
    assert [len(r.faces) for r in results] == [len(large.faces)] * 4


@pytest.mark.parametrize(("stop", "whom", "when"), [
    (signal.SIGINT, "scan", "analysing"),
    (signal.SIGINT, "group", "loading"),  # Ctrl-C at a terminal reaches the workers too, before they ignore it
    (signal.SIGTERM, "scan", "loading"),
    (signal.SIGTERM, "scan", "analysing"),
])
def test_ctrl_c_or_sigterm_stops_a_scan_with_workers_within_10_seconds(tmp_path, large_photos, stop, whom, when):
    """The real ``facesidecar scan`` and a real signal while its workers load the model or analyse
    large photos; no worker process stays."""
    root = shutil.copytree(large_photos, tmp_path / "photos")
    config = tmp_path / "config.toml"
    config.write_text("[metadata]\nenabled = false\n")
    scan = subprocess.Popen([sys.executable, "-m", "facesidecar", "scan", "-q", "--config", str(config), str(root)],
                            cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=sigint_default)
    me = psutil.Process(scan.pid)
    deadline = time.monotonic() + 120
    while not _workers(me) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _workers(me), "the scan started its worker processes"
    if when == "analysing":
        time.sleep(3)
    children = me.children(recursive=True)
    started = time.monotonic()
    (os.killpg if whom == "group" else os.kill)(scan.pid, stop)
    try:
        code = scan.wait(10)
    finally:
        scan.kill()
        scan.stderr.close()
    assert time.monotonic() - started < 10
    assert code == (130 if stop == signal.SIGINT else -signal.SIGTERM)
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not [p for p in alive if _running(p)], "processes of the scan outlived it by 10 s"


def _running(process: psutil.Process) -> bool:
    """Alive, not a zombie: the workers of a scan killed by SIGTERM end by themselves and are reaped by init."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _workers(scan: psutil.Process) -> list[psutil.Process]:
    """The scan's worker processes (not multiprocessing's resource tracker)."""
    found = []
    for child in scan.children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found
