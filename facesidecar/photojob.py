"""Decode + detect + encode as a pure function of a photo's bytes and the engine settings.

This is the one step of a scan that costs CPU, and the one that runs elsewhere: in worker
processes on this machine (:mod:`.workers`) or on other machines through Dask
(:mod:`.adapters.dask_cluster`). Everything it needs travels with the job (bytes, never a path
to open) and everything it finds comes back as plain values (boxes as fractions, vectors), so
sidecars, merging, guessing and metadata stay in the scanning process, in folder order.

Each process builds its engines once per engine settings (:func:`engines_for`) and keeps them.
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from .config import EngineSettings
from .engines import FaceEngine, get_engine
from .errors import EngineError, ImageError
from .imaging import PhotoBytes, decode_bytes
from .model import FoundFace
from .pipeline.detect import encode_boxes, find_faces
from .pipeline.inflight import DecodeMarks


@dataclass(frozen=True)
class DecodeMark:
    """Where and how to mark the photo while it is decoded on this machine (see pipeline/inflight.py)."""

    state_dir: Path
    identity: os.stat_result
    deaths: int
    owner: int
    """The scanning process: its death while the photo is decoded is what the mark counts."""


@dataclass(frozen=True)
class PhotoJob:
    """One photo to analyse; ``key`` is the scanner's, to match the result."""

    key: int
    photo: PhotoBytes
    mark: DecodeMark | None = None


@dataclass
class PhotoResult:
    """What the job found, or why it failed (``error``: the photo; ``engine_error``: the engine)."""

    key: int
    model: str = ""
    faces: list[FoundFace] = field(default_factory=list)
    extra: dict[str, list[np.ndarray]] = field(default_factory=dict)
    """Encodings of the same faces by each of ``engine.extra_models``."""
    stored_width: int = 0
    stored_height: int = 0
    orientation: int = 1
    error: str = ""
    engine_error: str = ""
    peak_rss: int = 0
    """The peak resident memory (bytes) of the process that ran the job, so far."""


@dataclass
class Engines:
    """The primary engine and the extra models' engines of one engine configuration."""

    primary: FaceEngine
    extra: dict[str, FaceEngine] = field(default_factory=dict)


class DetectExecutor(Protocol):
    """Runs jobs somewhere; results come back in the order the jobs were given.

    ``jobs`` is read lazily, a few ahead of the results, so that bytes are in memory only for the
    photos being worked on; ``should_stop`` ends the run early (results not yet in are dropped).
    """

    def run(self, jobs: Iterable[PhotoJob], should_stop: Callable[[], bool]) -> Iterator[PhotoResult]: ...

    def close(self) -> None: ...


_engines: dict[str, Engines] = {}


def engines_for(settings: EngineSettings, state_dir: Path | None = None) -> Engines:
    """This process's engines for ``settings``, built (and their models loaded) on first use."""
    key = engine_key(settings)
    if key not in _engines:
        primary = get_engine(settings, state_dir=state_dir)
        extra = (get_engine(settings, model=m, state_dir=state_dir) for m in settings.extra_models)
        engines = Engines(primary, {e.model_name: e for e in extra if e.model_name != primary.model_name})
        for engine in (engines.primary, *engines.extra.values()):
            engine.detect(np.zeros((32, 32, 3), np.uint8))  # loads the model now, not on the first photo
        _engines[key] = engines
    return _engines[key]


def engine_key(settings: EngineSettings) -> tuple:
    """What makes two engine configurations give the same boxes and vectors (thresholds do not)."""
    return (settings.backend, settings.detector, settings.model, tuple(settings.extra_models), settings.upsample,
            settings.weights_dir, settings.allow_downloads)


def run_job(job: PhotoJob, settings: EngineSettings, engines: Engines) -> PhotoResult:
    """Decode, detect and encode one photo; a broken photo is an ``error``, never "no faces"."""
    result = PhotoResult(job.key, model=engines.primary.model_name)
    try:
        with _marked(job):
            decoded = decode_bytes(job.photo, settings.max_image_pixels, settings.pixel_limit, settings.decode_memory_mb)
        result.faces = find_faces(engines.primary, decoded, settings.min_face_size, settings.smallest_face)
        boxes = [f.box for f in result.faces]
        result.extra = {m: encode_boxes(e, decoded, boxes) for m, e in engines.extra.items()}
    except ImageError as exc:
        result.error = str(exc)
    except EngineError as exc:
        result.engine_error = str(exc)
    except (RuntimeError, ValueError, OSError, MemoryError) as exc:
        result.error = f"{job.photo.path}: face detection failed: {exc}"
    else:
        result.stored_width, result.stored_height = decoded.stored_width, decoded.stored_height
        result.orientation = decoded.orientation
    result.peak_rss = peak_rss()
    return result


def peak_rss() -> int:
    """This process's peak resident memory in bytes, from /proc's VmHWM. getrusage's ru_maxrss
    survives exec: a worker process the scanner spawned reported the scanner's own size at that
    moment (a 300 MB scanner made every worker look 300 MB, and the pool smaller than the limit allows)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass  # no /proc: getrusage is the next best
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _marked(job: PhotoJob) -> contextlib.AbstractContextManager:
    mark = job.mark
    if mark is None:
        return contextlib.nullcontext()
    return DecodeMarks(mark.state_dir).decoding(job.photo.path, mark.identity, mark.deaths, mark.owner)


BATCH_PHOTOS = 4
"""Photos per batch at most: small portraits (tens of ms each) travel four to a message or task."""
BATCH_BYTES = 512 * 2**10
"""A batch closes at this size. A camera photo is 250-500 ms of work whatever its size (it is
decoded reduced), so camera photos travel alone or in pairs: at the end of a pass no worker is
still busy with a batch of four while the others have nothing left. On the Dask cluster (which
sent a batch out only when the oldest came back) batches of four camera photos left the two
workers' CPU seconds 20 % apart; the local pool lost less (its batches shrink as the pass ends)."""


def take_batch(waiting: deque[PhotoJob], count: int = BATCH_PHOTOS) -> list[PhotoJob]:
    """The next batch off the front of ``waiting``: at most ``count`` photos and BATCH_BYTES, at least one."""
    batch, size = [], 0
    while waiting and len(batch) < count and (not batch or size + len(waiting[0].photo.data) <= BATCH_BYTES):
        job = waiting.popleft()
        batch.append(job)
        size += len(job.photo.data)
    return batch


def run_batch(jobs: list[PhotoJob], settings: EngineSettings) -> list[PhotoResult]:
    """A batch of jobs with this process's engines: the task Dask workers run (see dask_cluster)."""
    engines = engines_for(settings)
    return [run_job(job, settings, engines) for job in jobs]


class InlineExecutor:
    """Jobs run one by one in this process with given engines (an engine handed to the scanner:
    tests, tools; and the fallback when worker processes are switched off)."""

    def __init__(self, settings: EngineSettings, engines: Callable[[], Engines]):
        self.settings = settings
        self.engines = engines

    def run(self, jobs: Iterable[PhotoJob], should_stop: Callable[[], bool]) -> Iterator[PhotoResult]:
        for job in jobs:
            if should_stop():
                return
            yield run_job(job, self.settings, self.engines())

    def close(self) -> None:
        """Nothing to release: the engines belong to the scanner."""


__all__ = ["BATCH_PHOTOS", "DecodeMark", "DetectExecutor", "Engines", "InlineExecutor", "PhotoJob", "PhotoResult",
           "engines_for", "peak_rss", "run_batch", "run_job", "take_batch"]
