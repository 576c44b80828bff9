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
from typing import TypeVar

import numpy as np

from .config import Settings
from .engines import FaceEngine, get_engine
from .errors import EngineError, ImageError, MetadataError, SidecarError
from .faceindex import Library
from .folders import list_folder, walk_folders
from .gallery import REJECTED_BY_A_PERSON, Decision, Gallery, Unnamed, guess_columns
from .identity import check_identities
from .model import IGNORE, Box, Face, FolderState, PersonRegion, PhotoState, new_face_id
from .pipeline.inflight import DEATHS_ALLOWED, DecodeMarks, killed_error
from .ports import MetadataWriter, Mirror
from .progress import Progress
from .refresh import Refresher
from .store import confined
from .store.confined import RefusedFile
from .store.folder import FolderStore, Transaction
from .store.merge import NameChange, set_name

log = logging.getLogger(__name__)
T = TypeVar("T")

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
    restat: dict[str, os.stat_result] = field(default_factory=dict)
    """Photos whose new inode/ctime is recorded without a rescan (identity.py)."""
    replaced: list[str] = field(default_factory=list)
    """Photos replaced by other content of the same size and mtime: scanned as new ones (identity.py)."""

    def unchanged(self) -> bool:
        """Nothing to do here: no photo to scan, none gone or moved in, no leftover save to merge,
        faces.csv as we wrote it."""
        if self.to_scan or self.missing or self.moved_in or self.leftovers or self.restat:
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
                 progress: Progress | None = None):
        self.settings = settings
        self._engine = engine
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
        for adapter in (self.metadata, self.mirror):
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
            plan = self._isolated(Path(folder), report, lambda f=Path(folder): self._plan(f, csv_only, report))
            progress.checked()
            if plan is not None:
                plans.append(plan)
        self._index_roots()
        self._match_moves(plans, report)
        progress.planned(len(plans), sum(len(p.to_scan) for p in plans))
        for plan in plans:
            if self.should_stop():
                break
            progress.folder(plan.folder)
            report.add(self._isolated(plan.folder, report, lambda p=plan: self._run_plan(p)) or ScanReport())
            progress.folder_done()
        if not self.should_stop():
            self._refresh_guesses(report)
            progress.done()
        if self.mirror is not None:
            self.mirror.flush()
        return report

    @staticmethod
    def _isolated(folder: Path, report: ScanReport, step: Callable[[], T]) -> T | None:
        """``step`` of one folder: whatever it raises costs that folder only, never the scan or the
        daemon's catch-up of the others (issue 13, rule 4); a failing engine fails all folders alike."""
        try:
            return step()
        except EngineError:
            raise
        except Exception as exc:  # noqa: BLE001 - one folder's failure must not stop the other folders
            log.error("%s: failed (%s: %s); its sidecars stay as they were, the other folders go on",
                      folder, type(exc).__name__, exc, exc_info=True)
            report.errors.append((str(folder), f"failed: {type(exc).__name__}: {exc}"))
            return None

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
            self._check_identities(plan)
        problem = unwritable_reason(folder) if plan.to_scan or plan.missing else ""
        if problem:
            report.errors.append((str(folder), problem))
            log.error("%s", problem)
            return None
        return plan

    def _check_identities(self, plan: FolderPlan) -> None:
        """Photos that look unchanged but are other files: replaced ones are scanned as new photos."""
        check = check_identities(plan.folder, plan.known, plan.on_disk, plan.to_scan, file_sha256)
        plan.replaced = check.replaced
        plan.to_scan = sorted(plan.to_scan + check.replaced)
        if check.restat and not unwritable_reason(plan.folder):
            plan.restat = check.restat

    def _match_moves(self, plans: list[FolderPlan], report: ScanReport) -> None:
        """New photos whose content equals a vanished (or replaced) photo's take over its faces and names."""
        gone = {p.known[name].sha256: (p.folder, name) for p in plans for name in p.missing + p.replaced
                if p.known[name].sha256}
        if not gone:
            return
        for plan in plans:
            for name in list(plan.to_scan):
                if name in plan.known and name not in plan.replaced:
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
    def _detect(self, folder: Path, name: str, info: os.stat_result) -> Detection:
        from .imaging import decode_photo
        from .pipeline.detect import encode_boxes, find_faces

        path = folder / name
        try:
            digest = file_sha256(path)
        except RefusedFile as exc:
            return Detection(name, info, "", error=str(exc))
        except OSError as exc:
            return Detection(name, info, "", error=f"{path}: cannot read ({exc.strerror}); give the user facesidecar"
                                                   " runs read access to the file and its folder")
        engine_settings = self.settings.engine
        preview = self.metadata.raw_preview if self.metadata is not None else None
        deaths = self.decode_marks.deaths(path, info)
        if deaths >= DEATHS_ALLOWED:
            log.error("%s", killed_error(path))
            return Detection(name, info, digest, error=killed_error(path))
        try:
            with self.decode_marks.decoding(path, info, deaths):
                decoded = decode_photo(path, engine_settings.max_image_pixels, engine_settings.pixel_limit, preview,
                                       engine_settings.decode_memory_mb)
                found = find_faces(self.engine, decoded, engine_settings.min_face_size, engine_settings.smallest_face)
                extra = {m: encode_boxes(e, decoded, [f.box for f in found]) for m, e in self.extra_engines().items()}
        except (ImageError, MetadataError) as exc:
            return Detection(name, info, digest, error=str(exc))
        except EngineError:
            raise
        except (RuntimeError, ValueError, OSError, MemoryError) as exc:
            return Detection(name, info, digest, error=f"{path}: face detection failed: {exc}")
        return Detection(name, info, digest, faces=found, extra=extra, width=decoded.stored_width,
                         height=decoded.stored_height, orientation=decoded.orientation,
                         regions=self._read_regions(path, decoded, found))

    def _read_regions(self, path: Path, decoded, found: list) -> list[tuple[object, object]]:
        """Person regions already in the photo, each with an encoding where no detected face matches.

        Done here, while the decoded pixels are at hand, so that nothing big is kept until the
        folder transaction. Only photos never imported before pay for the exiftool read.
        """
        from .pipeline.detect import encode_boxes

        known = self._known_photo(path)
        if self.metadata is None or not self.settings.metadata.import_existing or (known is not None and known.imported):
            return []
        try:
            people = self.metadata.read_people(path, decoded.orientation, (decoded.stored_width, decoded.stored_height))
        except MetadataError as exc:
            log.warning("%s", exc)
            return []
        detected = [Face(face_id="", box=f.box) for f in found]
        regions = []
        for person in people:
            vector = None
            if _best_overlap(person.box, detected, IMPORT_IOU) is None:
                try:
                    vector = encode_boxes(self.engine, decoded, [person.box])[0]
                except (RuntimeError, ValueError) as exc:
                    log.warning("%s: region of %s could not be encoded (%s)", path, person.name, exc)
                    continue
            regions.append((person, vector))
        return regions

    def _known_photo(self, path: Path) -> PhotoState | None:
        return self._plan_states.get(path.parent, {}).get(path.name)

    def _detect_plan(self, plan: FolderPlan) -> list[Detection]:
        results = []
        for name in plan.to_scan:
            if self.should_stop():
                break
            detection = self._detect(plan.folder, name, plan.on_disk[name])
            if self._changed_meanwhile(plan.folder / name, detection.stat):
                log.info("%s changed while it was scanned; it will be scanned again", plan.folder / name)
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

    def _moved_photo(self, source_folder: Path, source_name: str) -> PhotoState | None:
        """The freshest state of a photo that moved from another folder: from that folder's
        transaction earlier in this pass, or from its faces.pkl."""
        removed = self._removed_photos.pop((source_folder, source_name), None)
        if removed is not None:
            return removed
        return FolderStore(source_folder).load().photos.get(source_name) or \
            self._plan_states.get(source_folder, {}).get(source_name)

    def _take_moves(self, txn: Transaction, plan: FolderPlan, report: ScanReport) -> None:
        """Photos that moved here take their faces along; a replaced photo's old state leaves its name.

        Same-folder sources all leave before any arrives, so that two photos that swapped names
        (or contents) each get the other's state, never their own back.
        """
        before = dict(txn.state.photos)
        for name in plan.replaced:
            old = txn.state.photos.pop(name, None)
            if old is not None:
                self._removed_photos[(txn.folder, name)] = old
        for source_folder, source_name in plan.moved_in.values():
            if source_folder == plan.folder:
                txn.state.photos.pop(source_name, None)
                plan.missing = [m for m in plan.missing if m != source_name]
        for name, (source_folder, source_name) in plan.moved_in.items():
            photo = before.get(source_name) if source_folder == plan.folder else self._moved_photo(source_folder, source_name)
            if photo is None:
                continue
            photo.file = name
            photo.take_stat(plan.on_disk[name])
            for face in photo.faces:
                if source_folder != plan.folder:
                    face.name_history, face.rev = {}, 0
            txn.state.photos[name] = photo
            log.info("%s moved to %s: its faces and names follow", source_folder / source_name, plan.folder / name)
        for name, info in plan.restat.items():
            photo = txn.state.photos.get(name)
            if photo is not None and photo.same_file_as(info.st_size, info.st_mtime_ns):
                photo.take_stat(info)

    def _apply_detection(self, txn: Transaction, detection: Detection, report: ScanReport) -> None:
        old = txn.state.photos.get(detection.file)
        photo = PhotoState(file=detection.file) if old is None else old
        photo.take_stat(detection.stat)
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
            if face.name and (face.guess or face.distance is not None or face.why):
                face.guess, face.distance, face.why = "", None, {}
                changed = True
        for lo in range(0, len(probes), GUESS_CHUNK):
            chunk = probes[lo:lo + GUESS_CHUNK]
            decisions = self.decide(np.stack([f.encodings[self.model] for _, f in chunk]),
                                    [str(txn.folder / p.file) for p, _ in chunk], [f.cluster for _, f in chunk], gallery)
            for (_, face), decision in zip(chunk, decisions, strict=True):
                name, distance = _allowed_guess(decision.guess(), face.not_names)
                why = _why(decision, face.not_names)
                if (face.guess, face.distance, face.why) != (name, distance, why):
                    face.guess, face.distance, face.why = name, distance, why
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
            if (face.guess, face.distance, face.why) != (name, distance, _why(decision, face.not_names)):
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
            photo.take_stat(info)
            photo.sha256 = file_sha256(path)
        except (OSError, SidecarError) as exc:
            log.warning("%s: cannot stat after writing metadata: %s", path, exc)


def _why(decision: Decision, not_names: list[str]) -> dict:
    """What the face keeps of its decision (``Face.why``), noting a name a person rejected for it."""
    why = decision.explain()
    if why["guess"] and why["guess"] in not_names:
        why.update(guess="", reason=REJECTED_BY_A_PERSON)
    return why


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


