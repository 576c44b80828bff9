"""The way of new photos through the real daemon: modules crossed and sidecar reads per pass (issue 17).

Sets up a root with one folder whose photo carries a confirmed name, starts the real daemon
(watchdog observer, debouncer, queue, worker, dlib, exiftool, the MariaDB mirror) in this process,
lets its catch-up finish, then copies two new photos of the same person into the folder and
follows that one watcher event until the photos' rows are in the database and the worker is idle.

How it counts (so that figures from two versions compare):
- *modules crossed*: every ``facesidecar.*`` module one of whose Python functions was called
  (``sys.setprofile`` / ``threading.setprofile`` on every thread) between the file copy and the end;
- *faces.pkl reads*: ``open`` audit events (``sys.addaudithook``) on a file named ``faces.pkl``
  for reading, in the same interval; likewise faces.csv reads, and sidecar saves (renames onto
  faces.pkl);
- *metadata writes* and *mirror queues/pushes*: calls of the writer's ``sync``, the mirror's
  ``folder_changed`` and the mirror's ``push_folder``.

Usage: ``.venv/bin/python bench/pipeline_trace.py`` (needs exiftool and MariaDB on 127.0.0.1:3306
with root access). Run it with ``PYTHONPATH=<checkout>`` to measure another checkout of the package.
"""

from __future__ import annotations

import argparse
import collections
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(PROJECT))

FACES = PROJECT / "tests" / "data" / "faces"
KNOWN = "deepface_jack/1.jpg"
NEW = ("deepface_jack/2.jpg", "deepface_jack/5.jpg")
PKL, CSV = "faces.pkl", "faces.csv"


class Tracer:
    """Counts facesidecar function calls and sidecar file opens while ``active``."""

    def __init__(self) -> None:
        self.active = False
        self.modules: dict[str, int] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        self.reads: collections.Counter[str] = collections.Counter()
        self.saves: collections.Counter[str] = collections.Counter()
        self.pkl_readers: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def profile(self, frame, event, arg) -> None:
        if event != "call" or not self.active:
            return
        module = frame.f_globals.get("__name__", "")
        if module.startswith("facesidecar"):
            with self._lock:
                self.modules.setdefault(module, len(self.modules))
                self.calls[f"{module}:{frame.f_code.co_qualname}"] += 1

    def audit(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "open":
            path, mode, flags = args
            if not isinstance(path, (str, bytes, os.PathLike)):
                return
            name = os.path.basename(os.fsdecode(path))
            reading = (mode is not None and not any(c in mode for c in "wax+")) or \
                (mode is None and flags is not None and flags & os.O_ACCMODE == os.O_RDONLY)
            if name in (PKL, CSV) and reading:
                self.reads[name] += 1
                if name == PKL:
                    self.pkl_readers[reader_outside_store()] += 1
        elif event == "os.rename":
            dst = args[1]
            if isinstance(dst, (str, bytes, os.PathLike)) and os.path.basename(os.fsdecode(dst)) == PKL:
                self.saves[PKL] += 1

    def calls_of(self, suffix: str) -> int:
        return sum(n for key, n in self.calls.items() if key.endswith(suffix))


def reader_outside_store() -> str:
    """The innermost facesidecar function outside the store that led to the current open()."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("facesidecar") and not module.startswith("facesidecar.store"):
            return f"{module}:{frame.f_code.co_qualname}"
        frame = frame.f_back
    return "?"


def make_database() -> tuple[object, str]:
    import mysql.connector

    root = mysql.connector.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True,
                                   use_pure=True, connection_timeout=3)
    name = f"facesidecar_trace_{secrets.token_hex(4)}"
    root.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    return root, name


def write_config(path: Path, root: Path, state: Path, database: str) -> None:
    path.write_text(f"""state_dir = "{state}"
[[roots]]
path = "{root}"
[metadata]
write_guesses = true
[mysql]
enabled = true
user = "root"
database = "{database}"
password_env = "FACESIDECAR_TRACE_NO_PASSWORD"
[daemon]
debounce_seconds = 0.5
stable_seconds = 0.5
nice = 0
""", encoding="utf-8")


def rows_for(root_conn, database: str, files: tuple[str, ...]) -> int:
    cur = root_conn.cursor()
    try:
        cur.execute(f"SELECT COUNT(*) FROM `{database}`.photos WHERE file IN ({', '.join(['%s'] * len(files))})",
                    files)
    except Exception:  # noqa: BLE001 - the table appears with the mirror's first connection
        return 0
    return int(cur.fetchone()[0])


def daemon_scanner_factory():
    """The daemon's real scanner with its adapters, wherever this version builds it."""
    try:
        from facesidecar.compose import build_scanner
    except ImportError:
        from facesidecar.cli.watch import scanner_factory

        return scanner_factory
    return lambda settings, should_stop: build_scanner(settings, should_stop=should_stop)


def trace(work: Path, timeout: float) -> Tracer:
    from facesidecar.cli.main import main
    from facesidecar.config import load_settings
    from facesidecar.daemon import Daemon
    from facesidecar.sdnotify import Notifier

    root, state, album = work / "root", work / "state", work / "root" / "album"
    album.mkdir(parents=True)
    shutil.copy(FACES / KNOWN, album / "known.jpg")
    conn, database = make_database()
    try:
        config = work / "config.toml"
        write_config(config, root, state, database)
        assert main(["--config", str(config), "-q", "scan", str(root)]) == 0
        assert main(["--config", str(config), "-q", "name", str(album / "known.jpg"), "1", "Jack"]) == 0
        settings = load_settings(config)
        tracer = Tracer()
        sys.addaudithook(tracer.audit)
        threading.setprofile(tracer.profile)
        sys.setprofile(tracer.profile)
        with Daemon(settings, scanner_factory=daemon_scanner_factory(), notifier=Notifier(None)) as daemon:
            if not daemon.worker.wait_idle(timeout):
                raise SystemExit("the daemon's catch-up did not finish")
            files = tuple(f"new{i}.jpg" for i in range(len(NEW)))
            tracer.active = True
            for source, name in zip(NEW, files, strict=True):
                shutil.copy(FACES / source, album / name)
            deadline = time.monotonic() + timeout
            while rows_for(conn, database, files) < len(files) and time.monotonic() < deadline:
                time.sleep(0.2)
            daemon.worker.wait_idle(timeout)
            tracer.active = False
        sys.setprofile(None)
        threading.setprofile(None)
        if rows_for(conn, database, files) < len(files):
            raise SystemExit("the new photos never reached the database")
        return tracer
    finally:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")
        conn.close()


def report(tracer: Tracer) -> None:
    modules = sorted(tracer.modules, key=tracer.modules.get)
    print(f"modules crossed: {len(modules)}")
    for module in modules:
        print(f"  {module}")
    print(f"faces.pkl reads: {tracer.reads[PKL]}")
    for reader, count in tracer.pkl_readers.most_common():
        print(f"  {count} x {reader}")
    print(f"faces.csv reads: {tracer.reads[CSV]}")
    print(f"faces.pkl saves: {tracer.saves[PKL]}")
    print(f"metadata writes (sync calls): {tracer.calls_of('.sync')}")
    print(f"mirror queued (folder_changed calls): {tracer.calls_of(':Mirror.folder_changed')}")
    print(f"mirror pushes (push_folder calls): {tracer.calls_of(':push_folder')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each phase")
    args = parser.parse_args()
    os.environ.pop("FACESIDECAR_TRACE_NO_PASSWORD", None)
    import facesidecar

    print(f"package: {Path(facesidecar.__file__).parent}")
    with tempfile.TemporaryDirectory(prefix="fs-trace-") as tmp:
        report(trace(Path(tmp), args.timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
