"""The photos of a whole pass flowing through a detect executor, ahead of the folder transactions.

The scanner reads each photo (through the confined layer, in its own process) and hands the bytes
to the executor: inline, local worker processes or a Dask cluster. While it merges, guesses and
writes one folder, the workers already analyse the next folder's photos; the scanner takes the
results photo by photo, in folder order, as it needs them, and turns each into the detect stage's
:class:`~facesidecar.model.Detection`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import EngineSettings, Settings
from .engines.base import FaceEngine
from .engines.source import EngineSource
from .errors import EngineError, ImageError, MetadataError, SidecarError
from .folders import file_sha256
from .imaging import RAW_EXTENSIONS, decode_bytes, read_photo
from .model import Box, Detection, Face, FolderPlan, ImportedRegion, best_overlap
from .photojob import DecodeMark, DetectExecutor, Engines, InlineExecutor, PhotoJob, PhotoResult, run_job
from .pipeline.detect import IMPORT_IOU, PeopleReader, changed_meanwhile, encode_boxes
from .pipeline.inflight import DEATHS_ALLOWED, DecodeMarks, killed_error
from .ports import MetadataWriter

log = logging.getLogger(__name__)

_keys = itertools.count()
"""Job keys unique in the process, so a result that arrives after its run ended is never mistaken."""


@dataclass
class PhotoReader:
    """Reads a photo in the scanning process: the job for the executor and the hash of the file.

    A photo that killed the scanning process twice while it was decoded is refused here
    (pipeline/inflight.py); the others carry their decode mark to the worker that decodes them.
    """

    settings: EngineSettings
    preview: Callable[[Path], bytes] | None
    marks: DecodeMarks

    def __call__(self, path: Path, info: os.stat_result) -> tuple[PhotoJob, str]:
        photo = read_photo(path, self.preview, self.settings.decode_memory_mb)
        sha256 = hashlib.sha256(photo.data).hexdigest() if path.suffix.lower() not in RAW_EXTENSIONS else _file_sha256(path)
        deaths = self.marks.deaths(path, info)
        if deaths >= DEATHS_ALLOWED:
            raise _Refused(killed_error(path), sha256)
        return PhotoJob(0, photo, DecodeMark(self.marks.folder.parent, info, deaths, os.getpid())), sha256

    def decode(self, path: Path):
        """The photo decoded here, for the rare region that no detected face matches."""
        s = self.settings
        return decode_bytes(read_photo(path, self.preview, s.decode_memory_mb), s.max_image_pixels, s.pixel_limit,
                            s.decode_memory_mb)


class _Refused(ImageError):
    def __init__(self, message: str, sha256: str):
        super().__init__(message)
        self.sha256 = sha256


def _file_sha256(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror}); give the user facesidecar runs read access to "
                         "the file and its folder") from None


@dataclass
class Outcome:
    """A photo's hash and what the executor found, or why it could not be read."""

    sha256: str = ""
    result: PhotoResult | None = None
    error: str = ""
    reader: PhotoReader | None = None

    def detection(self, path: Path, info: os.stat_result, engine: FaceEngine, read_people: PeopleReader | None,
                  settings: EngineSettings) -> Detection:
        """The detect stage's result; an engine that cannot work (or a worker with another model) raises."""
        base = Detection(path.name, info.st_size, info.st_mtime_ns, self.sha256, error=self.error)
        result = self.result
        if result is None:
            return base
        if result.engine_error:
            raise EngineError(result.engine_error)
        if result.error:
            return dataclasses.replace(base, error=result.error)
        if result.model != engine.model_name:
            raise EngineError(f"{path} was analysed with {result.model}, but this scan uses {engine.model_name}: "
                              "give every worker the same facesidecar version and engine settings")
        regions = self._regions(path, result, engine, read_people) if read_people is not None else ()
        return dataclasses.replace(base, faces=tuple(result.faces), extra=result.extra, width=result.stored_width,
                                   height=result.stored_height, orientation=result.orientation, regions=regions)

    def _regions(self, path: Path, result: PhotoResult, engine: FaceEngine,
                 read_people: PeopleReader) -> tuple[ImportedRegion, ...]:
        """Person regions already in the photo (see pipeline/detect.read_regions); only a region no
        detected face overlaps (a face the detector missed) costs decoding the photo again, here."""
        try:
            people = read_people(path, result.orientation, (result.stored_width, result.stored_height))
        except MetadataError as exc:
            log.warning("%s", exc)
            return ()
        detected = [Face(face_id="", box=f.box) for f in result.faces]
        regions = []
        for person in people:
            vector = None
            if best_overlap(person.box, detected, IMPORT_IOU) is None:
                try:
                    vector = self._encode(path, person.box, engine)
                except (ImageError, SidecarError, RuntimeError, ValueError) as exc:
                    log.warning("%s: region of %s could not be encoded (%s)", path, person.name, exc)
                    continue
            regions.append(ImportedRegion(person, vector))
        return tuple(regions)

    def _encode(self, path: Path, box: Box, engine: FaceEngine) -> np.ndarray:
        return encode_boxes(engine, self.reader.decode(path), [box])[0]


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
            if result is None:  # the executor is done: a photo that could not be read was the last
                return self._ready.pop(path, None)
            found, sha256 = self._sent.pop(result.key)
            self._ready[found] = Outcome(sha256, result, reader=self._read)
        return self._ready.pop(path)

    def _jobs(self, photos: Iterable[tuple[Path, os.stat_result]]) -> Iterator[PhotoJob]:
        for path, info in photos:
            if self._should_stop():
                return
            try:
                job, sha256 = self._read(path, info)
            except _Refused as exc:
                self._ready[path] = Outcome(exc.sha256, error=str(exc))
                continue
            except (ImageError, SidecarError) as exc:
                self._ready[path] = Outcome(error=str(exc))
                continue
            job = dataclasses.replace(job, key=next(_keys))
            self._sent[job.key] = (path, sha256)
            yield job


class Detector:
    """The detect stage of a scanner: where photos are analysed (the injected executor: worker
    processes or a Dask cluster, see compose.py; else this process with the scanner's engines),
    and how a folder's photos become :class:`~facesidecar.model.Detection` results."""

    def __init__(self, settings: Settings, engines: EngineSource, *, executor: DetectExecutor | None = None,
                 metadata: MetadataWriter | None = None, should_stop: Callable[[], bool] = lambda: False):
        self.settings = settings
        self.engines = engines
        self._executor = executor
        self.metadata = metadata
        self.should_stop = should_stop
        self.decode_marks = DecodeMarks(settings.state_path())
        """Photos being decoded, so that one that kills the process is not retried at every start."""

    @property
    def executor(self) -> DetectExecutor:
        if self._executor is None:
            self._executor = InlineExecutor(self.settings.engine, self.engines.engines)
        return self._executor

    def stream(self, photos: Iterable[tuple[Path, os.stat_result]]) -> DetectionStream:
        """A pass's photos on their way through the executor, read ahead of the folders that take them."""
        preview = self.metadata.raw_preview if self.metadata is not None else None
        read = PhotoReader(self.settings.engine, preview, self.decode_marks)
        return DetectionStream(self.executor, photos, read, self.should_stop)

    def detect(self, stream: DetectionStream, plan: FolderPlan, on_photo: Callable[[], None]) -> list[Detection]:
        """The folder's new and changed photos' detections, in order; a photo that changed while it
        was analysed is left out (the next pass takes it again), as is everything once stopping."""
        metadata = self.metadata
        importing = metadata is not None and self.settings.metadata.import_existing
        results = []
        for name in plan.to_scan:
            path, known = plan.folder / name, plan.known.get(name)
            outcome = None if self.should_stop() else stream.outcome(path)
            if outcome is None:
                break
            read_people = metadata.read_people if importing and not (known is not None and known.imported) else None
            detection = outcome.detection(path, plan.on_disk[name], self.engines.primary, read_people,
                                          self.settings.engine)
            if changed_meanwhile(path, detection):
                log.info("%s changed while it was scanned; it will be scanned again", path)
            else:
                results.append(detection)
            on_photo()
        return results

    def analyse(self, path: Path) -> PhotoResult:
        """One photo read and analysed in this process by the function workers run (photojob.run_job),
        with the primary engine only: for commands that look at a photo without scanning it
        (``match``, a dry run of ``import-hubzilla``), so that they find the faces a scan finds.
        A photo that cannot be read is a result with ``error``."""
        preview = self.metadata.raw_preview if self.metadata is not None else None
        settings = self.settings.engine
        try:
            photo = read_photo(path, preview, settings.decode_memory_mb)
        except (ImageError, SidecarError) as exc:
            return PhotoResult(0, error=str(exc))
        return run_job(PhotoJob(0, photo), settings, Engines(self.engines.primary))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()


__all__ = ["DetectionStream", "Detector", "Outcome", "PhotoReader"]
