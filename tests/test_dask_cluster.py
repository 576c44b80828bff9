"""Scans through a real Dask cluster on 127.0.0.1: ``dask scheduler`` and ``facesidecar worker`` processes (issue 18)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

distributed = pytest.importorskip("distributed")

from facesidecar.adapters.dask_cluster import ClusterExecutor  # noqa: E402
from facesidecar.compose import assemble_scanner, build_scanner  # noqa: E402
from facesidecar.config import ClusterSettings, EngineSettings  # noqa: E402
from facesidecar.engines.dlib_engine import DlibEngine  # noqa: E402

from .scanlibrary import PHOTOS, assert_same_sidecars, copy_library, jobs_of, settings_for, sidecars  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_settle", "worker_pool")]

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """One scheduler and one ``facesidecar worker`` with two worker processes, all on 127.0.0.1."""

    def __init__(self, folder: Path):
        self.address = f"tcp://127.0.0.1:{free_port()}"
        port = self.address.rsplit(":", 1)[1]
        self.log = (folder / "cluster.log").open("wb")
        self.scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", port,
                                           "--no-dashboard"], stdout=self.log, stderr=self.log, cwd=folder)
        self.worker = subprocess.Popen([sys.executable, "-m", "facesidecar", "worker", self.address, "--nworkers", "2",
                                        "--host", "127.0.0.1"], stdout=self.log, stderr=self.log, cwd=folder)
        with distributed.Client(self.address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=180)

    def worker_processes(self) -> list[psutil.Process]:
        """The two Dask worker processes (children of the nannies' process)."""
        return [p for p in psutil.Process(self.worker.pid).children() if "resource_tracker" not in " ".join(p.cmdline())]

    def close(self) -> None:
        for proc in (self.worker, self.scheduler):
            proc.send_signal(signal.SIGINT)
        for proc in (self.worker, self.scheduler):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.log.close()


@pytest.fixture
def library(tmp_path, shared_faces) -> Path:
    return copy_library(tmp_path / "photos", shared_faces)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("dask"))
    yield running
    running.close()


def test_a_scan_through_the_cluster_equals_a_local_scan(tmp_path, library, cluster):
    local = tmp_path / "local"
    shutil.copytree(library, local)
    assemble_scanner(settings_for(local, 1), engine=DlibEngine(EngineSettings())).scan_paths([local])
    settings = settings_for(library, 1)
    settings.cluster.scheduler = cluster.address
    scanner = build_scanner(settings)
    try:
        report = scanner.scan_paths([library])
        assert isinstance(scanner.detector.executor, ClusterExecutor) and not scanner.detector.executor.fell_back
        assert scanner.detector.executor._local is None, "no local worker process was started"
    finally:
        scanner.close()
    assert report.scanned == len(PHOTOS) and len(report.errors) == 1
    assert_same_sidecars(sidecars(local), sidecars(library))


def test_a_dask_worker_killed_mid_scan_loses_no_photo(library, cluster):
    names = [n for n in PHOTOS if not n.startswith("corrupt")] * 2
    executor = ClusterExecutor(ClusterSettings(scheduler=cluster.address), EngineSettings(), local=_no_local)
    victims = cluster.worker_processes()
    assert len(victims) == 2
    try:
        results = []
        for result in executor.run(jobs_of(library, names), lambda: False):
            results.append(result)
            if len(results) == 2:
                victims[0].send_signal(signal.SIGKILL)
        assert not executor.fell_back
    finally:
        executor.close()
    assert [r.key for r in results] == list(range(len(names)))
    assert not [r.error for r in results if r.error]
    counts = [len(r.faces) for r in results]
    assert counts[: len(names) // 2] == counts[len(names) // 2:] and sum(counts) >= 26
    with distributed.Client(cluster.address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=180)  # the nanny started another: the next test has two again


def test_a_scheduler_that_is_down_falls_back_to_local_workers_and_says_so_once(tmp_path, library, caplog):
    local = tmp_path / "local"
    shutil.copytree(library, local)
    assemble_scanner(settings_for(local, 1), engine=DlibEngine(EngineSettings())).scan_paths([local])
    settings = settings_for(library, 2)
    settings.cluster.scheduler = f"tcp://127.0.0.1:{free_port()}"
    settings.cluster.connect_timeout = 2.0
    scanner = build_scanner(settings)
    try:
        with caplog.at_level(logging.WARNING, logger="facesidecar"):
            report = scanner.scan_paths([library])
            (library / "group" / "13.jpg").touch()
            os.utime(library / "group" / "13.jpg", (1, 1))
            scanner.scan_paths([library])
        # the local pool of the configured 2 workers took over (the second starts only while photos wait)
        assert scanner.detector.executor.fell_back and scanner.detector.executor.local.wanted == 2 and scanner.detector.executor.local.size >= 1
    finally:
        scanner.close()
    assert report.scanned == len(PHOTOS) and len(report.errors) == 1
    assert_same_sidecars(sidecars(local), sidecars(library))
    said = [r.getMessage() for r in caplog.records if "Dask scheduler" in r.getMessage()]
    assert len(said) == 1 and "analysing photos on this machine instead" in said[0]


def _no_local():
    raise AssertionError("the cluster was up: nothing may run locally")


def test_worker_command_starts_dask_workers_with_the_model_preloaded():
    from argparse import Namespace

    from facesidecar.cli.worker import dask_worker_command
    from facesidecar.config import Settings

    settings = Settings()
    settings.cluster.tls_ca_file = "/etc/facesidecar/ca.pem"
    command = dask_worker_command(Namespace(scheduler="tls://home:8786", nworkers=3, host="", name="desk"), settings)
    assert command[:4] == [sys.executable, "-m", "distributed.cli.dask_worker", "tls://home:8786"]
    text = " ".join(command)
    assert "--nworkers 3 --nthreads 1" in text and "--preload facesidecar.adapters.dask_preload" in text
    assert "--tls-ca-file /etc/facesidecar/ca.pem" in text and "--name desk" in text
