"""The runner: composes the scan stages over folders, as beets' importer composes its stages.

    plan (pipeline/plan) > detect (detection.Detector, photojob.run_job) > apply (pipeline/apply)
    > cluster (liveclusters) > guess (guessing.Guesser) > publish (pipeline/update, pipeline/publish:
    the photos' metadata, then the sidecars, then the mirror) > refresh (refresh.Refresher)

For each folder: compare the photos on disk with faces.pkl (a stat per photo, faces.pkl read once),
find photos that moved (content hash), decode and detect the new and changed ones outside the
folder lock (ahead of the folder, in worker processes where compose.py gave an executor), then in
one transaction merge a person's CSV edits, apply the results, label new faces' clusters, guess
names and write the photos' metadata. After all folders, the folders whose guesses or clusters
the pass's changes touched are written. The runner holds no state of its own between passes: its
parts (built and wired by compose.py) do. The stages reach exiftool and the database only through
:mod:`facesidecar.ports`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .config import Settings
from .detection import DetectionStream, Detector
from .engines.source import EngineSource
from .errors import ConfigError, EngineError, SidecarError
from .folders import walk_folders
from .guessing import Guesser
from .identity import record_identities
from .liveclusters import LiveClusters
from .model import FolderPlan, PhotoState, ScanReport
from .pipeline import plan as planning
from .pipeline.apply import apply_detection, remove_missing, take_moves
from .pipeline.update import FolderUpdater
from .ports import MetadataWriter, Mirror
from .progress import Progress
from .refresh import Refresher
from .store import confined
from .store.confined import RefusedFile
from .store.folder import FolderStore, Snapshot, Transaction

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ScanPass:
    """What one pass over folders carries from its plan stage to its folder transactions."""

    stream: DetectionStream | None = None
    snapshots: dict[Path, Snapshot] = field(default_factory=dict)
    """Each planned folder's faces.pkl as planned: its transaction starts from it (one read per pass)."""
    planned: dict[Path, dict[str, PhotoState]] = field(default_factory=dict)
    """Each planned folder's photos as planned: where a photo that moved out is found."""
    removed: dict[tuple[Path, str], PhotoState] = field(default_factory=dict)
    """Photos that left a folder earlier in this pass, with their freshest state."""

    def moved_photo(self, source_folder: Path, source_name: str) -> PhotoState | None:
        """The freshest state of a photo that moved out of another folder: from that folder's
        transaction earlier in this pass, else from its faces.pkl."""
        removed = self.removed.pop((source_folder, source_name), None)
        if removed is not None:
            return removed
        return FolderStore(source_folder).load().photos.get(source_name) or \
            self.planned.get(source_folder, {}).get(source_name)


def isolated(folder: Path, report: ScanReport, step: Callable[[], T]) -> T | None:
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


@dataclass
class Scanner:
    """Runs the stages over folders. Its parts are built and wired by :mod:`facesidecar.compose`;
    commands reach them as attributes (``scanner.guesser.decide``, ``scanner.clusters.library``)."""

    settings: Settings
    engines: EngineSource
    clusters: LiveClusters
    guesser: Guesser
    detector: Detector
    updater: FolderUpdater
    refresher: Refresher
    metadata: MetadataWriter | None = None
    mirror: Mirror | None = None
    should_stop: Callable[[], bool] = lambda: False
    progress: Progress = field(default_factory=lambda: Progress("scan"))

    def close(self) -> None:
        self.detector.close()
        for adapter in (self.metadata, self.mirror):
            if adapter is not None:
                adapter.close()

    # -- entry points ---------------------------------------------------------------------------
    def scan_paths(self, paths: list[Path]) -> ScanReport:
        """One pass over the trees below ``paths``."""
        return self.process_folders(list(walk_folders(paths, self.settings.exclude)))

    def process_folders(self, folders: list[Path], csv_only: bool = False) -> ScanReport:
        """Bring the given folders up to date; moves between them keep their faces."""
        report, work, progress = ScanReport(), ScanPass(), self.progress
        progress.checking(len(folders))
        plans = []
        for folder in map(Path, folders):
            if self.should_stop():
                return report
            plan = isolated(folder, report, lambda f=folder: self._plan(f, csv_only, work, report))
            progress.checked()
            if plan is not None:
                plans.append(plan)
        self.clusters.start()
        plans, report.moved = planning.match_moves(plans)
        progress.planned(len(plans), sum(len(p.to_scan) for p in plans))
        work.stream = self.detector.stream((p.folder / n, p.on_disk[n]) for p in plans for n in p.to_scan)
        for plan in plans:
            if self.should_stop():
                break
            progress.folder(plan.folder)
            report.add(isolated(plan.folder, report, lambda p=plan: self._run_plan(p, work)) or ScanReport())
            progress.folder_done()
        if not self.should_stop():
            self.refresher.after_pass(report)
            progress.done()
        if self.mirror is not None:
            self.mirror.flush()
        return report

    def update_folder(self, folder: Path, change: Callable[[Transaction], object] | None = None) -> ScanReport:
        """Change one folder the way every command that edits names does (see pipeline/update.py);
        ``refresh()`` afterwards carries the change to other folders' guesses."""
        return self.updater.update_folder(folder, change)

    def refresh(self) -> ScanReport:
        """Recompute guesses and clusters everywhere after names changed."""
        return self.refresher.refresh()

    def background_step(self) -> bool:
        """One short slice of the work a pass left for later (see Refresher.background_step)."""
        return self.refresher.background_step()

    # -- stages ---------------------------------------------------------------------------------
    def _plan(self, folder: Path, csv_only: bool, work: ScanPass, report: ScanReport) -> FolderPlan | None:
        library = self.clusters.library
        try:
            confined.Folder.open(folder).close()
        except RefusedFile as exc:  # a folder replaced by a link while its work was queued
            confined.report_once(exc.path, exc.reason)
            library.drop_folder(folder)
            return None
        except OSError:
            library.drop_folder(folder)
            return None
        recover = self.metadata.finish_interrupted_writes if self.metadata is not None else None
        planned = planning.plan_folder(folder, extensions=self.settings.extensions, model=self.engines.model,
                                       csv_only=csv_only, recover=recover, report=report)
        if planned is None:
            return None
        plan, snapshot = planned
        work.planned[folder], work.snapshots[folder] = plan.known, snapshot
        library.set_folder(folder, snapshot.state)
        return plan

    def _run_plan(self, plan: FolderPlan, work: ScanPass) -> ScanReport:
        report = ScanReport(folders=1, photos=len(plan.on_disk))
        if planning.unchanged(plan) and not self.updater.metadata_pending(plan.known):
            report.errors.extend((str(plan.folder / p.file), p.error) for p in plan.known.values() if p.error)
            return report
        detections = self.detector.detect(work.stream, plan, self.progress.photo)
        model = self.engines.model
        try:
            with FolderStore(plan.folder).transaction(snapshot=work.snapshots.pop(plan.folder, None)) as txn:
                work.removed.update({(txn.folder, name): txn.state.photos[name]
                                     for name in plan.replaced if name in txn.state.photos})
                missing = take_moves(txn.state, plan, work.moved_photo)
                for detection in detections:
                    txn.changes.extend(apply_detection(txn.state, detection, model, txn.now))
                    report.scanned += 1
                    report.faces += len(detection.faces)
                record_identities(txn.state, plan.on_disk, [*plan.restat, *(d.file for d in detections)])
                removed = remove_missing(txn.state, txn.folder, missing)
                work.removed.update({(txn.folder, name): photo for name, photo in removed.items()})
                report.removed += len(removed)
                self.updater.finish(txn, report)
                report.errors.extend((str(plan.folder / p.file), p.error) for p in txn.state.photos.values() if p.error)
            self.updater.mirror_changed(txn)
        except SidecarError as exc:
            report.errors.append((str(plan.folder), str(exc)))
            log.error("%s", exc)
        return report
