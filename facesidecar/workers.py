"""A pool of local worker processes for the decode + detect + encode step (issue 18).

A scan used one core; photos are independent, so each worker process loads the model once and
analyses batches of photos the scanning process sends it as bytes (:mod:`.photojob`). Results
come back in the order the photos were sent, so the scanner writes sidecars exactly as before.

- **Size.** ``engine.workers`` (0: one per core), capped by memory: the first worker reports its
  resident memory once its model is loaded, every result its peak so far, and the pool keeps
  ``scanner + workers x peak`` under ``daemon.memory_limit_mb`` (retiring workers if photos grow them).
- **Crashes.** A worker that dies (a decoder crash, the OOM killer, SIGKILL) is replaced; the photos
  it held are sent again, each alone. A photo whose second try kills a worker too is returned as
  an error naming it: never "no faces", never lost silently, and the other photos go on.
- **Stopping.** Workers ignore SIGINT (Ctrl-C reaches the whole process group; the scanner decides),
  and :meth:`LocalPool.close` ends them within a second or two, killing those that do not listen.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path

from .config import EngineSettings
from .errors import EngineError
from .photojob import BATCH_PHOTOS, PhotoJob, PhotoResult, engines_for, peak_rss, run_job, take_batch

log = logging.getLogger(__name__)

QUEUED_BATCHES = 2
"""Batches a worker holds: it starts the next while the scanner is busy with sidecars and metadata."""
WAIT_SECONDS = 0.25
START_FAILURES = 3
"""Workers that die before their model is loaded, in a row, before the engine is declared broken."""


def worker_count(configured: int) -> int:
    """``engine.workers``, or one per core this process may use when it is 0."""
    if configured > 0:
        return configured
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _worker_main(jobs: Connection, conn: Connection, settings: EngineSettings, state_dir: Path | None,
                 scanner: int) -> None:
    """A worker process: load the engines, then answer batches until told to stop (None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not _die_with(scanner):
        return
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_receive_batches, args=(jobs, inbox), daemon=True).start()
    try:
        engines = engines_for(settings, state_dir)
    except EngineError as exc:
        _tell(conn, "failed", str(exc))
        return
    if not _tell(conn, "ready", peak_rss()):
        return
    while True:
        batch = inbox.get()
        if batch is None:
            return
        for job in batch:
            if not _tell(conn, "result", run_job(job, settings, engines)):
                return


def _tell(conn: Connection, kind: str, value: object) -> bool:
    """Send to the scanner; False when it is gone (stopped, killed while this worker loaded its model)."""
    try:
        conn.send((kind, value))
    except (BrokenPipeError, EOFError):
        return False
    return True


def _die_with(scanner: int) -> bool:
    """Ask Linux to end this worker when the scanner dies (SIGKILL, OOM, SIGTERM): no orphan goes on
    decoding. False when the scanner is already gone (it died while this process started: loading
    the model would keep an orphan busy for seconds)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    return os.getppid() == scanner


def _receive_batches(jobs: Connection, inbox: queue.SimpleQueue) -> None:
    """Take batches off the pipe as soon as they come, so that the scanner never waits for a busy worker."""
    while True:
        try:
            batch = jobs.recv()
        except (EOFError, OSError):
            batch = None  # the scanner is gone
        inbox.put(batch)
        if batch is None:
            return


@dataclass
class _Worker:
    """One worker process: batches go out through a pipe fed by a thread of ours (dlib holds the
    worker's GIL while it works, so a send may wait for seconds: the scanner must not), results come
    back through another pipe."""

    process: BaseProcess
    jobs: Connection
    conn: Connection
    ready: bool = False
    held: deque[list[PhotoJob]] = field(default_factory=deque)
    """Batches sent and not fully answered, oldest first."""
    retiring: bool = False
    stopped: bool = False
    outbox: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)

    def __post_init__(self) -> None:
        threading.Thread(target=self._feed, name="facesidecar-detect-feed", daemon=True).start()

    def _feed(self) -> None:
        while True:
            batch = self.outbox.get()
            try:
                self.jobs.send(batch)
            except (OSError, ValueError):
                return  # it died (its sentinel tells) or was closed: what it holds is sent again
            if batch is None:
                return

    def send(self, batch: list[PhotoJob] | None) -> None:
        self.outbox.put(batch)
        if batch is None:
            self.stopped = True
        else:
            self.held.append(batch)

    def release(self) -> None:
        self.conn.close()
        self.jobs.close()

    def outstanding(self) -> list[PhotoJob]:
        return [job for batch in self.held for job in batch]


class LocalPool:
    """Worker processes on this machine behind the :class:`~facesidecar.photojob.DetectExecutor` interface."""

    def __init__(self, settings: EngineSettings, *, workers: int = 0, memory_limit_mb: int = 0,
                 state_dir: Path | None = None, own_rss: Callable[[], int] | None = None):
        self.settings = settings
        self.wanted = worker_count(workers)
        self.memory_limit = memory_limit_mb * 2**20
        self.state_dir = state_dir
        self.own_rss = own_rss or _own_rss
        self._context = get_context("spawn")  # no fork of a process with threads (watcher, exiftool)
        self._workers: list[_Worker] = []
        self._peak = 0
        self._start_failures = 0
        self._told_memory = False

    # -- the DetectExecutor interface -----------------------------------------------------------
    def run(self, jobs: Iterable[PhotoJob], should_stop: Callable[[], bool]) -> Iterator[PhotoResult]:
        source = iter(jobs)
        waiting: deque[PhotoJob] = deque()  # read from ``jobs``, not yet sent
        retries: deque[PhotoJob] = deque()  # held by a worker that died: sent again, each alone
        tried: set[int] = set()
        done: dict[int, PhotoResult] = {}
        order: deque[int] = deque()
        exhausted = False
        while True:
            if should_stop():
                return
            while order and order[0] in done:
                yield done.pop(order.popleft())
                if should_stop():
                    return
            if not exhausted and len(waiting) < self._window():
                job = next(source, None)
                if job is None:
                    exhausted = True
                else:
                    waiting.append(job)
                    order.append(job.key)
                continue
            if not order:
                return
            self._dispatch(waiting, retries)
            self._fill(len(waiting) + len(retries))
            self._receive(done, retries, tried, should_stop)

    def close(self) -> None:
        """End every worker within about three seconds: ask, then terminate, then kill (a worker
        inside dlib may not listen)."""
        workers, self._workers = self._workers, []
        for worker in workers:
            if not worker.stopped:
                worker.send(None)
        for ending in (None, "terminate", "kill"):
            alive = [w.process for w in workers if w.process.is_alive()]
            for process in alive:
                if ending is not None:
                    getattr(process, ending)()
            deadline = time.monotonic() + 1.0
            for process in alive:
                process.join(max(0.0, deadline - time.monotonic()))
        for worker in workers:
            worker.release()

    @property
    def size(self) -> int:
        """Worker processes running now."""
        return len(self._workers)

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    # -- sizing ---------------------------------------------------------------------------------
    def _window(self) -> int:
        return max(1, self.wanted) * QUEUED_BATCHES * BATCH_PHOTOS

    def _allowed(self) -> int:
        """How many workers fit in the memory limit, from the largest worker peak seen so far."""
        if not self.memory_limit or not self._peak:
            return self.wanted
        room = self.memory_limit - self.own_rss()
        fit = max(1, room // self._peak)
        if fit < self.wanted and not self._told_memory:
            self._told_memory = True
            log.warning("running %d of %d worker processes: each takes up to %.0f MB and daemon.memory_limit_mb is %d",
                        fit, self.wanted, self._peak / 2**20, self.memory_limit // 2**20)
        return min(self.wanted, fit)

    def _fill(self, backlog: int) -> None:
        """Start workers up to the allowed number: one first, the others once its size is known and
        only while photos wait that the running workers cannot take (a few new photos, as the
        daemon mostly sees, are not worth starting a process and loading a model)."""
        if not self._workers:
            self._start()
            return
        if not all(w.ready for w in self._workers):
            return
        allowed = self._allowed()
        if backlog and len([w for w in self._workers if not w.retiring]) < allowed:
            self._start()
        for worker in self._workers[allowed:]:
            worker.retiring = True

    def _start(self) -> None:
        ours, theirs = self._context.Pipe(duplex=False)
        their_jobs, our_jobs = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_worker_main, args=(their_jobs, theirs, self.settings, self.state_dir, os.getpid()),
                                        name="facesidecar-detect", daemon=True)
        process.start()
        theirs.close()
        their_jobs.close()
        self._workers.append(_Worker(process, our_jobs, ours))

    # -- sending and receiving ------------------------------------------------------------------
    def _dispatch(self, waiting: deque[PhotoJob], retries: deque[PhotoJob]) -> None:
        for worker in self._workers:
            if worker.retiring:
                if not worker.held and not worker.stopped:
                    worker.send(None)
                continue
            while worker.ready and len(worker.held) < QUEUED_BATCHES and (retries or waiting):
                if retries:
                    if worker.held:
                        break  # a retried photo goes alone to a worker holding nothing else
                    worker.send([retries.popleft()])
                else:
                    worker.send(_take_batch(waiting, len(self._workers)))

    def _receive(self, done: dict[int, PhotoResult], retries: deque[PhotoJob], tried: set[int],
                 should_stop: Callable[[], bool]) -> None:
        by_conn = {w.conn: w for w in self._workers}
        by_sentinel = {w.process.sentinel: w for w in self._workers}
        for ready in wait([*by_conn, *by_sentinel], timeout=WAIT_SECONDS):
            worker = by_conn.get(ready)
            if worker is not None:
                self._read(worker, done)
            elif by_sentinel[ready] in self._workers:
                self._lost(by_sentinel[ready], done, retries, tried, should_stop)

    def _read(self, worker: _Worker, done: dict[int, PhotoResult]) -> None:
        while worker.conn.poll():
            try:
                kind, value = worker.conn.recv()
            except (EOFError, OSError):
                return  # died: its sentinel tells
            if kind == "failed":
                raise EngineError(value)
            if kind == "ready":
                worker.ready, self._start_failures = True, 0
                self._peak = max(self._peak, value)
                continue
            done[value.key] = value
            self._peak = max(self._peak, value.peak_rss)
            batch = worker.held[0]
            batch.remove(next(j for j in batch if j.key == value.key))
            if not batch:
                worker.held.popleft()
            if worker.retiring and not worker.held and not worker.stopped:
                worker.send(None)

    def _lost(self, worker: _Worker, done: dict[int, PhotoResult], retries: deque[PhotoJob], tried: set[int],
              should_stop: Callable[[], bool]) -> None:
        """A worker died: replace it; its photos go again, each alone; a second death is the photo's error."""
        self._read(worker, done)  # results it sent before dying
        self._workers.remove(worker)
        worker.process.join()
        worker.release()
        code = worker.process.exitcode
        if worker.stopped and code == 0:
            return
        if should_stop():
            return  # stopping: the signal that ended the scan may have ended the worker too
        if not worker.ready:
            self._start_failures += 1
            if self._start_failures >= START_FAILURES:
                raise EngineError(f"worker processes die while loading the face model ({_how(code)}); run "
                                  "'facesidecar doctor', or set engine.workers = 1 to see the error in this process")
        held = worker.outstanding()
        log.warning("a worker process died (%s) holding %d photos; starting another", _how(code), len(held))
        for job in held:
            if job.key in tried:
                done[job.key] = PhotoResult(job.key, error=(
                    f"{job.photo.path}: the worker process analysing this photo died twice ({_how(code)}); the "
                    "photo is skipped until it changes. If it opens in an image viewer, re-export it; if "
                    "memory is short, lower engine.max_image_pixels or engine.workers"))
            else:
                tried.add(job.key)
                retries.append(job)


def _take_batch(waiting: deque[PhotoJob], workers: int) -> list[PhotoJob]:
    """The next batch (:func:`~facesidecar.photojob.take_batch`), smaller when few photos wait, so
    that every worker gets some."""
    return take_batch(waiting, max(1, min(BATCH_PHOTOS, math.ceil(len(waiting) / max(1, workers * QUEUED_BATCHES)))))


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


def _own_rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


__all__ = ["LocalPool", "worker_count"]
