"""Root locks between processes: a second run over the same photos waits or names the holder; the
daemon's catch-up waits for a scan; naming commands are not held up."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from facesidecar.runlock import RootLocks, RootsBusy

from .conftest import PROJECT

HOLD = """
import sys, time
from facesidecar.runlock import RootLocks
locks = RootLocks(sys.argv[1], "scan", "facesidecar scan " + sys.argv[2])
locks.acquire([sys.argv[2]])
print("held", flush=True)
sys.stdin.readline()
"""


class OtherProcess:
    """A separate process holding ``root`` (the kernel drops its lock when it ends)."""

    def __init__(self, state: Path, root: Path):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD, str(state), str(root)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)


@pytest.fixture
def holder(tmp_path):
    made = []

    def make(root: Path) -> OtherProcess:
        other = OtherProcess(tmp_path / "state", root)
        made.append(other)
        return other

    yield make
    for other in made:
        if other.proc.poll() is None:
            other.kill()


def test_an_overlapping_root_is_refused_with_the_holder_named(tmp_path, holder):
    (tmp_path / "photos" / "2019").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    other = holder(tmp_path / "photos")
    locks = RootLocks(tmp_path / "state", "scan")
    with pytest.raises(RootsBusy) as busy:
        locks.acquire([tmp_path / "photos" / "2019"], wait=False)
    message = str(busy.value)
    assert f"facesidecar scan {tmp_path / 'photos'} (pid {other.proc.pid}, scan of {tmp_path / 'photos'}" in message
    assert locks.acquire([tmp_path / "other"], wait=False), "a root elsewhere is free"
    locks.release()
    other.kill()  # killed, not released: its lock goes with it and its note is cleaned up
    assert locks.acquire([tmp_path / "photos"], wait=False)
    locks.release()
    assert not list((tmp_path / "state" / "roots").glob("*.json"))


def test_waiting_tells_once_and_goes_on_when_the_holder_is_done(tmp_path, holder):
    (tmp_path / "photos").mkdir()
    other = holder(tmp_path / "photos")
    told = []
    threading.Timer(1.5, other.release).start()
    started = time.monotonic()
    with RootLocks(tmp_path / "state", "scan") as locks:
        assert locks.acquire([tmp_path / "photos"], on_wait=told.append)
    assert len(told) == 1 and told[0][0].pid == other.proc.pid
    assert time.monotonic() - started >= 1.0


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facesidecar", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.fixture
def library(tmp_path) -> tuple[Path, Path]:
    """A root with one photo and a config (state in tmp_path/state, the root configured)."""
    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    (root / "a" / "1.jpg").write_bytes((PROJECT / "tests" / "data" / "faces" / "barack_obama" / "1.jpg").read_bytes())
    config = tmp_path / "c.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n[[roots]]\npath = "{root}"\n[metadata]\nenabled = false\n')
    return root, config


def test_a_second_scan_waits_for_the_first_or_names_it(tmp_path, holder, library):
    root, config = library
    other = holder(root)
    refused = run_cli("scan", "--no-wait", "--config", str(config), str(root / "a"), cwd=tmp_path)
    assert refused.returncode == 1 and f"(pid {other.proc.pid}, scan of {root}" in refused.stderr
    assert not (root / "a" / "faces.csv").exists(), "nothing was done twice"

    named = run_cli("name", "--config", str(config), str(root / "a" / "1.jpg"), "1", "Barack", cwd=tmp_path)
    assert named.returncode == 1 and "scan" in named.stderr, "naming is not held up (the photo is simply not scanned yet)"

    waiting = subprocess.Popen([sys.executable, "-m", "facesidecar", "scan", "--config", str(config), str(root)],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=tmp_path)
    first = waiting.stderr.readline()
    assert f"waiting for facesidecar scan {root} (pid {other.proc.pid}" in first
    assert not (root / "a" / "faces.csv").exists(), "it waits while the other scan runs"
    other.release()
    rest = waiting.stderr.read()
    assert waiting.wait(300) == 0, rest
    assert (root / "a" / "faces.csv").exists()


def test_naming_works_while_a_scan_holds_the_root(tmp_path, holder, library):
    root, config = library
    assert run_cli("scan", "--config", str(config), cwd=tmp_path).returncode == 0
    holder(root)
    named = run_cli("name", "--config", str(config), str(root / "a" / "1.jpg"), "1", "Barack Obama", cwd=tmp_path)
    assert named.returncode == 0, named.stderr
    assert "Barack Obama" in (root / "a" / "faces.csv").read_text()
