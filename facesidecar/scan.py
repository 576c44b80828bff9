"""The runner: composes the scan stages over folders, as beets' importer composes its stages.

    plan (pipeline/plan) > detect (pipeline/detect) > apply (pipeline/apply) > guess (pipeline/guess)
    > publish (pipeline/publish: the photos' metadata, then the sidecars, then the mirror)

For each folder: compare the photos on disk with faces.pkl (a stat per photo, faces.pkl read once),
find photos that moved (content hash), decode and detect the new and changed ones outside the
folder lock, then in one transaction merge a person's CSV edits, apply the results, label new faces'
clusters, guess names and write the photos' metadata. After all folders, the folders whose guesses
or clusters the pass's changes touched are written (refresh.py). The stages reach exiftool and the
database only through :mod:`facesidecar.ports`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import numpy as np

from .config import Settings
from .detection import DetectionStream, PhotoReader
from .engines import FaceEngine, get_engine
from .errors import ConfigError, EngineError, SidecarError
from .faceindex import Library
from .folders import walk_folders
from .gallery import Decision, Gallery, Unnamed
from .identity import record_identities
from .model import Detection, FolderPlan, PhotoState, ScanReport
from .photojob import DetectExecutor, Engines, InlineExecutor
from .pipeline import plan as planning
from .pipeline.apply import apply_detection, remove_missing, take_moves
from .pipeline.detect import changed_meanwhile
from .pipeline.guess import allowed_guess, guess_folder, photo_key, why_of
from .pipeline.inflight import DecodeMarks
from .pipeline.publish import metadata_pending, write_metadata
from .ports import MetadataWriter, Mirror
from .progress import Progress
from .refresh import ConfirmedElsewhere, Refresher
from .store import confined
from .store.confined import RefusedFile
from .store.folder import FolderStore, Snapshot, Transaction

log = logging.getLogger(__name__)
T = TypeVar("T")


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
        self._snapshots: dict[Path, Snapshot] = {}
        """Each planned folder's faces.pkl as planned: its transaction starts from it (one read per pass)."""
        """Each planned folder's photos as planned: where a photo that moved out is found."""
        self._roots_indexed = False
        self._removed_photos: dict[tuple[Path, str], PhotoState] = {}
        self._gallery_cache: tuple[int, Gallery] | None = None
        self._shared_seen: dict[tuple[str, bytes], np.ndarray] = {}
        """The database's shared gallery as this process last saw it (at start: nothing, so that
        the guesses an earlier run wrote are checked against every entry once)."""
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
        self._plan_states, self._snapshots = {}, {}
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
        plans, report.moved = planning.match_moves(plans)
        progress.planned(len(plans), sum(len(p.to_scan) for p in plans))
        self._pass_stream = self._stream((p.folder / n, p.on_disk[n]) for p in plans for n in p.to_scan)
        try:
            for plan in plans:
                if self.should_stop():
                    break
                progress.folder(plan.folder)
                report.add(self._isolated(plan.folder, report, lambda p=plan: self._run_plan(p)) or ScanReport())
                progress.folder_done()
        finally:
            self._pass_stream = None
        if not self.should_stop():
            self._refresh_guesses(report)
            progress.done()
        if self.mirror is not None:
            self.mirror.flush()
        return report

    @staticmethod
    def _isolated(folder: Path, report: ScanReport, step: Callable[[], T]) -> T | None:
        """``step`` of one folder: whatever it raises costs that folder only, never the scan or the
        daemon's catch-up of the others (issue 13, rule 4); a failing engine or a setting that
        cannot work (a backend that is not installed) fails all folders alike."""
        try:
            return step()
        except (EngineError, ConfigError):
            raise
        except Exception as exc:  # noqa: BLE001 - one folder's failure must not stop the other folders
            log.error("%s: failed (%s: %s); its sidecars stay as they were, the other folders go on",
                      folder, type(exc).__name__, exc, exc_info=True)
            report.errors.append((str(folder), f"failed: {type(exc).__name__}: {exc}"))
            return None

    # -- stages ---------------------------------------------------------------------------------
    def _plan(self, folder: Path, csv_only: bool, report: ScanReport) -> FolderPlan | None:
        try:
            confined.Folder.open(folder).close()
        except RefusedFile as exc:  # a folder replaced by a link while its work was queued
            confined.report_once(exc.path, exc.reason)
            self.library.drop_folder(folder)
            return None
        except OSError:
            self.library.drop_folder(folder)
            return None
        recover = self.metadata.finish_interrupted_writes if self.metadata is not None else None
        planned = planning.plan_folder(folder, extensions=self.settings.extensions, model=self.model,
                                       csv_only=csv_only, recover=recover, report=report)
        if planned is None:
            return None
        plan, snapshot = planned
        self._plan_states[folder] = plan.known
        self._snapshots[folder] = snapshot
        self.library.set_folder(folder, snapshot.state)
        return plan

    @property
    def executor(self) -> DetectExecutor:
        """Where photos are decoded and analysed: the injected executor (worker processes, a Dask
        cluster: see compose.py), else this process with the scanner's own engines."""
        if self._executor is None:
            self._executor = InlineExecutor(self.settings.engine, lambda: Engines(self.engine, self.extra_engines()))
        return self._executor

    def _stream(self, photos: Iterable[tuple[Path, os.stat_result]]) -> DetectionStream:
        metadata = self.metadata
        read = PhotoReader(self.settings.engine, metadata.raw_preview if metadata is not None else None,
                           self.decode_marks)
        return DetectionStream(self.executor, photos, read, self.should_stop)

    def _detect_plan(self, plan: FolderPlan) -> list[Detection]:
        """The detect stage over the folder's new and changed photos (stale results dropped); the
        photos flow through the executor ahead of this folder (see process_folders)."""
        metadata = self.metadata
        importing = metadata is not None and self.settings.metadata.import_existing
        results = []
        for name in plan.to_scan:
            path, known = plan.folder / name, plan.known.get(name)
            outcome = None if self.should_stop() else self._pass_stream.outcome(path)
            if outcome is None:
                break
            read_people = metadata.read_people if importing and not (known is not None and known.imported) else None
            detection = outcome.detection(path, plan.on_disk[name], self.engine, read_people, self.settings.engine)
            if changed_meanwhile(path, detection):
                log.info("%s changed while it was scanned; it will be scanned again", path)
            else:
                results.append(detection)
            self.progress.photo()
        return results

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
            self._mirror_changed(txn)
        except SidecarError as exc:
            report.errors.append((str(folder), str(exc)))
            log.error("%s", exc)
        return report

    def refresh(self) -> ScanReport:
        """Recompute guesses and clusters everywhere after names changed."""
        report = ScanReport()
        self._index_roots()
        self._refresh_guesses(report)
        return report

    def _finish_transaction(self, txn: Transaction, report: ScanReport) -> None:
        """The common tail of every transaction: guess, publish into the photos, index (the mirror
        follows once the sidecars are written: :meth:`_mirror_changed`)."""
        report.names_changed += len(txn.changes)
        report.errors.extend((str(txn.folder / "faces.csv"), problem) for problem in txn.csv_problems)
        self.library.set_folder(txn.folder, txn.state)
        self.refresher.label_folder(txn.state)
        gallery = self._gallery()
        guess_folder(txn.folder, txn.state, self.model,
                     lambda vectors, photos, clusters: self.decide(vectors, photos, clusters, gallery))
        if self._writes_metadata():
            write_metadata(txn.folder, txn.state, self.metadata, self.settings.metadata.write_guesses, report)
        self.library.set_folder(txn.folder, txn.state)

    def _mirror_changed(self, txn: Transaction) -> None:
        """Queue the folder for the mirror, after its sidecars are written, with the state written
        (the mirror then need not read faces.pkl again)."""
        if self.mirror is not None:
            self.mirror.folder_changed(txn.folder, txn.state)

    def _run_plan(self, plan: FolderPlan) -> ScanReport:
        report = ScanReport(folders=1, photos=len(plan.on_disk))
        if planning.unchanged(plan) and not self._metadata_pending(plan.known):
            report.errors.extend((str(plan.folder / p.file), p.error) for p in plan.known.values() if p.error)
            return report
        detections = self._detect_plan(plan)
        try:
            with FolderStore(plan.folder).transaction(snapshot=self._snapshots.pop(plan.folder, None)) as txn:
                self._removed_photos.update({(txn.folder, name): txn.state.photos[name]
                                             for name in plan.replaced if name in txn.state.photos})
                missing = take_moves(txn.state, plan, self._moved_photo)
                for detection in detections:
                    txn.changes.extend(apply_detection(txn.state, detection, self.model, txn.now))
                    report.scanned += 1
                    report.faces += len(detection.faces)
                record_identities(txn.state, plan.on_disk, [*plan.restat, *(d.file for d in detections)])
                removed = remove_missing(txn.state, txn.folder, missing)
                self._removed_photos.update({(txn.folder, name): photo for name, photo in removed.items()})
                report.removed += len(removed)
                self._finish_transaction(txn, report)
                report.errors.extend((str(plan.folder / p.file), p.error) for p in txn.state.photos.values() if p.error)
            self._mirror_changed(txn)
        except SidecarError as exc:
            report.errors.append((str(plan.folder), str(exc)))
            log.error("%s", exc)
        return report

    def _moved_photo(self, source_folder: Path, source_name: str) -> PhotoState | None:
        """The freshest state of a photo that moved out of another folder: from that folder's
        transaction earlier in this pass, else from its faces.pkl."""
        removed = self._removed_photos.pop((source_folder, source_name), None)
        if removed is not None:
            return removed
        return FolderStore(source_folder).load().photos.get(source_name) or \
            self._plan_states.get(source_folder, {}).get(source_name)

    # -- guesses and clusters ---------------------------------------------------------------------
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
        entries = [(f.name, f.vector) for f in self.library.confirmed()]
        if shared:
            local = {f.face_id for f in self.library.all_faces()}
            remote = self.mirror.confirmed_faces(self.model, exclude=local)
            self._note_shared_gallery(remote)
            entries += remote
        gallery = self.gallery_of(entries)
        self._gallery_cache = (key, gallery)
        return gallery

    def _note_shared_gallery(self, remote: list[tuple[str, np.ndarray]]) -> None:
        """Names confirmed on another server (the database's shared gallery) change guesses here
        as a local edit would: the faces near an entry that came or went since the last look are
        refreshed, although no folder of this library changed."""
        seen = {(name, vector.tobytes()): vector for name, vector in remote}
        if self.refresher.keeper is None:
            return  # not started: the first look after the start compares
        changed = seen.keys() ^ self._shared_seen.keys()
        vectors = {**self._shared_seen, **seen}
        self.refresher.note_confirmed([ConfirmedElsewhere(key[0], vectors[key]) for key in changed])
        self._shared_seen = seen

    def unnamed_faces(self) -> Unnamed:
        """The library's unnamed faces, which the open-set rule asks: the clusters' index of them,
        kept up to date change by change (no copy of the library per transaction)."""
        self._index_roots()
        return self.refresher.unnamed()

    def decide(self, vectors: np.ndarray, photos: list[str], clusters: list[str] | None = None,
               gallery: Gallery | None = None) -> list[Decision]:
        """The open-set decision for faces (``photos``: the photo each is in) that every guess of the
        scan, ``match`` and ``serve``'s /recognize go through (see gallery.Gallery.decide)."""
        gallery = self._gallery() if gallery is None else gallery
        return gallery.decide(vectors, clusters, photos, self.unnamed_faces)

    def _refresh_guesses(self, report: ScanReport) -> None:
        """Write the folders whose clusters or guesses this pass's changes touched; a command
        recomputes every cluster first where that is needed (see facesidecar/refresh.py)."""
        refresher = self.refresher
        if self.mirror is not None and self.settings.mysql.shared_gallery:
            self._gallery()  # another server's new names refresh the faces they are near
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

    def outdated_folders(self, faces: list) -> set[Path]:
        """The folders of these unnamed faces whose faces carry another cluster or guess than they
        should (one decision for all of them: the look-alike search runs once)."""
        labels = [self.refresher.label(f.face_id) for f in faces]
        outdated = {f.folder for f, label in zip(faces, labels, strict=True) if f.cluster != label}
        rest = [i for i, f in enumerate(faces) if f.folder not in outdated]
        if not rest:
            return outdated
        decisions = self.decide(np.stack([faces[i].vector for i in rest]),
                                [photo_key(faces[i].folder, faces[i].file) for i in rest], [labels[i] for i in rest])
        for i, decision in zip(rest, decisions, strict=True):
            face = faces[i]
            name, distance = allowed_guess(decision.guess(), face.not_names)
            if (face.guess, face.distance, face.why) != (name, distance, why_of(decision, face.not_names)):
                outdated.add(face.folder)
        return outdated

    # -- publishing -----------------------------------------------------------------------------
    def _writes_metadata(self) -> bool:
        return self.metadata is not None and self.settings.metadata.enabled

    def _metadata_pending(self, photos: dict[str, PhotoState]) -> bool:
        return self._writes_metadata() and metadata_pending(photos, self.settings.metadata.write_guesses)
