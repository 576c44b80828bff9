"""Shared fixtures: where the test photos are, photos analysed in-process, thread-leak and
stray-process checks, sidecar reads without waiting."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from facesidecar.config import STATE_ENV, WORKERS_ENV
from facesidecar.store import folder as folder_module

from .fake_engine import FakeEngine
from .processes import SESSION_MARK, end_strays

PROJECT = Path(__file__).resolve().parents[1]
TEST_DATA = Path(__file__).resolve().parent / "data"
FACES = TEST_DATA / "faces"

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
"""Property tests run a modest number of examples in the suite; HYPOTHESIS_PROFILE=thorough for a long hunt."""


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    """The photo set with ground truth, carried in the repository (tests/data/faces, see SOURCES.md)."""
    assert (FACES / "labels.csv").is_file(), f"test photos missing at {FACES}: the checkout is incomplete"
    return FACES


@pytest.fixture(scope="session", autouse=True)
def default_state_dir(tmp_path_factory):
    """Settings without a state_dir use a temporary folder, never the machine's /var/lib/facesidecar
    (inherited by the commands and daemons the tests start)."""
    path = tmp_path_factory.mktemp("default-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STATE_ENV, str(path))
        yield path


@pytest.fixture(scope="session", autouse=True)
def detection_in_process():
    """Every scanner of the suite, in the test's process and in the commands and daemons it starts,
    analyses photos itself (``engine.workers = 1`` by default): a pool per ``facesidecar scan`` would
    load the model once per core and per command, minutes over the suite. The tests of the pool and
    the cluster ask for real workers (``worker_pool``); a config that sets ``engine.workers`` wins."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(WORKERS_ENV, "1")
        yield


@pytest.fixture(scope="session", autouse=True)
def no_stray_processes():
    """Fail the run when a process a test started (a worker, a Dask scheduler or worker, exiftool, a
    daemon) outlives every test: such leftovers held CPU and ports that later tests waited for."""
    mark = str(os.getpid())
    os.environ[SESSION_MARK] = mark
    yield
    left = end_strays(mark)
    assert not left, "processes the tests started were still running at the end (now killed):\n" + "\n".join(left)


@contextlib.contextmanager
def default_workers() -> Iterator[None]:
    """The product's default again: worker processes, one per core (``engine.workers = 0``)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(WORKERS_ENV)
        yield


@pytest.fixture
def worker_pool() -> Iterator[None]:
    """This test's scans and daemons analyse photos in worker processes, as by default."""
    with default_workers():
        yield


@pytest.fixture
def fake_engine() -> FakeEngine:
    """The one stand-in for the face model (tests/fake_engine.py): the squares that tests/photos.py
    draws are faces, and similar colours are one person."""
    return FakeEngine()


@pytest.fixture
def no_settle(monkeypatch):
    """faces.csv is read at once instead of after it stopped changing for SETTLE_SECONDS: in these
    tests nobody is half-way through saving it (modules that edit faces.csv in-process use it)."""
    monkeypatch.setattr(folder_module, "SETTLE_SECONDS", 0.0)


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves non-daemon threads running (watchdog's conftest does the same)."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    for thread in leaked:
        thread.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads left running: {still}"
