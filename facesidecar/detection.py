"""The photos of a whole pass flowing through a detect executor, ahead of the folder transactions.

The scanner reads each photo (through the confined layer, in its own process) and hands the bytes
to the executor: inline, local worker processes or a Dask cluster. While it merges, guesses and
writes one folder, the workers already analyse the next folder's photos; the scanner takes the
results photo by photo, in folder order, as it needs them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import ImageError, SidecarError
from .photojob import DetectExecutor, PhotoJob, PhotoResult

_keys = itertools.count()
"""Job keys unique in the process, so a result that arrives after its run ended is never mistaken."""


@dataclass
class Outcome:
    """A photo's bytes' hash and what the executor found, or why it could not be read."""

    sha256: str = ""
    result: PhotoResult | None = None
    error: str = ""


PhotoReader = Callable[[Path, os.stat_result], tuple[PhotoJob, str]]
"""Reads a photo in the scanning process: the job for the executor (its key left to fill in) and the
hash of the file."""


class DetectionStream:
    """Results for ``photos`` (path, stat) in their order; a photo that cannot be read never leaves
    this process."""

    def __init__(self, executor: DetectExecutor, photos: Iterable[tuple[Path, os.stat_result]], read: PhotoReader,
                 should_stop: Callable[[], bool]):
        self._read = read
        self._should_stop = should_stop
        self._ready: dict[Path, Outcome] = {}
        self._sent: dict[int, tuple[Path, str]] = {}
        self._results = executor.run(self._jobs(photos), should_stop)

    def outcome(self, path: Path) -> Outcome | None:
        """What was found for ``path`` (asked in the order given); None once the scan is stopping."""
        while path not in self._ready:
            result = next(self._results, None)
            if result is None:
                return None
            found, sha256 = self._sent.pop(result.key)
            self._ready[found] = Outcome(sha256, result)
        return self._ready.pop(path)

    def _jobs(self, photos: Iterable[tuple[Path, os.stat_result]]) -> Iterator[PhotoJob]:
        for path, info in photos:
            if self._should_stop():
                return
            try:
                job, sha256 = self._read(path, info)
            except (ImageError, SidecarError) as exc:
                self._ready[path] = Outcome(error=str(exc))
                continue
            job = dataclasses.replace(job, key=next(_keys))
            self._sent[job.key] = (path, sha256)
            yield job


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


__all__ = ["DetectionStream", "Outcome", "PhotoReader", "bytes_sha256"]
