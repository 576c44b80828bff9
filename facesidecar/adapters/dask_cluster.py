"""Photos analysed on a Dask cluster: the scale-out engine of issue 18.

The scanner submits the same pure step the local workers run (:func:`facesidecar.photojob.run_batch`)
through ``distributed.Client``'s ``concurrent.futures`` executor to ``dask worker`` processes on
other machines (``facesidecar worker SCHEDULER``). Photos travel as bytes, results come back as
boxes and vectors; nothing on the workers needs the photo share.

- A worker that disappears mid-task costs a retry, not a photo: the scheduler gives its tasks to
  another worker (Dask's ``allowed-failures``); a photo that keeps killing workers ends as an error.
- An unreachable scheduler, or one lost mid-scan, is said once in the log and the scan goes on
  with the local worker pool; the cluster is tried again after ``RECONNECT_SECONDS``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, TimeoutError, wait
from itertools import islice

from ..config import ClusterSettings, EngineSettings
from ..photojob import BATCH_PHOTOS, DetectExecutor, PhotoJob, PhotoResult, run_batch, take_batch

log = logging.getLogger(__name__)

IN_FLIGHT_PER_WORKER = 2
WAIT_SECONDS = 0.25
RECONNECT_SECONDS = 300.0


def security(settings: ClusterSettings):
    """Dask's ``Security`` from the ``[cluster]`` TLS options (None for plain tcp://)."""
    if not (settings.tls_ca_file or settings.tls_client_cert or settings.require_encryption):
        return None
    from distributed.security import Security

    return Security(tls_ca_file=settings.tls_ca_file or None, tls_client_cert=settings.tls_client_cert or None,
                    tls_client_key=settings.tls_client_key or None, require_encryption=settings.require_encryption)


class ClusterExecutor:
    """The :class:`~facesidecar.photojob.DetectExecutor` that sends batches to a Dask scheduler."""

    def __init__(self, cluster: ClusterSettings, engine: EngineSettings, local: Callable[[], DetectExecutor]):
        self.cluster = cluster
        self.engine = engine
        self._make_local = local
        self._local: DetectExecutor | None = None
        self._client = None
        self._failed_at: float | None = None
        self.fell_back = False
        """Whether the last run analysed photos on this machine instead (for callers and tests)."""

    def run(self, jobs: Iterable[PhotoJob], should_stop: Callable[[], bool]) -> Iterator[PhotoResult]:
        jobs = iter(jobs)
        client = self._connect()
        self.fell_back = client is None
        if client is not None:
            try:
                yield from self._run_on(client, jobs, should_stop)
                return
            except _ClusterLost as lost:
                self._lose(f"lost the Dask scheduler {self.cluster.scheduler} mid-scan ({lost})")
                jobs = _chain(lost.unfinished, jobs)
        self.fell_back = True
        yield from self.local.run(jobs, should_stop)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
        if self._local is not None:
            self._local.close()
            self._local = None

    @property
    def local(self) -> DetectExecutor:
        if self._local is None:
            self._local = self._make_local()
        return self._local

    # -- the cluster ------------------------------------------------------------------------------
    def _connect(self):
        if self._client is not None:
            return self._client
        if self._failed_at is not None and time.monotonic() - self._failed_at < RECONNECT_SECONDS:
            return None
        from distributed import Client

        try:
            self._client = Client(self.cluster.scheduler, security=security(self.cluster),
                                  timeout=self.cluster.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            self._lose(_unreachable(self.cluster, exc))
            return None
        log.info("analysing photos on the Dask cluster at %s", self.cluster.scheduler)
        return self._client

    def _lose(self, what: str) -> None:
        """Say it once (until the cluster worked again), then use the local pool."""
        if self._failed_at is None:
            log.warning("%s: analysing photos on this machine instead; the cluster is tried again in %.0f minutes",
                        what, RECONNECT_SECONDS / 60)
        self._failed_at = time.monotonic()
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close(timeout=2)
            except (OSError, TimeoutError):
                pass

    def _run_on(self, client, jobs: Iterator[PhotoJob], should_stop: Callable[[], bool]) -> Iterator[PhotoResult]:
        """Batches go out as tasks finish, whichever finishes (a slow batch at the head must not
        leave the other workers idle); results come back in the order of the jobs."""
        executor = client.get_executor(pure=False)
        window = max(1, len(client.scheduler_info().get("workers", {}))) * IN_FLIGHT_PER_WORKER
        waiting: deque[PhotoJob] = deque()
        flying: deque[tuple[Future, list[PhotoJob]]] = deque()

        def submit(batch: list[PhotoJob]) -> tuple[Future, list[PhotoJob]]:
            return executor.submit(run_batch, batch, self.engine), batch

        while True:
            running = sum(not future.done() for future, _ in flying)
            while running < window and not should_stop():
                # decode marks are this machine's files: a job leaves without its mark
                waiting.extend(dataclasses.replace(j, mark=None) for j in islice(jobs, BATCH_PHOTOS - len(waiting)))
                batch = take_batch(waiting)
                if not batch:
                    break
                flying.append(submit(batch))
                running += 1
            if not flying or should_stop():
                for future, _ in flying:
                    future.cancel()
                return
            future, batch = flying[0]
            if not future.done():
                wait([f for f, _ in flying if not f.done()], timeout=WAIT_SECONDS, return_when=FIRST_COMPLETED)
                if not future.done() and client.status not in ("running", "connecting"):
                    raise _ClusterLost(client.status, _unfinished(flying, waiting))
                continue
            flying.popleft()
            try:
                results = future.result()
            except OSError as exc:
                raise _ClusterLost(str(exc), [*batch, *_unfinished(flying, waiting)]) from None
            except Exception as exc:  # noqa: BLE001 - a task's failure (KilledWorker, …) is its photos' error
                if len(batch) > 1:  # find the photo: each of the batch again, alone
                    flying.extendleft(reversed([submit([job]) for job in batch]))
                else:
                    yield _failed(batch[0], exc)
                continue
            self._failed_at = None
            yield from results


def _unreachable(cluster: ClusterSettings, exc: BaseException) -> str:
    """Why the scheduler could not be reached; a TLS handshake that failed names the certificates."""
    reason = str(exc) or type(exc).__name__
    if "SSL" in reason:
        return (f"the Dask scheduler {cluster.scheduler} and this machine do not trust each other's certificates "
                f"({reason}): cluster.tls_client_cert ({cluster.tls_client_cert}) must be signed by the CA in "
                f"cluster.tls_ca_file ({cluster.tls_ca_file}), the CA that also signed the scheduler's certificate")
    return f"cannot reach the Dask scheduler {cluster.scheduler} ({reason})"


class _ClusterLost(Exception):
    def __init__(self, reason: str, unfinished: list[PhotoJob]):
        super().__init__(reason)
        self.unfinished = unfinished


def _unfinished(flying: deque[tuple[Future, list[PhotoJob]]], waiting: deque[PhotoJob]) -> list[PhotoJob]:
    """The jobs sent and not answered, then those not yet sent, in order: the local pool takes them."""
    return [*(job for _, batch in flying for job in batch), *waiting]


def _failed(job: PhotoJob, exc: BaseException) -> PhotoResult:
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return PhotoResult(job.key, error=f"{job.photo.path}: the Dask cluster could not analyse this photo ({reason}); "
                                      "it is retried when it changes. If workers died on it, re-export the photo")


def _chain(first: list[PhotoJob], rest: Iterator[PhotoJob]) -> Iterator[PhotoJob]:
    yield from first
    yield from rest


__all__ = ["ClusterExecutor", "security"]
