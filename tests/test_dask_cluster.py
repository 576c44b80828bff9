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
from facesidecar.adapters.dask_cluster import security as dask_security  # noqa: E402
from facesidecar.compose import assemble_scanner, build_scanner  # noqa: E402
from facesidecar.config import ClusterSettings, EngineSettings  # noqa: E402
from facesidecar.engines.dlib_engine import DlibEngine  # noqa: E402
from facesidecar.photojob import InlineExecutor, engines_for  # noqa: E402

from .scanlibrary import PHOTOS, assert_same_sidecars, copy_library, jobs_of, settings_for, sidecars  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_settle", "worker_pool")]

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_certificates(folder: Path) -> Path:
    """A CA and the certificates it signs for the scheduler, a worker and a client, plus a stranger's
    certificate from another CA, made with the openssl command as README 'Using more machines' says."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed (apt-get install openssl)")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=facesidecar {ca}",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem")
    for name, ca in (("scheduler", "ca"), ("worker", "ca"), ("client", "ca"), ("stranger", "other-ca")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                "-out", f"{name}.csr")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
                "-days", "2", "-out", f"{name}.pem")
    return folder


def tls_settings(certificates: Path, name: str, scheduler: str = "") -> ClusterSettings:
    """``[cluster]`` of a machine holding ``name``'s certificate, trusting the cluster's CA."""
    return ClusterSettings(scheduler=scheduler, tls_ca_file=str(certificates / "ca.pem"),
                           tls_client_cert=str(certificates / f"{name}.pem"),
                           tls_client_key=str(certificates / f"{name}.key"), require_encryption=True)


class Cluster:
    """One scheduler and one ``facesidecar worker`` with ``workers`` worker processes, all on 127.0.0.1;
    with ``certificates`` every connection is TLS, the worker's files coming from its config file."""

    def __init__(self, folder: Path, workers: int = 2, certificates: Path | None = None):
        port = str(free_port())
        self.address = f"{'tls' if certificates else 'tcp'}://127.0.0.1:{port}"
        scheduler_tls, worker_config = [], []
        self.client = ClusterSettings(scheduler=self.address)
        """``[cluster]`` of a machine that scans through this cluster."""
        if certificates is not None:
            scheduler_tls = ["--protocol", "tls", "--tls-ca-file", str(certificates / "ca.pem"),
                             "--tls-cert", str(certificates / "scheduler.pem"),
                             "--tls-key", str(certificates / "scheduler.key")]
            settings = tls_settings(certificates, "worker")
            (folder / "worker.toml").write_text(
                "[cluster]\n" + "".join(f'{key} = "{getattr(settings, key)}"\n'
                                        for key in ("tls_ca_file", "tls_client_cert", "tls_client_key"))
                + "require_encryption = true\n")
            worker_config = ["--config", str(folder / "worker.toml")]
            self.client = tls_settings(certificates, "client", self.address)
        self.log = (folder / "cluster.log").open("wb")
        self.scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", port,
                                           "--no-dashboard", *scheduler_tls], stdout=self.log, stderr=self.log, cwd=folder)
        self.worker = subprocess.Popen([sys.executable, "-m", "facesidecar", "worker", self.address, "--nworkers",
                                        str(workers), "--host", "127.0.0.1", *worker_config],
                                       stdout=self.log, stderr=self.log, cwd=folder)
        with distributed.Client(self.address, timeout=60, set_as_default=False,
                                security=dask_security(self.client)) as client:
            client.wait_for_workers(workers, timeout=180)

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


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    return make_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory, certificates):
    running = Cluster(tmp_path_factory.mktemp("dask-tls"), workers=1, certificates=certificates)
    yield running
    running.close()


@pytest.mark.parametrize("which", ["cluster", "tls_cluster"])
def test_a_scan_through_the_cluster_equals_a_local_scan(tmp_path, library, which, request):
    """Over plain TCP, and over TLS with real certificates of one CA and ``require_encryption``."""
    cluster = request.getfixturevalue(which)
    local = tmp_path / "local"
    shutil.copytree(library, local)
    assemble_scanner(settings_for(local, 1), engine=DlibEngine(EngineSettings())).scan_paths([local])
    settings = settings_for(library, 1)
    settings.cluster = cluster.client
    scanner = build_scanner(settings)
    try:
        report = scanner.scan_paths([library])
        assert isinstance(scanner.detector.executor, ClusterExecutor) and not scanner.detector.executor.fell_back
        assert scanner.detector.executor._local is None, "no local worker process was started"
    finally:
        scanner.close()
    assert report.scanned == len(PHOTOS) and len(report.errors) == 1
    assert_same_sidecars(sidecars(local), sidecars(library))


def test_a_machine_whose_certificate_another_ca_signed_is_refused_and_told_why(library, tls_cluster, certificates,
                                                                               caplog):
    stranger = tls_settings(certificates, "stranger", tls_cluster.address)
    here = EngineSettings()
    executor = ClusterExecutor(stranger, here, local=lambda: InlineExecutor(here, lambda: engines_for(here)))
    try:
        with caplog.at_level(logging.WARNING, logger="facesidecar"):
            [result] = list(executor.run(jobs_of(library, ["barack_obama/1.jpg"]), lambda: False))
    finally:
        executor.close()
    assert executor.fell_back and len(result.faces) == 1
    [said] = [r.getMessage() for r in caplog.records if "Dask scheduler" in r.getMessage()]
    assert "do not trust each other's certificates" in said and "stranger.pem" in said and "ca.pem" in said


def test_dask_workers_keep_glibc_s_allocator_defaults_and_do_not_profile(cluster):
    """Not the nanny's MALLOC_TRIM_THRESHOLD_, which made each photo cost some 20 % more CPU, and no
    statistical profiler sampling every 10 ms."""
    workers = cluster.worker_processes()
    assert workers and all("MALLOC_TRIM_THRESHOLD_" not in w.environ() for w in workers)
    assert all(w.environ().get("DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED") == "False" for w in workers)


def test_the_worker_command_refuses_a_tls_scheduler_without_certificates(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[cluster]\ntls_ca_file = "/etc/facesidecar/ca.pem"\n')
    done = subprocess.run([sys.executable, "-m", "facesidecar", "worker", "tls://127.0.0.1:9", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "set cluster.tls_client_cert, cluster.tls_client_key" in done.stderr and "README" in done.stderr


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
