"""``facesidecar watch``: observers feed folders, one worker thread runs the scanner on them.

Threads and who owns what:

- watchdog observers (one per root: inotify, or polling for ``poll = true`` roots) classify events
  into the :class:`~facesidecar.watcher.Debouncer`;
- the debouncer thread turns quiet, stable folder groups into jobs for the :class:`JobQueue`;
- the :class:`Worker` thread owns the scanner (engine, exiftool process, database connection):
  every scanner call happens on it, so none of those need to be thread-safe;
- the main thread handles signals, reloads, sd_notify status and watchdog pings.

Start-up catch-up is the first job (a rescan of every root, which costs a stat per unchanged photo),
queued *after* the observers started so that nothing that happens meanwhile is missed.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import hashlib
import heapq
import itertools
import logging
import os
import shlex
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from .config import RootSettings, Settings
from .daemonstatus import remove_status, status_path, write_status
from .errors import FacesidecarError
from .model import ScanReport
from .ports import Mirror
from .progress import LogLines, Progress, Snapshot
from .runlock import RootLocks
from .sdnotify import Notifier
from .watcher import Classifier, Debouncer, FolderEventHandler, Job, Priority, skip_folder, stored_echoes

log = logging.getLogger(__name__)

STUCK_SECONDS = 600.0
"""The worker counts as hung (no watchdog ping) after this long without reaching a photo boundary."""

MEMORY_PAUSE_SECONDS = 30.0
"""How long intake stays paused waiting for memory to drop before work goes on regardless."""

LOOP_SECONDS = 0.5

WATCH_CHECK_SECONDS = 10.0
"""How often the main loop looks for roots whose watch ended (unmounted) and may be back."""

STATUS_SECONDS = 2.0
"""How often ``STATUS=`` and the status file are brought up to date (counts move with every photo)."""

RECENT_ERRORS = 20
"""Errors kept for ``facesidecar status`` (the journal has them all)."""

PUBLISH_SECONDS = 1.0
"""How long a job may spend writing other folders its changes touched (new clusters, guesses);
what remains is written between jobs, in slices as short as this."""

BACKGROUND_RETRY_SECONDS = 60.0
"""After background work failed, how long the worker waits before it tries again."""


class WorkerScanner(Protocol):
    """What the worker thread asks of its scanner (:class:`facesidecar.scan.Scanner`; tests hand
    over fakes): a job's pass, background work between jobs, the mirror to push while idle."""

    progress: Progress
    mirror: Mirror | None

    def scan_paths(self, paths: list[Path]) -> ScanReport: ...

    def process_folders(self, folders: list[Path], csv_only: bool = False) -> ScanReport: ...

    def background_step(self) -> bool:
        """One short slice of the work passes left for later; True while more remains."""
        ...

    def close(self) -> None: ...


ScannerFactory = Callable[[Settings, Callable[[], bool]], WorkerScanner]


def default_scanner_factory(settings: Settings, should_stop: Callable[[], bool]) -> WorkerScanner:
    """The scanner with the metadata writer and the mirror the config asks for."""
    from .compose import build_scanner

    return build_scanner(settings, should_stop=should_stop, publish_seconds=PUBLISH_SECONDS)


# -- the queue -----------------------------------------------------------------------------------
class JobQueue:
    """Bounded priority queue of jobs, at most one per folder.

    A job that touches a folder already queued is merged into that entry (it keeps the higher
    priority and the earlier place), so a burst of events for one folder costs one scanner call.
    """

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._cond = threading.Condition()
        self._jobs: dict[int, Job] = {}
        self._by_key: dict[Path, int] = {}
        self._heap: list[tuple[int, int, int]] = []
        self._ids = itertools.count()
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._jobs)

    @property
    def folders(self) -> int:
        with self._cond:
            return len(self._by_key)

    def put(self, job: Job, *, timeout: float | None = None, force: bool = False) -> bool:
        """Queue ``job``; wait while full (unless merged or ``force``); False on timeout or close."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not force and not self._closed and not self._overlaps(job) and len(self._jobs) >= self.maxsize:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            if self._closed:
                return False
            self._insert(job)
            self._cond.notify_all()
            return True

    def _overlaps(self, job: Job) -> bool:
        return any(k in self._by_key for k in job.keys)

    def _insert(self, job: Job) -> None:
        seq = next(self._ids)
        for old_id in {self._by_key[k] for k in job.keys if k in self._by_key}:
            job = self._jobs.pop(old_id).merge(job)
            seq = min(seq, old_id)
        job_id = seq if seq not in self._jobs else next(self._ids)
        self._jobs[job_id] = job
        for key in job.keys:
            self._by_key[key] = job_id
        heapq.heappush(self._heap, (int(job.priority), job_id, job_id))

    def get(self, timeout: float | None = None, on_take: Callable[[], None] = lambda: None) -> Job | None:
        """The most urgent job, or None after ``timeout`` or when closed.

        ``on_take`` runs under the queue's lock as the job leaves it, so that "queue empty and
        worker idle" can be checked atomically (:meth:`drained`).
        """
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._closed:
                job_id = self._pop_live()
                if job_id is not None:
                    on_take()
                    job = self._jobs.pop(job_id)
                    for key in job.keys:
                        if self._by_key.get(key) == job_id:
                            del self._by_key[key]
                    self._cond.notify_all()
                    return job
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return None

    def _peek_live(self) -> int | None:
        """The id of the most urgent job, dropping heap entries of jobs merged away meanwhile."""
        while self._heap:
            priority, _, job_id = self._heap[0]
            job = self._jobs.get(job_id)
            if job is not None and int(job.priority) == priority:
                return job_id
            heapq.heappop(self._heap)
        return None

    def _pop_live(self) -> int | None:
        job_id = self._peek_live()
        if job_id is not None:
            heapq.heappop(self._heap)
        return job_id

    def drained(self, idle: Callable[[], bool]) -> bool:
        """Whether nothing is queued and ``idle()`` holds, checked under the queue's lock."""
        with self._cond:
            return not self._jobs and idle()

    def best_priority(self) -> Priority | None:
        """Asked between every two photos, hence the heap peek instead of a scan."""
        with self._cond:
            job_id = self._peek_live()
            return None if job_id is None else self._jobs[job_id].priority

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


# -- helpers the worker uses -----------------------------------------------------------------------
def process_rss() -> int:
    """Resident memory of the daemon and its children (the worker processes that analyse photos, exiftool)."""
    import psutil

    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total


def release_free_memory() -> None:
    """Collect garbage and hand freed heap pages back to the system (glibc keeps them otherwise)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class MemoryGuard:
    """Compares the process's resident memory with ``daemon.memory_limit_mb``."""

    def __init__(self, limit_mb: int, rss: Callable[[], int] = process_rss):
        self.limit_mb = limit_mb
        self.rss = rss

    def used_mb(self) -> float:
        return self.rss() / 2**20

    def over(self) -> bool:
        return self.limit_mb > 0 and self.used_mb() > self.limit_mb


# -- the worker ------------------------------------------------------------------------------------
class Worker:
    """The one thread that runs the scanner; jobs come from the queue, most urgent first.

    A running job yields to a more urgent one at the next photo boundary (the scanner asks
    ``should_stop`` between photos and saves what it has); the interrupted job is queued again and,
    the scanner being incremental, resumes at the cost of a stat per photo already done.
    """

    def __init__(self, queue: JobQueue, settings: Settings, scanner_factory: ScannerFactory,
                 guard: MemoryGuard, clock: Callable[[], float] = time.monotonic):
        self.queue = queue
        self.settings = settings
        self.scanner_factory = scanner_factory
        self.guard = guard
        self.clock = clock
        self.errors = 0
        self.recent_errors: deque[dict] = deque(maxlen=RECENT_ERRORS)
        self.jobs_done = 0
        self.progress: Progress | None = None
        """The running job's progress (None while idle)."""
        self.catchup: Progress | None = None
        """The catch-up's progress, kept while it is paused for more urgent work and after it ended."""
        self.catchup_finished = False
        self.heartbeat = clock()
        self.paused = False
        self.current: Job | None = None
        self._scanner: WorkerScanner | None = None
        self._preempted = False
        self._background = False
        self._background_failed = float("-inf")
        self._new_settings: Settings | None = None
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="facesidecar-worker")
        self._thread.start()

    def stop(self) -> None:
        """Ask the scanner to stop after the current photo, then wait for the thread to end."""
        self._stop.set()
        self.queue.close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def is_busy(self, folder: Path) -> bool:
        """Whether ``folder`` is one the running job processes by name (catch-up trees do not count:
        new photos may interrupt a long rescan)."""
        job = self.current
        return job is not None and folder in job.folders

    def update_settings(self, settings: Settings) -> None:
        """Use ``settings`` from the next job on (the scanner is rebuilt between jobs)."""
        self._new_settings = settings

    def wait_idle(self, timeout: float) -> bool:
        """For tests and benchmarks: wait until the queue is empty and no job runs."""
        deadline = self.clock() + timeout
        while self.clock() < deadline:
            if self.queue.drained(self._idle.is_set):
                return True
            time.sleep(0.05)
        return False

    # -- the loop -------------------------------------------------------------------------------
    def should_stop(self) -> bool:
        """Asked by the scanner between photos: on shutdown, or when something more urgent waits."""
        self.heartbeat = self.clock()
        if self._stop.is_set() or self._preempted:
            return True
        best = self.queue.best_priority()
        if self.current is not None and best is not None and best < self.current.priority:
            log.info("pausing %s for more urgent work", self.current.describe())
            self._preempted = True
        return self._preempted

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._idle.set()
                job = self.queue.get(timeout=0 if self._background else LOOP_SECONDS, on_take=self._idle.clear)
                self.heartbeat = self.clock()
                if job is None:
                    self._flush_mirror()
                    self._background = self._background_step()
                    continue
                self._relieve_memory()
                self._apply_new_settings()
                self._process(job)
        finally:
            self._close_scanner()
            self._idle.set()

    def _background_step(self) -> bool:
        """While no job waits, one short slice of the scanner's background work (a full
        recomputation of the clusters after a reset or a model change, folders a change touched
        that are not written yet). True while more remains: the next slice follows unless a job came."""
        scanner = self._scanner
        if scanner is None or not self.catchup_finished or self.clock() - self._background_failed < BACKGROUND_RETRY_SECONDS:
            return False
        try:
            return scanner.background_step()
        except Exception as exc:  # noqa: BLE001 - background work must not end the daemon
            self._background_failed = self.clock()
            self._record_error(f"background work failed: {exc}")
            log.error("background work failed (tried again in %.0f s): %s", BACKGROUND_RETRY_SECONDS, exc,
                      exc_info=not isinstance(exc, FacesidecarError))
            return False

    def _flush_mirror(self) -> None:
        """While idle, let the database mirror catch up after an outage (it backs off by itself)."""
        if self._scanner is not None and self._scanner.mirror is not None:
            self._scanner.mirror.flush()

    def _process(self, job: Job) -> None:
        self.current, self._preempted = job, False
        self.progress = self._progress_for(job)
        started = self.clock()
        try:
            reports = self._call_scanner(job)
        except Exception as exc:  # noqa: BLE001 - one failing folder must not end the daemon
            self._record_error(f"{job.describe()} failed: {exc}")
            log.error("%s failed: %s", job.describe(), exc, exc_info=not isinstance(exc, FacesidecarError))
            self._close_scanner()  # start the next job with fresh adapters
            return
        finally:
            self.current, self.progress = None, None
        self.jobs_done += 1
        self._log_reports(job, reports, self.clock() - started)
        if self._preempted and not self._stop.is_set():
            self.queue.put(job, force=True)
        elif job.trees:
            self.catchup_finished = True

    def _progress_for(self, job: Job) -> Progress:
        """A rescan of whole roots (the start-up catch-up, a root added or back) keeps one progress
        across pauses and reports in the log; folder jobs are short and get a quiet one."""
        if not job.trees:
            return Progress("changes")
        if self.catchup is None or self.catchup_finished:
            self.catchup = Progress("catch-up", [LogLines(log)], clock=self.clock)
            self.catchup_finished = False
        return self.catchup

    def _record_error(self, message: str) -> None:
        self.errors += 1
        self.recent_errors.append({"time": time.time(), "message": message})

    def _call_scanner(self, job: Job) -> list[ScanReport]:
        scanner = self._get_scanner()
        scanner.progress = self.progress
        reports = []
        if job.folders:
            reports.append(scanner.process_folders(job.ordered_folders(), csv_only=job.csv_only))
        if job.trees and not self.should_stop():
            with RootLocks(self.settings.state_path(), "catch-up") as locks:
                locks.acquire(sorted(job.trees), on_wait=self._tell_waiting, should_stop=self._waited)
                if not self._stop.is_set():
                    reports.append(scanner.scan_paths(sorted(job.trees)))
        return reports

    def _tell_waiting(self, holders: list) -> None:
        for holder in holders:
            log.info("waiting for %s before catching up: it works through the same photos", holder.describe())

    def _waited(self) -> bool:
        """While waiting for another run's roots: alive for the watchdog, and stoppable."""
        self.heartbeat = self.clock()
        return self._stop.is_set()

    def _log_reports(self, job: Job, reports: list[ScanReport], seconds: float) -> None:
        """Count the job's errors for ``status`` and log one line for the job; each error itself
        was logged where it happened (the stage that met it), so it is not logged again here."""
        errors = [line for r in reports for line in r.error_lines()]
        for line in errors:
            self._record_error(line)
        scanned = sum(r.scanned for r in reports)
        names = sum(r.names_changed for r in reports)
        level = logging.INFO if scanned or names or errors else logging.DEBUG
        log.log(level, "%s: %d photos scanned, %d names changed, %d errors (%.1f s)",
                job.describe(), scanned, names, len(errors), seconds)

    # -- scanner and memory ---------------------------------------------------------------------
    def _get_scanner(self) -> WorkerScanner:
        if self._scanner is None:
            self._scanner = self.scanner_factory(self.settings, self.should_stop)
        return self._scanner

    def _close_scanner(self) -> None:
        scanner, self._scanner = self._scanner, None
        if scanner is not None:
            try:
                scanner.close()
            except Exception as exc:  # noqa: BLE001 - closing must not hide the stop or the next job
                log.error("closing the scanner: %s", exc)

    def _apply_new_settings(self) -> None:
        settings, self._new_settings = self._new_settings, None
        if settings is not None:
            self._close_scanner()
            self.settings = settings
            self.guard.limit_mb = settings.daemon.memory_limit_mb

    def _relieve_memory(self) -> None:
        """Above the limit: pause intake, drop the scanner's caches (engine, index), wait a little."""
        if not self.guard.over():
            return
        log.warning("memory %.0f MB is above daemon.memory_limit_mb = %d: pausing intake, dropping caches",
                    self.guard.used_mb(), self.guard.limit_mb)
        self.paused = True
        self._close_scanner()
        release_free_memory()
        deadline = self.clock() + MEMORY_PAUSE_SECONDS
        while self.guard.over() and self.clock() < deadline and not self._stop.wait(1.0):
            self.heartbeat = self.clock()
            release_free_memory()
        self.paused = False
        log.info("memory now %.0f MB: resuming", self.guard.used_mb())


# -- process-level pieces --------------------------------------------------------------------------
class InstanceLock:
    """One daemon per configuration: ``flock`` on a file in the state folder, released by the kernel on exit."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    @staticmethod
    def for_settings(settings: Settings, config_path: str | None) -> InstanceLock:
        key = str(Path(config_path).resolve()) if config_path else "|".join(sorted(map(str, settings.root_paths())))
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return InstanceLock(settings.state_path() / f"watch-{digest}.lock")

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise FacesidecarError(f"cannot create the lock file {self.path}: {exc.strerror}; "
                                   "check state_dir in the config") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise FacesidecarError(f"another facesidecar watch (pid {holder}) already runs with this "
                                   f"configuration (lock {self.path})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def apply_nice(target: int) -> None:
    """Raise our niceness to ``target`` (never lower it: systemd's Nice= may already be higher)."""
    current = os.nice(0)
    if target > current:
        try:
            os.nice(target - current)
        except OSError as exc:  # a seccomp filter (SystemCallFilter=~@resources) may refuse it
            log.warning("cannot set nice %d: %s (use Nice= in the unit)", target, exc.strerror)


def make_observer(root: RootSettings) -> BaseObserver:
    if root.poll:
        return PollingObserver(timeout=root.poll_interval)
    return Observer()


# -- the daemon ------------------------------------------------------------------------------------
class Daemon:
    """Wires observers, debouncer, queue and worker; ``run`` is the main-thread loop."""

    def __init__(
        self,
        settings: Settings,
        *,
        config_path: str | None = None,
        reload_settings: Callable[[], Settings] | None = None,
        scanner_factory: ScannerFactory = default_scanner_factory,
        notifier: Notifier | None = None,
        rss: Callable[[], int] = process_rss,
        observer_factory: Callable[[RootSettings], BaseObserver] = make_observer,
    ):
        self.settings = settings
        self.reload_settings = reload_settings
        self.notifier = notifier if notifier is not None else Notifier.from_env()
        self.observer_factory = observer_factory
        self.lock = InstanceLock.for_settings(settings, config_path)
        self.queue = JobQueue(settings.daemon.queue_size)
        self.debouncer = self._make_debouncer(settings)
        self.worker = Worker(self.queue, settings, scanner_factory, MemoryGuard(settings.daemon.memory_limit_mb, rss))
        self.observers: dict[Path, BaseObserver] = {}
        self.status_file = status_path(self.lock.path)
        self.started_at = time.time()
        self._wake = threading.Event()
        self._stop_requested = False
        self._reload_requested = False

    def _make_debouncer(self, settings: Settings) -> Debouncer:
        return Debouncer(self._enqueue, debounce_seconds=settings.daemon.debounce_seconds,
                         stable_seconds=settings.daemon.stable_seconds, skip_folder=self._skip_folder,
                         busy=lambda folder: self.worker.is_busy(folder), echoes=stored_echoes)

    def _enqueue(self, job: Job) -> None:
        log.debug("queued %s", job.describe())
        while not self.queue.put(job, timeout=1.0):
            if self._stop_requested:
                return
            log.warning("the queue is full (%d jobs): waiting", self.queue.maxsize)

    def _skip_folder(self, folder: Path) -> bool:
        return skip_folder(folder, self.settings.root_paths())

    # -- start and stop -------------------------------------------------------------------------
    def __enter__(self) -> Daemon:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self.lock.acquire()
        try:
            apply_nice(self.settings.daemon.nice)
            self.debouncer.start()
            self._start_observers(self.settings.roots)
            self.queue.put(Job(Priority.RESCAN, trees=frozenset(self.settings.root_paths())), force=True)
            self.worker.start()
        except BaseException:
            self.stop()
            raise
        log.info("watching %s", ", ".join(self._describe_root(r) for r in self.settings.roots))
        self.notifier.ready(self.status_text())

    def stop(self) -> None:
        """Stop intake first, then let the worker finish its photo and flush; join every thread."""
        self.notifier.stopping()
        self._stop_observers()
        self.debouncer.stop()
        self.worker.stop()
        remove_status(self.status_file)
        self.lock.release()

    def _start_observers(self, roots: list[RootSettings]) -> None:
        for root in roots:
            path = Path(root.path)
            if not path.is_dir():
                raise FacesidecarError(f"root {path} is not a folder (check [[roots]] in {self.settings.source})")
            self._watch(root)

    def _watch(self, root: RootSettings) -> None:
        path = Path(root.path)
        classifier = Classifier(path, self.settings.extensions, self.settings.exclude)
        observer = self.observer_factory(root)
        try:
            observer.schedule(FolderEventHandler(classifier, self.debouncer), str(path), recursive=True)
            observer.start()
        except OSError as exc:
            raise FacesidecarError(
                f"cannot watch {path}: {exc.strerror or exc} (too many folders for inotify? raise "
                "fs.inotify.max_user_watches or set poll = true for this root; see facesidecar doctor)"
            ) from None
        self.observers[path] = observer

    def _stop_observers(self) -> None:
        for observer in self.observers.values():
            observer.stop()
        for observer in self.observers.values():
            if observer.is_alive():
                observer.join()
        self.observers = {}

    def check_watches(self) -> None:
        """Re-establish the watch of a root that went away and came back (a NAS unmounted and
        mounted again, a USB disk): watchdog stops watching a root that vanished."""
        for root in self.settings.roots:
            path = Path(root.path)
            observer = self.observers.get(path)
            if observer is not None and observer.is_alive() and all(e.is_alive() for e in observer.emitters):
                continue
            if observer is not None:
                log.warning("lost the watch on %s (unmounted or deleted?); watching again once it is back", path)
                observer.stop()
                observer.join()
                del self.observers[path]
            if path.is_dir():
                self._watch(root)
                self.queue.put(Job(Priority.RESCAN, trees=frozenset({path})), force=True)
                log.info("watching %s again", self._describe_root(root))

    @staticmethod
    def _describe_root(root: RootSettings) -> str:
        return f"{root.path} (polling every {root.poll_interval:g} s)" if root.poll else f"{root.path} (inotify)"

    # -- the main loop --------------------------------------------------------------------------
    def run(self) -> int:
        """Run until SIGTERM/SIGINT; SIGHUP reloads the configuration. Returns the exit status."""
        previous = self._install_signals()
        try:
            self.start()
            self._loop()
        finally:
            self.stop()
            self._restore_signals(previous)
        log.info("stopped (%d jobs done, %d errors)", self.worker.jobs_done, self.worker.errors)
        return 0

    def _loop(self) -> None:
        last_ping = last_check = last_status = 0.0
        interval = self.notifier.watchdog_interval
        while not self._stop_requested:
            self._wake.wait(LOOP_SECONDS if interval is None else min(LOOP_SECONDS, interval))
            self._wake.clear()
            if self._reload_requested:
                self._reload_requested = False
                self.reload()
            now = time.monotonic()
            if now - last_status >= STATUS_SECONDS:
                self.notifier.status(self.status_text())
                write_status(self.status_file, self.status_report())
                last_status = now
            if now - last_check >= WATCH_CHECK_SECONDS:
                self.check_watches()
                last_check = now
            if interval is not None and now - last_ping >= interval and self._healthy(now):
                self.notifier.watchdog()
                last_ping = now
            if not self.worker.alive and not self._stop_requested:
                raise FacesidecarError("the worker thread ended unexpectedly")

    def _healthy(self, now: float) -> bool:
        return self.settings.daemon.watchdog and self.worker.alive and now - self.worker.heartbeat < STUCK_SECONDS

    def status_text(self) -> str:
        """The one line ``systemctl status`` shows: the catch-up's progress while it runs, the queue."""
        queued = self.queue.folders + self.debouncer.pending
        text = f"{queued} queued, {self.worker.errors} errors"
        catchup = self._catchup_snapshot()
        if catchup is not None and not self.worker.catchup_finished:
            text = f"{catchup.line()}; {text}"
        return text + "; paused: memory above limit" if self.worker.paused else text

    def _catchup_snapshot(self) -> Snapshot | None:
        progress = self.worker.catchup
        return None if progress is None else progress.snapshot()

    def status_report(self) -> dict:
        """What ``facesidecar status`` shows about this daemon (written to the status file)."""
        job, progress = self.worker.current, self.worker.progress
        current = progress.snapshot() if progress is not None else None
        catchup = self._catchup_snapshot()
        state = "paused: memory above limit" if self.worker.paused else "working" if job is not None else "idle"
        if catchup is not None and not self.worker.catchup_finished:
            state = "catching up" if job is not None and job.trees else "catch-up paused for newer changes"
        return {
            "pid": os.getpid(),
            "command": shlex.join(["facesidecar", *sys.argv[1:]]),
            "config": self.settings.source,
            "roots": [str(p) for p in self.settings.root_paths()],
            "started": self.started_at,
            "updated": time.time(),
            "state": state,
            "queued": self.queue.folders,
            "pending": self.debouncer.pending,
            "job": job.describe() if job is not None else None,
            "folder": current.folder if current is not None else "",
            "progress": current.as_dict() if current is not None else None,
            "catchup": catchup.as_dict() if catchup is not None else None,
            "catchup_finished": self.worker.catchup_finished,
            "errors": self.worker.errors,
            "recent_errors": list(self.worker.recent_errors),
        }

    def request_stop(self) -> None:
        self._stop_requested = True
        self._wake.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wake.set()

    def _install_signals(self) -> dict[int, object]:
        handlers = {
            signal.SIGTERM: lambda signum, frame: self.request_stop(),
            signal.SIGINT: lambda signum, frame: self.request_stop(),
            signal.SIGHUP: lambda signum, frame: self.request_reload(),
        }
        return {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}

    @staticmethod
    def _restore_signals(previous: dict[int, object]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    # -- reload ---------------------------------------------------------------------------------
    def reload(self) -> None:
        """SIGHUP: read the configuration again; on an error keep running with the old one."""
        if self.reload_settings is None:
            log.warning("SIGHUP: nothing to reload from")
            return
        try:
            new = self.reload_settings()
        except FacesidecarError as exc:
            log.error("reload failed, keeping the running configuration: %s", exc)
            return
        self.notifier.reloading()
        old_roots = self.settings.roots
        self.settings = new
        self.debouncer.debounce_seconds = new.daemon.debounce_seconds
        self.debouncer.stable_seconds = new.daemon.stable_seconds
        self.queue.maxsize = new.daemon.queue_size
        self.worker.update_settings(new)
        apply_nice(new.daemon.nice)
        if new.roots != old_roots:
            self._restart_observers(old_roots)
        log.info("configuration reloaded from %s", new.source)
        self.notifier.ready(self.status_text())

    def _restart_observers(self, old_roots: list[RootSettings]) -> None:
        self._stop_observers()
        self._start_observers(self.settings.roots)
        old = {Path(r.path) for r in old_roots}
        added = frozenset(p for p in self.settings.root_paths() if p not in old)
        if added:
            self.queue.put(Job(Priority.RESCAN, trees=added), force=True)
        log.info("now watching %s", ", ".join(self._describe_root(r) for r in self.settings.roots))


__all__ = ["Daemon", "InstanceLock", "JobQueue", "MemoryGuard", "Worker", "apply_nice"]
