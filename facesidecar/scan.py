"""The pipeline that ``scan`` and ``watch`` share: plan > detect > store > guess > publish.

For each folder: compare the photos on disk with faces.pkl (a stat per photo), find photos that
moved (content hash), decode and detect the new and changed ones outside the folder lock, then in
one transaction merge a person's CSV edits, apply the results, guess names and write the photos'
metadata. After all folders, guesses and clusters are refreshed wherever names changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import Settings
from .detection import DetectionStream, Outcome, bytes_sha256
from .engines import FaceEngine, get_engine
from .errors import EngineError, ImageError, MetadataError, SidecarError
from .faceindex import Library
from .folders import list_folder, walk_folders
from .gallery import Decision, Gallery, Unnamed, guess_columns
from .imaging import RAW_EXTENSIONS, PhotoBytes, decode_bytes, read_photo
from .model import IGNORE, Box, Face, FolderState, PersonRegion, PhotoState, new_face_id
from .photojob import DecodeMark, DetectExecutor, Engines, InlineExecutor, PhotoJob, PhotoResult
from .pipeline.inflight import DEATHS_ALLOWED, DecodeMarks, killed_error
from .ports import MetadataWriter, Mirror
from .progress import Progress
from .refresh import Refresher
from .store import confined
from .store.confined import RefusedFile
from .store.folder import FolderStore, Transaction
from .store.merge import NameChange, set_name

log = logging.getLogger(__name__)

MATCH_IOU = 0.5
IMPORT_IOU = 0.3
GUESS_CHUNK = 4096


@dataclass
class ScanReport:
    folders: int = 0
    photos: int = 0
    scanned: int = 0
    faces: int = 0
    moved: int = 0
    removed: int = 0
    names_changed: int = 0
    metadata_written: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)

    def add(self, other: ScanReport) -> None:
        for name in ("folders", "photos", "scanned", "faces", "moved", "removed", "names_changed", "metadata_written"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(e for e in other.errors if e not in self.errors)

    def summary(self) -> str:
        return (f"{self.folders} folders, {self.photos} photos ({self.scanned} scanned, {self.moved} moved, "
                f"{self.removed} removed), {self.faces} faces found, {self.names_changed} names changed, "
                f"{self.metadata_written} photos' metadata written, {len(self.errors)} errors")


@dataclass
class Detection:
    """What decoding and detection found for one photo (or why they failed)."""

    file: str
    stat: os.stat_result
    sha256: str
    error: str = ""
    faces: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    width: int = 0
    height: int = 0
    orientation: int = 1
    regions: list = field(default_factory=list)


@dataclass
class FolderPlan:
    folder: Path
    on_disk: dict[str, os.stat_result]
    known: dict[str, PhotoState]
    to_scan: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    moved_in: dict[str, tuple[Path, str]] = field(default_factory=dict)
    csv_sha256: str = ""
    leftovers: bool = False
    """A killed writer's temporary faces.csv is in the folder: it may hold a save to merge."""

    def unchanged(self) -> bool:
        """Nothing to do here: no photo to scan, none gone or moved in, no leftover save to merge,
        faces.csv as we wrote it."""
        if self.to_scan or self.missing or self.moved_in or self.leftovers:
            return False
        try:
            data = confined.read_file(self.folder / "faces.csv", confined.limits().csv)
        except (OSError, SidecarError):
            return False
        if data is None:
            return False
        return hashlib.sha256(data).hexdigest() == self.csv_sha256


def file_sha256(path: Path) -> str:
    """The content hash of the regular file at ``path`` (reached through the confined layer)."""
    digest = hashlib.sha256()
    with confined.open_file(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unwritable_reason(folder: Path) -> str:
    """Why the sidecars of ``folder`` cannot be written, with what to do ("" when they can).

    Checked before any photo of the folder is decoded: a folder that cannot take its sidecars would
    otherwise cost a full decode on every pass and end in an error about a file that never existed.
    """
    if os.access(folder, os.W_OK):
        return ""
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        return (f"cannot write {folder / 'faces.csv'}: Read-only file system (under systemd: the folder is not in "
                "the unit's ReadWritePaths=; run scripts/install-service.sh again with this root). Its photos are "
                "scanned once it is writable; to skip it, add its name to exclude in the config")
    user = _user_name()
    return (f"cannot write {folder / 'faces.csv'}: Permission denied (user {user} may not write in that folder). "
            f"Give it access (setfacl -m u:{user}:rwX {shlex.quote(str(folder))}, or the folder's group), or put "
            "a file named .nofaces in the folder to skip it; its photos are scanned once it is writable")


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def needs_scan(photo: PhotoState | None, info: os.stat_result, model: str) -> bool:
    if photo is None or not photo.same_file_as(info.st_size, info.st_mtime_ns):
        return True
    return not photo.error and photo.model != model


def merge_faces(old: list[Face], found: list, model: str, extra: dict[str, list]) -> list[Face]:
    """Faces found again (box overlap) keep their id, name and history; confirmed faces not found
    again are kept (a name is never lost); rejected ones are kept so they stay rejected."""
    merged, used = [], set()
    for index, item in enumerate(found):
        match = _best_overlap(item.box, [f for f in old if f.face_id not in used])
        face = match or Face(face_id=new_face_id(), box=item.box)
        used.add(face.face_id)
        face.box = item.box
        face.encodings = {} if face.forgotten else {model: item.encoding, **{m: v[index] for m, v in extra.items()}}
        merged.append(face)
    kept = [f for f in old if f.face_id not in used and (f.name or f.rejected or f.forgotten)]
    return merged + kept


def _best_overlap(box: Box, faces: list[Face], floor: float = MATCH_IOU) -> Face | None:
    best, best_iou = None, floor
    for face in faces:
        overlap = face.box.iou(box)
        if overlap >= best_iou:
            best, best_iou = face, overlap
    return best


class Scanner:
    """Runs the pipeline over folders; adapters (engine, metadata, mirror) are injected."""

    def __init__(self, settings: Settings, *, engine: FaceEngine | None = None, metadata: MetadataWriter | None = None,
                 mirror: Mirror | None = None, should_stop: Callable[[], bool] = lambda: False,
                 progress: Progress | None = None, executor: DetectExecutor | None = None):
        self.settings = settings
        self._engine = engine
        self._executor = executor
        self._pass_stream: DetectionStream | None = None
        self._extra_engines: dict[str, FaceEngine] | None = None
        self.metadata = metadata
        self.mirror = mirror
        self.should_stop = should_stop
        self.progress = progress if progress is not None else Progress("scan")
        self._library: Library | None = None
        self._plan_states: dict[Path, dict[str, PhotoState]] = {}
        self._roots_indexed = False
        self._removed_photos: dict[tuple[Path, str], PhotoState] = {}
        self._gallery_cache: tuple[int, Gallery] | None = None
        self._unnamed_cache: tuple[int, Unnamed] | None = None
        self.decode_marks = DecodeMarks(settings.state_path())
        """Photos being decoded, so that one that kills the process is not retried at every start."""
        self.refresher = Refresher(self)
        self.publish_seconds: float | None = None
        """How long a pass may spend writing other folders its changes touched (None: all of them;
        the daemon sets a bound and writes the rest between jobs, see :meth:`background_step`)."""

    # -- adapters -------------------------------------------------------------------------------
    @property
    def engine(self) -> FaceEngine:
        if self._engine is None:
            self._engine = get_engine(self.settings.engine, state_dir=self.settings.state_path())
        return self._engine

    @property
    def model(self) -> str:
        return self.engine.model_name

    def extra_engines(self) -> dict[str, FaceEngine]:
        if self._extra_engines is None:
            engines = (get_engine(self.settings.engine, model=m, state_dir=self.settings.state_path()) for m in self.settings.engine.extra_models)
            self._extra_engines = {e.model_name: e for e in engines if e.model_name != self.model}
        return self._extra_engines

    @property
    def library(self) -> Library:
        if self._library is None:
            self._library = Library(self.model)
        return self._library

    def _index_roots(self) -> None:
        """Index every folder of the configured roots once, so the gallery spans all of them."""
        if not self._roots_indexed:
            for root in self.settings.root_paths():
                self.library.load(walk_folders([root], self.settings.exclude))
            self._roots_indexed = True
            self.refresher.start()

    def close(self) -> None:
        for adapter in (self._executor, self.metadata, self.mirror):
            if adapter is not None:
                adapter.close()

    # -- entry points ---------------------------------------------------------------------------
    def scan_paths(self, paths: list[Path]) -> ScanReport:
        """One pass over the trees below ``paths``."""
        return self.process_folders(list(walk_folders(paths, self.settings.exclude)))

    def process_folders(self, folders: list[Path], csv_only: bool = False) -> ScanReport:
        """Bring the given folders up to date; moves between them keep their faces."""
        report = ScanReport()
        self._plan_states = {}
        self._removed_photos = {}
        progress = self.progress
        progress.checking(len(folders))
        plans = []
        for folder in folders:
            if self.should_stop():
                return report
            plan = self._plan(Path(folder), csv_only, report)
            progress.checked()
            if plan is not None:
                plans.append(plan)
        self._index_roots()
        self._match_moves(plans, report)
        progress.planned(len(plans), sum(len(p.to_scan) for p in plans))
        self._pass_stream = self._stream((p.folder / n, p.on_disk[n]) for p in plans for n in p.to_scan)
        try:
            for plan in plans:
                if self.should_stop():
                    break
                progress.folder(plan.folder)
                report.add(self._run_plan(plan))
                progress.folder_done()
        finally:
            self._pass_stream = None
        if not self.should_stop():
            self._refresh_guesses(report)
            progress.done()
        if self.mirror is not None:
            self.mirror.flush()
        return report

    # -- planning -------------------------------------------------------------------------------
    def _plan(self, folder: Path, csv_only: bool, report: ScanReport) -> FolderPlan | None:
        store = FolderStore(folder)
        try:
            confined.Folder.open(folder).close()
        except RefusedFile as exc:  # a folder replaced by a link while its work was queued
            confined.report_once(exc.path, exc.reason)
            self.library.drop_folder(folder)
            return None
        except OSError:
            self.library.drop_folder(folder)
            return None
        if self.metadata is not None:
            for photo in self.metadata.finish_interrupted_writes(folder):
                log.warning("%s: finished a metadata write that was interrupted", photo)
        try:
            listing = list_folder(folder, self.settings.extensions)
        except OSError as exc:
            report.errors.append((str(folder), f"cannot read folder: {exc.strerror}"))
            log.error("cannot read folder %s: %s (check its permissions); its sidecars are left as they are", folder, exc.strerror)
            return None
        on_disk = listing.photos
        if not on_disk and not store.exists():
            return None  # a folder without photos gets no sidecars
        state = store.load()
        known = state.photos
        self._plan_states[folder] = known
        self.library.set_folder(folder, state)
        plan = FolderPlan(folder, on_disk, known, csv_sha256=state.csv_sha256, leftovers=listing.leftovers)
        plan.missing = [name for name in known if name not in on_disk]
        if not csv_only:
            plan.to_scan = [n for n, info in sorted(on_disk.items()) if needs_scan(known.get(n), info, self.model)]
        problem = unwritable_reason(folder) if plan.to_scan or plan.missing else ""
        if problem:
            report.errors.append((str(folder), problem))
            log.error("%s", problem)
            return None
        return plan

    def _match_moves(self, plans: list[FolderPlan], report: ScanReport) -> None:
        """New photos whose content equals a vanished photo's take over its faces and names."""
        gone = {p.known[name].sha256: (p.folder, name) for p in plans for name in p.missing if p.known[name].sha256}
        if not gone:
            return
        for plan in plans:
            for name in list(plan.to_scan):
                if name in plan.known:
                    continue
                try:
                    digest = file_sha256(plan.folder / name)
                except (OSError, SidecarError):
                    continue
                source = gone.pop(digest, None)
                if source is not None:
                    plan.moved_in[name] = source
                    plan.to_scan.remove(name)
                    report.moved += 1

    # -- detection ------------------------------------------------------------------------------
    @property
    def executor(self) -> DetectExecutor:
        """Where photos are decoded and analysed: the injected executor (worker processes, a Dask
        cluster: see compose.py), else this process with the scanner's own engines."""
        if self._executor is None:
            self._executor = InlineExecutor(self.settings.engine, lambda: Engines(self.engine, self.extra_engines()))
        return self._executor

    def _stream(self, photos: Iterable[tuple[Path, os.stat_result]]) -> DetectionStream:
        return DetectionStream(self.executor, photos, self._read_for_executor, self.should_stop)

    def _read_photo(self, path: Path) -> tuple[PhotoBytes, str]:
        """The photo's bytes for the executor and the hash of the file (of a RAW file, not its preview)."""
        preview = self.metadata.raw_preview if self.metadata is not None else None
        photo = read_photo(path, preview, self.settings.engine.decode_memory_mb)
        if path.suffix.lower() not in RAW_EXTENSIONS:
            return photo, bytes_sha256(photo.data)
        try:
            return photo, file_sha256(path)
        except OSError as exc:
            raise ImageError(f"{path}: cannot read ({exc.strerror}); give the user facesidecar runs read access to "
                             "the file and its folder") from None

    def _read_for_executor(self, path: Path, info: os.stat_result) -> tuple[PhotoJob, str]:
        """The job for the executor and the file's hash. A photo that killed the scanning process
        twice while it was decoded is refused here (pipeline/inflight.py); the others are marked
        while a worker of this machine decodes them."""
        photo, sha256 = self._read_photo(path)
        deaths = self.decode_marks.deaths(path, info)
        if deaths >= DEATHS_ALLOWED:
            raise ImageError(killed_error(path))
        return PhotoJob(0, photo, DecodeMark(self.decode_marks.folder.parent, info, deaths, os.getpid())), sha256

    def _detect(self, folder: Path, name: str, info: os.stat_result) -> Detection:
        """One photo on its own (a scan streams whole passes through the executor: see ``_detect_plan``)."""
        path = folder / name
        outcome = self._stream([(path, info)]).outcome(path)
        return self._detection(path, info, outcome or Outcome(error=f"{path}: the scan stopped before it was analysed"))

    def _detection(self, path: Path, info: os.stat_result, outcome: Outcome) -> Detection:
        result = outcome.result
        if result is None:
            return Detection(path.name, info, "", error=outcome.error)
        if result.engine_error:
            raise EngineError(result.engine_error)
        if result.error:
            return Detection(path.name, info, outcome.sha256, error=result.error)
        if result.model != self.model:
            raise EngineError(f"{path} was analysed with {result.model}, but this scan uses {self.model}: give "
                              "every worker the same facesidecar version and engine settings")
        return Detection(path.name, info, outcome.sha256, faces=result.faces, extra=result.extra,
                         width=result.stored_width, height=result.stored_height, orientation=result.orientation,
                         regions=self._read_regions(path, result))

    def _read_regions(self, path: Path, result: PhotoResult) -> list[tuple[object, object]]:
        """Person regions already in the photo, each with an encoding where no detected face matches.

        Only photos never imported before pay for the exiftool read; only regions no detected face
        overlaps (faces the detector missed) pay for decoding the photo again, in this process.
        """
        known = self._known_photo(path)
        if self.metadata is None or not self.settings.metadata.import_existing or (known is not None and known.imported):
            return []
        try:
            people = self.metadata.read_people(path, result.orientation, (result.stored_width, result.stored_height))
        except MetadataError as exc:
            log.warning("%s", exc)
            return []
        detected = [Face(face_id="", box=f.box) for f in result.faces]
        regions = []
        for person in people:
            vector = None
            if _best_overlap(person.box, detected, IMPORT_IOU) is None:
                try:
                    vector = self._encode_region(path, person.box)
                except (ImageError, SidecarError, RuntimeError, ValueError) as exc:
                    log.warning("%s: region of %s could not be encoded (%s)", path, person.name, exc)
                    continue
            regions.append((person, vector))
        return regions

    def _encode_region(self, path: Path, box: Box) -> np.ndarray:
        from .pipeline.detect import encode_boxes

        engine_settings = self.settings.engine
        decoded = decode_bytes(self._read_photo(path)[0], engine_settings.max_image_pixels, engine_settings.pixel_limit,
                               engine_settings.decode_memory_mb)
        return encode_boxes(self.engine, decoded, [box])[0]

    def _known_photo(self, path: Path) -> PhotoState | None:
        return self._plan_states.get(path.parent, {}).get(path.name)

    def _detect_plan(self, plan: FolderPlan) -> list[Detection]:
        stream = self._pass_stream  # set by process_folders, the one caller
        results = []
        for name in plan.to_scan:
            path = plan.folder / name
            outcome = None if self.should_stop() else stream.outcome(path)
            if outcome is None:
                break
            detection = self._detection(path, plan.on_disk[name], outcome)
            if self._changed_meanwhile(path, detection.stat):
                log.info("%s changed while it was scanned; it will be scanned again", path)
            else:
                results.append(detection)
            self.progress.photo()
        return results

    @staticmethod
    def _changed_meanwhile(path: Path, before: os.stat_result) -> bool:
        now = confined.lstat(path)
        if now is None:
            return True
        return (now.st_size, now.st_mtime_ns) != (before.st_size, before.st_mtime_ns)

    # -- the folder transaction -----------------------------------------------------------------
    def update_folder(self, folder: Path, change: Callable[[Transaction], object] | None = None) -> ScanReport:
        """Change one folder through the store and carry the change everywhere it matters.

        The way every command that edits names (name, confirm, rename, forget, the review page)
        writes: merge a person's CSV edits, apply ``change``, guess, write the photos' metadata,
        mirror. Call ``refresh()`` afterwards to update guesses in other folders.
        """
        report = ScanReport()
        self._index_roots()
        try:
            with FolderStore(folder).transaction() as txn:
                if change is not None:
                    change(txn)
                self._finish_transaction(txn, report)
        except SidecarError as exc:
            report.errors.append((str(folder), str(exc)))
            log.error("%s", exc)
        return report

    def refresh(self) -> ScanReport:
        """Bring guesses and clusters up to date wherever names changed."""
        report = ScanReport()
        self._index_roots()
        self._refresh_guesses(report)
        return report

    def _finish_transaction(self, txn: Transaction, report: ScanReport) -> None:
        """The common tail of every transaction: guesses, metadata, index, mirror."""
        report.names_changed += len(txn.changes)
        report.errors.extend((str(txn.folder / "faces.csv"), problem) for problem in txn.csv_problems)
        self._guess_folder(txn)
        self._publish(txn, report)
        self.library.set_folder(txn.folder, txn.state)
        if self.mirror is not None:
            self.mirror.folder_changed(txn.folder, txn.state)

    def _run_plan(self, plan: FolderPlan) -> ScanReport:
        report = ScanReport(folders=1, photos=len(plan.on_disk))
        if plan.unchanged() and not self._metadata_pending(plan.known):
            report.errors.extend((str(plan.folder / p.file), p.error) for p in plan.known.values() if p.error)
            return report
        detections = self._detect_plan(plan)
        try:
            with FolderStore(plan.folder).transaction() as txn:
                self._take_moves(txn, plan, report)
                for detection in detections:
                    self._apply_detection(txn, detection, report)
                self._remove_missing(txn, plan, report)
                self._finish_transaction(txn, report)
                report.errors.extend((str(plan.folder / p.file), p.error) for p in txn.state.photos.values() if p.error)
        except SidecarError as exc:
            report.errors.append((str(plan.folder), str(exc)))
            log.error("%s", exc)
        return report

    def _moved_photo(self, txn: Transaction, source_folder: Path, source_name: str) -> PhotoState | None:
        """The freshest state of a photo that moved: from this transaction, from the source
        folder's transaction earlier in this pass, or from the source folder's faces.pkl."""
        if source_folder == txn.folder:
            return txn.state.photos.get(source_name)
        removed = self._removed_photos.pop((source_folder, source_name), None)
        if removed is not None:
            return removed
        return FolderStore(source_folder).load().photos.get(source_name) or \
            self._plan_states.get(source_folder, {}).get(source_name)

    def _take_moves(self, txn: Transaction, plan: FolderPlan, report: ScanReport) -> None:
        for name, (source_folder, source_name) in plan.moved_in.items():
            photo = self._moved_photo(txn, source_folder, source_name)
            if photo is None:
                continue
            info = plan.on_disk[name]
            photo.file, photo.size, photo.mtime_ns = name, info.st_size, info.st_mtime_ns
            for face in photo.faces:
                if source_folder != plan.folder:
                    face.name_history, face.rev = {}, 0
            txn.state.photos[name] = photo
            if source_folder == plan.folder:
                txn.state.photos.pop(source_name, None)
                plan.missing = [m for m in plan.missing if m != source_name]
            log.info("%s moved to %s: its faces and names follow", source_folder / source_name, plan.folder / name)

    def _apply_detection(self, txn: Transaction, detection: Detection, report: ScanReport) -> None:
        old = txn.state.photos.get(detection.file)
        photo = PhotoState(file=detection.file) if old is None else old
        photo.size, photo.mtime_ns = detection.stat.st_size, detection.stat.st_mtime_ns
        photo.sha256, photo.scanned_at = detection.sha256, txn.now
        photo.error = detection.error
        report.scanned += 1
        if detection.error:
            log.error("%s", detection.error)
            txn.state.photos[detection.file] = photo
            return
        photo.model = self.model
        photo.width, photo.height, photo.orientation = detection.width, detection.height, detection.orientation
        photo.faces = merge_faces(photo.faces, detection.faces, self.model, detection.extra)
        report.faces += len(detection.faces)
        txn.state.photos[detection.file] = photo
        if not photo.imported:
            txn.changes.extend(self._import_names(txn, photo, detection))

    def _import_names(self, txn: Transaction, photo: PhotoState, detection: Detection) -> list[NameChange]:
        """Person regions already in the photo (digiKam, Lightroom, Picasa…) become confirmed names."""
        photo.imported = True
        changes = []
        for person, vector in detection.regions:
            face = _best_overlap(person.box, [f for f in photo.faces if f.visible and not f.name], IMPORT_IOU)
            if face is None and vector is not None:
                face = Face(face_id=new_face_id(), box=person.box, encodings={self.model: vector}, origin="imported")
                photo.faces.append(face)
            if face is None:
                continue
            change = set_name(photo, face, person.name, "import", txn.now)
            if change:
                changes.append(change)
        return changes

    def _remove_missing(self, txn: Transaction, plan: FolderPlan, report: ScanReport) -> None:
        for name in plan.missing:
            if name in txn.state.photos and not (txn.folder / name).exists():
                self._removed_photos[(txn.folder, name)] = txn.state.photos.pop(name)
                report.removed += 1

    # -- guesses ------------------------------------------------------------------------------
    def gallery(self) -> Gallery:
        """The gallery guesses are made from (for callers that name faces outside the library: ``serve``)."""
        self._index_roots()
        return self._gallery()

    def gallery_of(self, entries: Iterable[tuple[str, np.ndarray]]) -> Gallery:
        """A gallery of only these (name, vector) pairs that decides by the same rule and settings as guessing."""
        engine, settings = self.engine, self.settings.engine
        return Gallery.build(entries, engine.metric, settings.threshold or engine.threshold, settings.margin)

    def _gallery(self) -> Gallery:
        """The gallery of confirmed faces; rebuilt only when a confirmed face changed somewhere."""
        shared = self.mirror is not None and self.settings.mysql.shared_gallery
        key = self.library.confirmed_version
        if self._gallery_cache is not None and self._gallery_cache[0] == key and not shared:
            return self._gallery_cache[1]
        engine = self.engine
        threshold = self.settings.engine.threshold or engine.threshold
        entries = [(f.name, f.vector) for f in self.library.confirmed()]
        if shared:
            local = {f.face_id for f in self.library.all_faces()}
            entries += self.mirror.confirmed_faces(self.model, exclude=local)
        gallery = Gallery.build(entries, engine.metric, threshold, self.settings.engine.margin)
        self._gallery_cache = (key, gallery)
        return gallery

    def unnamed_faces(self) -> Unnamed:
        """The library's unnamed faces, which the open-set rule asks (rebuilt when the library changed)."""
        key = self.library.version
        if self._unnamed_cache is None or self._unnamed_cache[0] != key:
            faces = self.library.unnamed()
            vectors = np.stack([f.vector for f in faces]) if faces else np.zeros((0, 0), np.float32)
            self._unnamed_cache = (key, Unnamed(vectors, [str(f.folder / f.file) for f in faces]))
        return self._unnamed_cache[1]

    def decide(self, vectors: np.ndarray, photos: list[str], clusters: list[str] | None = None,
               gallery: Gallery | None = None) -> list[Decision]:
        """The open-set decision for faces (``photos``: the photo each is in) that every guess of the
        scan, ``match`` and ``serve``'s /recognize go through (see gallery.Gallery.decide)."""
        gallery = self._gallery() if gallery is None else gallery
        return gallery.decide(vectors, clusters, photos, self.unnamed_faces())

    def _guess_folder(self, txn: Transaction) -> bool:
        """Set guesses of the folder's faces; True if any changed."""
        self.library.set_folder(txn.folder, txn.state)
        self.refresher.label_folder(txn.state)
        gallery = self._gallery()
        faces = [(p, f) for p, f in txn.state.faces() if f.visible]
        probes = [(p, f) for p, f in faces if not f.name and self.model in f.encodings]
        changed = False
        for _, face in faces:
            if face.name and (face.guess or face.distance is not None):
                face.guess, face.distance = "", None
                changed = True
        for lo in range(0, len(probes), GUESS_CHUNK):
            chunk = probes[lo:lo + GUESS_CHUNK]
            decisions = self.decide(np.stack([f.encodings[self.model] for _, f in chunk]),
                                    [str(txn.folder / p.file) for p, _ in chunk], [f.cluster for _, f in chunk], gallery)
            for (_, face), decision in zip(chunk, decisions, strict=True):
                name, distance = _allowed_guess(decision.guess(), face.not_names)
                if (face.guess, face.distance) != (name, distance):
                    face.guess, face.distance = name, distance
                    changed = True
        return changed

    def _refresh_guesses(self, report: ScanReport) -> None:
        """Write the folders whose clusters or guesses this pass's changes touched; a command
        recomputes every cluster first where that is needed (see facesidecar/refresh.py)."""
        refresher = self.refresher
        if self.publish_seconds is not None:
            refresher.publish(report, self.should_stop, self.publish_seconds)
        elif refresher.full_running or refresher.full_needed():
            refresher.recluster(report, self.should_stop)
        else:
            refresher.publish(report, self.should_stop)

    def recluster(self) -> ScanReport:
        """Recompute every cluster from scratch and write what changed (``facesidecar recluster``)."""
        report = ScanReport()
        self._index_roots()
        self.refresher.begin_full()
        self.refresher.recluster(report, self.should_stop)
        return report

    def background_step(self) -> bool:
        """One short slice of background work, for the daemon between jobs: part of a full
        recomputation of the clusters, or writing some folders a change touched. True while
        work remains."""
        self._index_roots()
        refresher = self.refresher
        if refresher.full_running:
            return refresher.step_full() or bool(refresher.stale)
        if refresher.full_needed():
            refresher.begin_full()
            return True
        report = ScanReport()
        more = refresher.publish(report, self.should_stop, self.publish_seconds or 0.5)
        for path, message in report.errors:
            log.error("%s", message if path in message else f"{path}: {message}")
        return more

    def folder_outdated(self, faces: list) -> bool:
        """Whether these unnamed faces of one folder carry another cluster or guess than they should."""
        labels = [self.refresher.label(f.face_id) for f in faces]
        if any(f.cluster != label for f, label in zip(faces, labels, strict=True)):
            return True
        decisions = self.decide(np.stack([f.vector for f in faces]), [str(f.folder / f.file) for f in faces], labels)
        for face, decision in zip(faces, decisions, strict=True):
            name, distance = _allowed_guess(decision.guess(), face.not_names)
            if (face.guess, face.distance) != (name, distance):
                return True
        return False

    # -- publishing -----------------------------------------------------------------------------
    def _publish(self, txn: Transaction, report: ScanReport) -> None:
        """Write confirmed names into the photos whose wanted names differ from what we wrote."""
        if self.metadata is None or not self.settings.metadata.enabled:
            return
        for photo in txn.state.photos.values():
            if photo.error or not photo.width:
                continue
            wanted = self._wanted_people(photo)
            if photo.metadata_written.get("people", []) == wanted:
                continue
            path = txn.folder / photo.file
            regions = [PersonRegion(name, Box.from_plain(box)) for name, box in wanted]
            try:
                record = self.metadata.sync(path, regions, photo.orientation, (photo.width, photo.height),
                                            photo.metadata_written.get("record", {}))
            except MetadataError as exc:
                report.errors.append((str(path), str(exc)))
                log.error("%s", exc)
                continue
            photo.metadata_written = {"people": wanted, "record": record}
            self._restat(path, photo)
            report.metadata_written += 1

    def _metadata_pending(self, photos: dict[str, PhotoState]) -> bool:
        """Whether a photo still lacks the names it should carry (a write that failed: exiftool
        killed, disk full), so that the next run retries it even though nothing else changed."""
        if self.metadata is None or not self.settings.metadata.enabled:
            return False
        return any(not p.error and p.width and p.metadata_written.get("people", []) != self._wanted_people(p)
                   for p in photos.values())

    def _wanted_people(self, photo: PhotoState) -> list[list]:
        guesses = self.settings.metadata.write_guesses
        people = []
        for face in photo.visible_faces:
            name = face.name if face.confirmed else (face.guess if guesses and not face.name else "")
            if name and name != IGNORE:
                people.append([name, [round(v, 4) for v in face.box.to_plain()]])
        return people

    @staticmethod
    def _restat(path: Path, photo: PhotoState) -> None:
        """Our own metadata write is not a change of the photo: remember its new size/mtime/hash."""
        try:
            with confined.open_file(path) as handle:
                info = os.fstat(handle.fileno())
            photo.size, photo.mtime_ns, photo.sha256 = info.st_size, info.st_mtime_ns, file_sha256(path)
        except (OSError, SidecarError) as exc:
            log.warning("%s: cannot stat after writing metadata: %s", path, exc)


def _allowed_guess(guess, not_names) -> tuple[str, float | None]:
    """The guess columns, empty where a person said the face is not that person."""
    name, distance = guess_columns(guess)
    return ("", None) if name in not_names else (name, distance)


def state_counts(state: FolderState) -> dict[str, int]:
    visible = [f for _, f in state.faces() if f.visible]
    return {
        "photos": len(state.photos),
        "faces": len(visible),
        "confirmed": sum(1 for f in visible if f.confirmed),
        "ignored": sum(1 for f in visible if f.name == IGNORE),
        "guessed": sum(1 for f in visible if not f.name and f.guess),
        "errors": sum(1 for p in state.photos.values() if p.error),
    }


