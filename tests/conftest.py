"""Shared fixtures: where the shared photos are, a thread-leak check."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED_FACES = PROJECT.parent / "shared" / "testdata" / "faces"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    """The shared photo set with ground truth; tests that need all of it skip loudly without it."""
    if not (SHARED_FACES / "labels.csv").is_file():
        pytest.skip(f"shared test photos not found at {SHARED_FACES}")
    return SHARED_FACES


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
