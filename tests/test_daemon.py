"""The daemon: queue, worker, lock, memory guard (with a fake scanner), then the real thing.

The last part runs ``facesidecar watch`` as a subprocess with the real scanner: real signals, a
fake NOTIFY_SOCKET bound by the test, and a real WebDAV server (wsgidav + cheroot) through which a
client uploads in slow chunks, edits faces.csv, moves and deletes, as a desktop does.
"""

from __future__ import annotations

import csv
import http.client
import importlib.util
import io
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from facesidecar import daemon as daemon_module
from facesidecar.compose import assemble_scanner
from facesidecar.config import DaemonSettings, RootSettings, Settings, with_roots
from facesidecar.daemon import Daemon, InstanceLock, JobQueue, MemoryGuard, Worker
from facesidecar.errors import FacesidecarError
from facesidecar.model import ScanReport
from facesidecar.sdnotify import Notifier
from facesidecar.watcher import Job, Priority

from .photos import make_photo

PROJECT = Path(__file__).resolve().parents[1]
PYTHON = PROJECT / ".venv" / "bin" / "python"
HAS_METADATA = importlib.util.find_spec("facesidecar.adapters.exiftool.writer") is not None


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s: {predicate}")


def folders(*names: str) -> frozenset[Path]:
    return frozenset(Path("/p") / n for n in names)


# -- the queue -------------------------------------------------------------------------------------
def test_queue_orders_csv_edits_then_photos_then_rescans():
    queue = JobQueue(10)
    queue.put(Job(Priority.RESCAN, trees=folders("root")))
    queue.put(Job(Priority.PHOTO, folders=folders("a")))
    queue.put(Job(Priority.CSV, folders=folders("b"), csv_only=True))
    queue.put(Job(Priority.PHOTO, folders=folders("c")))
    order = [queue.get(0).keys for _ in range(4)]
    assert order == [folders("b"), folders("a"), folders("c"), folders("root")]
    assert queue.get(0) is None


def test_queue_keeps_one_job_per_folder():
    queue = JobQueue(10)
    queue.put(Job(Priority.PHOTO, folders=folders("a")))
    queue.put(Job(Priority.PHOTO, folders=folders("b")))
    queue.put(Job(Priority.CSV, folders=folders("a"), csv_only=True))
    queue.put(Job(Priority.PHOTO, folders=folders("b", "c")))
    assert len(queue) == 2 and queue.folders == 3
    first = queue.get(0)
    assert first.folders == folders("a") and first.priority is Priority.CSV and not first.csv_only
    assert queue.get(0).folders == folders("b", "c")


def test_full_queue_waits_but_merges_and_forced_puts_pass():
    queue = JobQueue(1)
    assert queue.put(Job(Priority.PHOTO, folders=folders("a")))
    assert not queue.put(Job(Priority.PHOTO, folders=folders("b")), timeout=0.1)
    assert queue.put(Job(Priority.CSV, folders=folders("a")), timeout=0.1)  # merges: no room needed
    assert queue.put(Job(Priority.RESCAN, trees=folders("r")), force=True)
    assert len(queue) == 2


def test_closing_the_queue_wakes_a_waiting_get():
    queue = JobQueue(1)
    results = []
    thread = threading.Thread(target=lambda: results.append(queue.get(timeout=10)))
    thread.start()
    time.sleep(0.05)
    queue.close()
    thread.join(2)
    assert results == [None]


# -- small parts -----------------------------------------------------------------------------------
def test_instance_lock_allows_one_daemon_per_config(tmp_path):
    settings = Settings(state_dir=str(tmp_path / "state"))
    first = InstanceLock.for_settings(settings, str(tmp_path / "config.toml"))
    first.acquire()
    try:
        with pytest.raises(FacesidecarError, match=f"pid {os.getpid()}"):
            InstanceLock.for_settings(settings, str(tmp_path / "config.toml")).acquire()
        other = InstanceLock.for_settings(settings, str(tmp_path / "other.toml"))
        other.acquire()
        other.release()
    finally:
        first.release()
    again = InstanceLock.for_settings(settings, str(tmp_path / "config.toml"))
    again.acquire()
    again.release()


def test_memory_guard_uses_the_limit():
    guard = MemoryGuard(100, rss=lambda: 150 * 2**20)
    assert guard.over() and round(guard.used_mb()) == 150
    assert not MemoryGuard(200, rss=lambda: 150 * 2**20).over()
    assert not MemoryGuard(0, rss=lambda: 150 * 2**20).over()  # 0 switches the guard off


# -- the worker with a fake scanner ----------------------------------------------------------------
class FakeScanner:
    """Records calls; ``process_folders`` can pretend to work through ``photos`` photos."""

    mirror = None

    def __init__(self, calls: list, should_stop: Callable[[], bool], photos: int = 0, delay: float = 0.0,
                 errors: list | None = None, fail: bool = False):
        self.calls, self.should_stop = calls, should_stop
        self.photos, self.delay, self.errors, self.fail = photos, delay, errors or [], fail

    def scan_paths(self, paths):
        self.calls.append(("scan", tuple(paths)))
        return ScanReport()

    def process_folders(self, folders, csv_only=False):
        self.calls.append(("process", tuple(folders), csv_only))
        if self.fail:
            raise RuntimeError("bug in one folder")
        done = 0
        for _ in range(self.photos):
            if self.should_stop():
                break
            time.sleep(self.delay)
            done += 1
        self.calls.append(("done", tuple(folders), done))
        return ScanReport(scanned=done, errors=list(self.errors))

    def background_step(self) -> bool:
        return False

    def close(self):
        self.calls.append(("close",))


def fake_factory(calls: list, **options) -> Callable:
    return lambda settings, should_stop: FakeScanner(calls, should_stop, **options)


@pytest.fixture
def worker_parts():
    calls: list = []
    queue = JobQueue(100)
    made = []

    def make(**options) -> Worker:
        worker = Worker(queue, Settings(), fake_factory(calls, **options), MemoryGuard(0))
        made.append(worker)
        return worker

    yield calls, queue, make
    for worker in made:
        worker.stop()


def test_worker_runs_jobs_and_counts_errors(worker_parts):
    calls, queue, make = worker_parts
    worker = make(errors=[("/p/a/x.jpg", "cannot decode")])
    queue.put(Job(Priority.PHOTO, folders=folders("a")))
    worker.start()
    assert worker.wait_idle(5)
    worker.stop()
    assert calls[0] == ("process", (Path("/p/a"),), False)
    assert worker.errors == 1 and worker.jobs_done == 1
    assert calls[-1] == ("close",)  # the scanner is closed on the worker thread at the end


def test_the_worker_logs_each_error_of_a_real_scan_once(tmp_path, caplog, no_settle, fake_engine):
    """The stage that meets an error logs it; the worker counts it for ``status`` without a second line."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "broken.jpg").write_bytes(b"not a photo at all")
    make_photo(tmp_path / "a" / "fine.png", ((200, 0, 0), 40))
    settings = with_roots(Settings(), [str(tmp_path)])
    settings.state_dir, settings.metadata.enabled = str(tmp_path / "state"), False
    queue = JobQueue(10)
    worker = Worker(queue, settings, lambda s, stop: assemble_scanner(s, engine=fake_engine, should_stop=stop),
                    MemoryGuard(0))
    queue.put(Job(Priority.PHOTO, folders=frozenset({tmp_path / "a"})))
    with caplog.at_level(logging.INFO):
        worker.start()
        try:
            assert worker.wait_idle(30)
        finally:
            worker.stop()
    assert worker.errors == 1 and "broken.jpg" in worker.recent_errors[0]["message"]
    lines = [r.getMessage() for r in caplog.records if "broken.jpg" in r.getMessage()]
    assert len(lines) == 1, lines


def test_urgent_job_preempts_a_long_one_which_then_resumes(worker_parts):
    calls, queue, make = worker_parts
    worker = make(photos=40, delay=0.02)
    queue.put(Job(Priority.RESCAN, folders=folders("big")))
    worker.start()
    wait_for(lambda: calls)
    queue.put(Job(Priority.CSV, folders=folders("edited"), csv_only=True))
    assert worker.wait_idle(10)
    processed = [c[1][0].name for c in calls if c[0] == "process"]
    assert processed == ["big", "edited", "big"]
    big_done = [c[2] for c in calls if c[0] == "done" and c[1][0].name == "big"]
    assert big_done[0] < 40 and big_done[1] == 40


def test_a_failing_job_does_not_end_the_worker(worker_parts):
    calls, queue, make = worker_parts
    worker = make(fail=True)
    queue.put(Job(Priority.PHOTO, folders=folders("a")))
    queue.put(Job(Priority.PHOTO, folders=folders("b")))
    worker.start()
    assert worker.wait_idle(5)
    assert worker.alive and worker.errors == 2
    assert [c[0] for c in calls].count("close") == 2  # fresh adapters after each failure


def test_stop_finishes_the_current_photo_quickly(worker_parts):
    calls, queue, make = worker_parts
    worker = make(photos=1000, delay=0.01)
    queue.put(Job(Priority.PHOTO, folders=folders("a")))
    worker.start()
    wait_for(lambda: calls)
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 1
    assert ("done" in [c[0] for c in calls]) and calls[-1] == ("close",)


def test_memory_guard_pauses_intake_and_drops_the_scanner(worker_parts, monkeypatch):
    monkeypatch.setattr(daemon_module, "MEMORY_PAUSE_SECONDS", 0.2)
    calls, queue, make = worker_parts
    worker = make()
    rss = {"value": 10 * 2**20}
    worker.guard = MemoryGuard(100, rss=lambda: rss["value"])
    queue.put(Job(Priority.PHOTO, folders=folders("a")))
    worker.start()
    assert worker.wait_idle(5)
    rss["value"] = 500 * 2**20
    queue.put(Job(Priority.PHOTO, folders=folders("b")))
    wait_for(lambda: worker.paused)
    assert worker.wait_idle(10)
    assert [c[0] for c in calls] == ["process", "done", "close", "process", "done"]


# -- the daemon in-process, real observers, fake scanner -------------------------------------------
def settings_for(tmp_path: Path, root: Path, poll: bool = False) -> Settings:
    return Settings(
        roots=[RootSettings(path=str(root), poll=poll, poll_interval=0.2)],
        state_dir=str(tmp_path / "state"),
        daemon=DaemonSettings(debounce_seconds=0.2, stable_seconds=0.3, nice=0, memory_limit_mb=0),
    )


def photo_bytes() -> bytes:
    return b"\xff\xd8" + b"x" * 500 + b"\xff\xd9"


@pytest.fixture(params=[False, True], ids=["inotify", "polling"])
def running(request, tmp_path):
    root = tmp_path / "photos"
    for sub in ("a", "b"):
        (root / sub).mkdir(parents=True)
    calls: list = []
    daemon = Daemon(settings_for(tmp_path, root, poll=request.param), scanner_factory=fake_factory(calls),
                    notifier=Notifier(None))
    daemon.start()
    try:
        wait_for(lambda: ("scan", (root,)) in calls)
        assert daemon.worker.wait_idle(5)
        yield root, calls, daemon
    finally:
        daemon.stop()


def processed(calls: list) -> list[tuple[set[str], bool]]:
    return [({p.name for p in c[1]}, c[2]) for c in calls if c[0] == "process"]


def test_daemon_catches_up_then_follows_events(running):
    root, calls, daemon = running
    (root / "a" / "1.jpg").write_bytes(photo_bytes())
    (root / "a" / "1.jpg.part").write_bytes(b"partial")
    wait_for(lambda: processed(calls))
    assert processed(calls) == [({"a"}, False)]
    calls.clear()
    (root / "a" / "faces.csv").write_text("file,face_nr\n")
    wait_for(lambda: processed(calls))
    assert processed(calls) == [({"a"}, True)]
    calls.clear()
    os.rename(root / "a" / "1.jpg", root / "b" / "1.jpg")
    wait_for(lambda: processed(calls))
    assert processed(calls) == [({"a", "b"}, False)]
    assert [c[1] for c in calls if c[0] == "process"] == [(root / "b", root / "a")]
    assert daemon.status_text() == "0 queued, 0 errors"


def test_folder_moved_and_deleted(running):
    root, calls, daemon = running
    (root / "a" / "1.jpg").write_bytes(photo_bytes())
    wait_for(lambda: processed(calls))
    assert daemon.worker.wait_idle(5)
    calls.clear()
    os.rename(root / "a", root / "c")
    wait_for(lambda: ("scan", (root / "c",)) in calls)
    assert ({"a"}, False) in processed(calls)  # the vanished folder: its state goes
    calls.clear()
    shutil.rmtree(root / "c")
    wait_for(lambda: ({"c"}, False) in processed(calls))


def test_nofaces_folder_is_left_alone(running):
    root, calls, daemon = running
    (root / "b" / ".nofaces").touch()
    (root / "b" / "1.jpg").write_bytes(photo_bytes())
    (root / "a" / "2.jpg").write_bytes(photo_bytes())
    wait_for(lambda: processed(calls))
    time.sleep(0.8)
    assert processed(calls) == [({"a"}, False)]


def test_second_daemon_for_the_same_config_refuses(running, tmp_path):
    root, calls, daemon = running
    other = Daemon(daemon.settings, scanner_factory=fake_factory([]), notifier=Notifier(None))
    with pytest.raises(FacesidecarError, match="already runs"):
        other.start()


def test_reload_switches_roots_and_catches_up_the_new_one(running, tmp_path):
    root, calls, daemon = running
    extra = tmp_path / "more"
    extra.mkdir()
    settings = settings_for(tmp_path, root)
    settings.roots.append(RootSettings(path=str(extra)))
    daemon.reload_settings = lambda: settings
    daemon.reload()
    wait_for(lambda: ("scan", (extra,)) in calls)
    (extra / "1.jpg").write_bytes(photo_bytes())
    wait_for(lambda: ({"more"}, False) in processed(calls))


class CatchUpScanner(FakeScanner):
    """A catch-up that works through ``photos`` photos, reporting progress as the real scanner does."""

    progress = None

    def scan_paths(self, paths):
        self.calls.append(("scan", tuple(paths)))
        self.progress.checking(2)
        self.progress.checked()
        self.progress.checked()
        self.progress.planned(2, self.photos)
        self.progress.folder(paths[0] / "a")
        for _ in range(self.photos):
            if self.should_stop():
                return ScanReport(errors=list(self.errors))
            time.sleep(self.delay)
            self.progress.photo()
        self.progress.folder_done()
        self.progress.done()
        return ScanReport(scanned=self.photos, errors=list(self.errors))


def test_catch_up_progress_in_status_text_and_status_report(tmp_path):
    from facesidecar.cli.status import collect_daemons
    from facesidecar.daemonstatus import write_status

    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    calls: list = []
    factory = lambda settings, should_stop: CatchUpScanner(  # noqa: E731
        calls, should_stop, photos=60, delay=0.05, errors=[(str(root / "a" / "x.jpg"), "cannot decode")])
    daemon = Daemon(settings_for(tmp_path, root), scanner_factory=factory, notifier=Notifier(None))
    daemon.start()
    try:
        text = wait_for(lambda: "photos/s" in daemon.status_text() and daemon.status_text())
        assert text.startswith("catch-up: 0/2 folders, ") and text.endswith("left; 0 queued, 0 errors")
        report = daemon.status_report()
        assert report["state"] == "catching up" and report["folder"] == str(root / "a")
        assert report["catchup"]["photos_total"] == 60 and report["pid"] == os.getpid()
        write_status(daemon.status_file, report)
        state = Path(daemon.settings.state_dir)
        found = collect_daemons([state, state], [root / "a"])
        assert [d["pid"] for d in found] == [os.getpid()]
        assert collect_daemons([state], [tmp_path / "elsewhere"]) == []
        assert daemon.worker.wait_idle(20)
        assert daemon.status_text() == "0 queued, 1 errors"
        report = daemon.status_report()
        assert report["state"] == "idle" and report["catchup_finished"]
        assert report["catchup"]["line"].startswith("catch-up: 1/2 folders, 60/60 photos, done in")
        assert report["recent_errors"][0]["message"] == f"{root / 'a' / 'x.jpg'}: cannot decode"
    finally:
        daemon.stop()
    assert not daemon.status_file.exists(), "a stopped daemon leaves no status behind"


def test_the_catch_up_waits_for_a_scan_of_the_same_root(tmp_path):
    from .test_runlock import OtherProcess

    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    calls: list = []
    settings = settings_for(tmp_path, root)
    scan = OtherProcess(Path(settings.state_dir), root)
    daemon = Daemon(settings, scanner_factory=lambda s, stop: CatchUpScanner(calls, stop, photos=3),
                    notifier=Notifier(None))
    daemon.start()
    try:
        time.sleep(2.0)
        assert not [c for c in calls if c[0] == "scan"], "no catch-up while the scan works through the root"
        assert daemon.worker.alive and time.monotonic() - daemon.worker.heartbeat < 2, "alive for the watchdog"
        scan.release()
        wait_for(lambda: ("scan", (root,)) in calls)
        assert daemon.worker.wait_idle(10)
    finally:
        daemon.stop()
        if scan.proc.poll() is None:
            scan.kill()


# -- the real daemon as a subprocess ---------------------------------------------------------------
OBAMA = Path(__file__).resolve().parent / "data" / "faces" / "barack_obama"


def copy_photo(number: int, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes((OBAMA / f"{number}.jpg").read_bytes())  # writable copy: exiftool writes into it
    return target


def write_config(path: Path, root: Path, *, poll: bool = False, debounce: float = 0.3) -> Path:
    path.write_text(
        f'state_dir = "{path.parent / "state"}"\n'
        f'[[roots]]\npath = "{root}"\npoll = {str(poll).lower()}\npoll_interval = 0.5\n'
        f'[daemon]\ndebounce_seconds = {debounce}\nstable_seconds = 0.8\nnice = 0\nlog_level = "debug"\n'
        f'[metadata]\nenabled = {str(HAS_METADATA).lower()}\n',
        encoding="utf-8",
    )
    return path


class NotifySocket:
    """The test's stand-in for systemd: a bound datagram socket collecting sd_notify lines."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.lines: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.lines += self.sock.recv(4096).decode().split("\n")
            except TimeoutError:
                return self.lines

    def wait(self, line: str, timeout: float = 60, count: int = 1) -> None:
        wait_for(lambda: self.drain().count(line) >= count, timeout)

    def close(self) -> None:
        self.sock.close()


class DaemonProcess:
    def __init__(self, tmp_path: Path, command: list[str], notify: NotifySocket | None = None,
                 journal: bool = False, watchdog_usec: int | None = None):
        self.log_path = tmp_path / f"daemon-{time.monotonic_ns()}.log"
        self.log = self.log_path.open("wb")
        env = {k: v for k, v in os.environ.items()
               if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID")}
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        env["PATH"] = f"{PYTHON.parent}:{env.get('PATH', '')}"
        if notify is not None:
            env["NOTIFY_SOCKET"] = str(notify.path)
        if journal:
            info = os.fstat(self.log.fileno())
            env["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino}"
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self.log, env=env, cwd=tmp_path)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.log.close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def watch_command(config: Path, *paths: Path) -> list[str]:
    return [str(PYTHON), "-m", "facesidecar", "watch", "--config", str(config), *map(str, paths)]


def unit_command(config: Path) -> list[str]:
    """What ``systemctl start facesidecar`` runs: the unit's ExecStart, with this venv and ``config``."""
    unit = (PROJECT / "systemd" / "facesidecar.service").read_text()
    exec_start = next(line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStart="))
    command = exec_start.replace("/opt/facesidecar/.venv/bin/facesidecar", f"{PYTHON} -m facesidecar")
    return command.replace("/etc/facesidecar/config.toml", str(config)).split()


def read_rows(folder: Path) -> dict[str, dict]:
    path = folder / "faces.csv"
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        return {f"{r['file']}#{r['face_nr']}": r for r in csv.DictReader(handle)}


@pytest.fixture
def notify(tmp_path):
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


@pytest.fixture
def processes():
    started: list[DaemonProcess] = []
    yield started
    for proc in started:
        proc.kill()


@pytest.mark.slow
def test_real_daemon_signals_notify_and_lock(tmp_path, notify, processes):
    root = tmp_path / "photos"
    for n in (1, 2, 3, 4):
        copy_photo(n, root / "a" / f"{n}.jpg")
    config = write_config(tmp_path / "config.toml", root)
    daemon = DaemonProcess(tmp_path, watch_command(config), notify, journal=True, watchdog_usec=400_000)
    processes.append(daemon)
    notify.wait("READY=1")
    notify.wait("WATCHDOG=1")
    assert any(line.startswith("STATUS=") and "queued" in line and "errors" in line for line in notify.lines)
    status = wait_for(lambda: (result := subprocess.run([str(PYTHON), "-m", "facesidecar", "status", "--config",
                                                        str(config)], capture_output=True, text=True, timeout=60))
                      and "daemon: " in result.stdout and result)
    assert f"(pid {daemon.proc.pid}: " in status.stdout and "facesidecar watch --config" in status.stdout

    second = DaemonProcess(tmp_path, watch_command(config))
    processes.append(second)
    assert second.proc.wait(30) == 1
    assert "already runs" in second.text()

    daemon.proc.send_signal(signal.SIGTERM)  # while the catch-up is decoding photos
    assert daemon.proc.wait(10) == 0
    notify.wait("STOPPING=1")
    log = daemon.text()
    assert "<6>watching" in log and "<6>stopped" in log

    restarted = DaemonProcess(tmp_path, watch_command(config), notify)
    processes.append(restarted)
    wait_for(lambda: len(read_rows(root / "a")) == 4, 60)  # the catch-up finishes what was left
    write_config(config, root, debounce=0.4)
    restarted.proc.send_signal(signal.SIGHUP)
    notify.wait("RELOADING=1")
    notify.wait("READY=1", count=3)
    wait_for(lambda: "configuration reloaded" in restarted.text())
    copy_photo(1, root / "b" / "1.jpg")
    wait_for(lambda: read_rows(root / "b"), 30)  # still working after the reload
    code, seconds = restarted.stop()
    assert code == 0 and seconds < 10


def test_watch_without_roots_is_a_clear_error(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n')
    result = subprocess.run(watch_command(config), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "error: nothing to watch" in result.stderr and "Traceback" not in result.stderr


# -- WebDAV ----------------------------------------------------------------------------------------
class WebDav:
    """wsgidav + cheroot in this process, serving ``root`` on 127.0.0.1 without authentication."""

    def __init__(self, root: Path):
        from cheroot import wsgi
        from wsgidav.wsgidav_app import WsgiDAVApp

        app = WsgiDAVApp({
            "provider_mapping": {"/": str(root)},
            "simple_dc": {"user_mapping": {"*": True}},
            "http_authenticator": {"domain_controller": None},
            "verbose": 0,
            "logging": {"enable": False},
            "dir_browser": {"enable": False},
            "lock_storage": True,
        })
        self.server = wsgi.Server(("127.0.0.1", 0), app, numthreads=2)
        self.server.prepare()
        self.port = self.server.bind_addr[1]
        self.thread = threading.Thread(target=self.server.serve, name="webdav")
        self.thread.start()

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def put_slowly(self, path: str, data: bytes, chunks: int = 6, pause: float = 0.3) -> int:
        """An upload that takes a while, as from a phone or a slow WebDAV mount."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest("PUT", path)
            conn.putheader("Content-Length", str(len(data)))
            conn.putheader("Content-Type", "image/jpeg")
            conn.endheaders()
            step = len(data) // chunks + 1
            for start in range(0, len(data), step):
                conn.send(data[start:start + step])
                time.sleep(pause)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def move(self, src: str, dest: str) -> int:
        return self.request("MOVE", src, headers={"Destination": f"http://127.0.0.1:{self.port}{dest}",
                                                  "Overwrite": "F"})[0]

    def close(self) -> None:
        self.server.stop()
        self.thread.join()


def edit_name(csv_bytes: bytes, photo: str, name: str) -> bytes:
    """What a person does in a spreadsheet: type a name into one row, save with ; and CRLF."""
    rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
    header = rows[0]
    for row in rows[1:]:
        if row[header.index("file")] == photo:
            row[header.index("name")] = name
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def last_status(notify: NotifySocket) -> str:
    return next((line for line in reversed(notify.drain()) if line.startswith("STATUS=")), "")


def keywords(photo: Path) -> str:
    return subprocess.run(["exiftool", "-s3", "-XMP-dc:Subject", str(photo)], capture_output=True, text=True).stdout


def one_shot_scan(tmp_path: Path, source: Path) -> Path:
    """The photos alone, copied and scanned once by ``facesidecar scan``: the reference end state."""
    copy = tmp_path / "oneshot"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("faces.*", ".*"))
    config = write_config(tmp_path / "oneshot.toml", copy)
    subprocess.run([str(PYTHON), "-m", "facesidecar", "scan", "--config", str(config), str(copy)],
                   check=True, capture_output=True, timeout=120)
    return copy


def boxes(folder: Path) -> dict[str, tuple]:
    return {key: (r["x"], r["y"], r["w"], r["h"]) for key, r in read_rows(folder).items()}


@pytest.mark.slow
@pytest.mark.parametrize("poll", [False, True], ids=["inotify", "polling"])
def test_webdav_desktop_session_end_to_end(tmp_path, notify, processes, poll):
    root = tmp_path / "photos"
    for n in (1, 2, 4):
        copy_photo(n, root / "a" / f"{n}.jpg")
    (root / "b").mkdir()
    config = write_config(tmp_path / "config.toml", root, poll=poll)
    daemon = DaemonProcess(tmp_path, unit_command(config), notify)
    processes.append(daemon)
    notify.wait("READY=1")
    wait_for(lambda: len(read_rows(root / "a")) == 3, 60)
    dav = WebDav(root)
    try:
        # a slow upload is processed once, after it finished
        assert dav.put_slowly("/b/3.jpg", (OBAMA / "3.jpg").read_bytes()) in (200, 201, 204)
        wait_for(lambda: "3.jpg#1" in read_rows(root / "b"), 30)
        assert "3.jpg changed while it was scanned" not in daemon.text()

        # a name typed into faces.csv on the desktop: kept, guessed elsewhere, written into the photo
        status, body = dav.request("GET", "/a/faces.csv")
        assert status == 200
        assert dav.request("PUT", "/a/faces.csv", edit_name(body, "2.jpg", "Barack Obama"))[0] in (200, 201, 204)
        wait_for(lambda: read_rows(root / "b").get("3.jpg#1", {}).get("guess") == "Barack Obama", 30)
        assert read_rows(root / "a")["2.jpg#1"]["name"] == "Barack Obama"
        if HAS_METADATA:
            wait_for(lambda: "Barack Obama" in keywords(root / "a" / "2.jpg"), 30)

        # a delete removes the rows, a move keeps the name
        assert dav.request("DELETE", "/a/4.jpg")[0] == 204
        wait_for(lambda: "4.jpg#1" not in read_rows(root / "a"), 30)
        assert dav.move("/a/2.jpg", "/b/2.jpg") in (201, 204)
        wait_for(lambda: "2.jpg#1" not in read_rows(root / "a"), 30)
        wait_for(lambda: read_rows(root / "b").get("2.jpg#1", {}).get("name") == "Barack Obama", 30)
    finally:
        dav.close()
    wait_for(lambda: last_status(notify) == "STATUS=0 queued, 0 errors", 10)
    code, seconds = daemon.stop()
    assert code == 0 and seconds < 10

    problems = [line for line in daemon.text().splitlines() if line.startswith(("ERROR", "WARNING"))]
    assert not problems
    reference = one_shot_scan(tmp_path, root)
    for sub in ("a", "b"):
        assert boxes(root / sub) == boxes(reference / sub)


def test_a_root_that_vanishes_and_comes_back_is_watched_again(tmp_path):
    root = tmp_path / "mount"
    (root / "a").mkdir(parents=True)
    calls: list = []
    with Daemon(settings_for(tmp_path, root, poll=True), scanner_factory=fake_factory(calls),
                notifier=Notifier(None)) as daemon:
        wait_for(lambda: ("scan", (root,)) in calls)
        shutil.rmtree(root)
        wait_for(lambda: not all(e.is_alive() for e in daemon.observers[root].emitters), 5)
        daemon.check_watches()
        assert root not in daemon.observers
        (root / "b").mkdir(parents=True)
        daemon.check_watches()
        assert root in daemon.observers
        wait_for(lambda: calls.count(("scan", (root,))) == 2)
        (root / "b" / "1.jpg").write_bytes(photo_bytes())
        wait_for(lambda: ({"b"}, False) in processed(calls))
