"""Guesses and clusters follow each change where it can matter, not across the whole library.

:class:`~facesidecar.liveclusters.LiveClusters` notes which unnamed faces' sidecars may be stale
after a change; the :class:`Refresher` checks them (one decision for many folders) and writes the
folders that really are out of date, through the same transaction as every other change. After a
scan pass it writes them all (or, in the daemon, for a bounded time and the rest between jobs:
:meth:`Refresher.background_step`); a full recomputation of the clusters runs where one is
needed (see liveclusters.py), in slices that check the stop flag.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .faceindex import IndexedFace
from .guessing import Guesser
from .liveclusters import LiveClusters
from .model import ScanReport
from .pipeline.guess import allowed_guess, photo_key, why_of
from .pipeline.update import FolderUpdater

CHECK_FOLDERS = 64
"""Folders whose stale faces are checked in one decision before the out-of-date ones are written."""


class Refresher:
    """Writes the folders whose clusters or guesses other folders' changes touched."""

    def __init__(self, clusters: LiveClusters, guesser: Guesser, updater: FolderUpdater, *,
                 should_stop: Callable[[], bool] = lambda: False, publish_seconds: float | None = None):
        self.clusters = clusters
        self.guesser = guesser
        self.updater = updater
        self.should_stop = should_stop
        self.publish_seconds = publish_seconds
        """How long a pass may spend writing other folders its changes touched (None: all of them;
        the daemon sets a bound and writes the rest between jobs, see :meth:`background_step`)."""
        self.folders_written = 0

    # -- entry points -------------------------------------------------------------------------------
    def refresh(self) -> ScanReport:
        """Recompute guesses and clusters everywhere after names changed."""
        report = ScanReport()
        self.clusters.start()
        self.after_pass(report)
        return report

    def after_pass(self, report: ScanReport) -> None:
        """Write the folders whose clusters or guesses a pass's changes touched; a full
        recomputation of the clusters first where one is needed."""
        clusters = self.clusters
        self.guesser.look_at_shared_gallery()  # another server's new names refresh the faces they are near
        if self.publish_seconds is not None:
            self.publish(report, self.publish_seconds)
        elif clusters.full_running or clusters.full_needed():
            self._recluster_into(report)
        else:
            self.publish(report)

    def recluster(self) -> ScanReport:
        """Recompute every cluster from scratch and write what changed (``facesidecar recluster``)."""
        report = ScanReport()
        self.clusters.start()
        self.clusters.begin_full()
        self._recluster_into(report)
        return report

    def background_step(self) -> bool:
        """One short slice of background work, for the daemon between jobs: part of a full
        recomputation of the clusters, or writing some folders a change touched. True while
        work remains. Each failure was logged where it happened (the folder's transaction)."""
        clusters = self.clusters
        clusters.start()
        if clusters.full_running:
            return clusters.step_full() or bool(clusters.stale)
        if clusters.full_needed():
            clusters.begin_full()
            return True
        return self.publish(ScanReport(), self.publish_seconds or 0.5)

    # -- the work -----------------------------------------------------------------------------------
    def _recluster_into(self, report: ScanReport) -> bool:
        """The full recomputation in one go (slices still check the stop flag), then the writes.
        Returns False when stopped before the end."""
        clusters = self.clusters
        if not clusters.full_running:
            clusters.begin_full()
        while clusters.step_full():
            if self.should_stop():
                return False
        return not self.publish(report)

    def publish(self, report: ScanReport, seconds: float | None = None) -> bool:
        """Write the folders holding stale faces (those whose values really differ); at most
        ``seconds`` long when given. Returns whether stale faces remain.

        The stale faces of up to CHECK_FOLDERS folders are checked in one decision (one look-alike
        search for all of them), then the folders that are out of date are written one by one."""
        deadline = None if seconds is None else time.monotonic() + seconds
        clusters, should_stop = self.clusters, self.should_stop
        clusters.follow_changes()
        while clusters.stale and not should_stop():
            batch = self._stale_batch()
            outdated = self.outdated_folders([f for faces in batch.values() for f in faces])
            for folder, faces in batch.items():
                if should_stop() or (deadline is not None and time.monotonic() > deadline):
                    return True
                if folder in outdated:
                    report.add(self.updater.update_folder(folder))
                    self.folders_written += 1
                clusters.stale.difference_update(f.face_id for f in faces)
            clusters.follow_changes()
        return bool(clusters.stale)

    def _stale_batch(self) -> dict[Path, list[IndexedFace]]:
        """Up to CHECK_FOLDERS folders with stale faces, each with the unnamed faces of the photos
        those are in (the faces of one photo are decided together: one name per photo)."""
        stale, library = self.clusters.stale, self.clusters.library
        batch: dict[Path, list[IndexedFace]] = {}
        for face_id in list(stale):
            face = library.unnamed_faces.get(face_id)
            if face is None:
                stale.discard(face_id)
            elif face.folder not in batch:
                if len(batch) == CHECK_FOLDERS:
                    break
                folder = [f for f in library.folders.get(face.folder, []) if not f.name]
                photos = {f.file for f in folder if f.face_id in stale}
                batch[face.folder] = [f for f in folder if f.file in photos] or [face]
        return batch

    def outdated_folders(self, faces: list[IndexedFace]) -> set[Path]:
        """The folders of these unnamed faces whose faces carry another cluster or guess than they
        should (one decision for all of them: the look-alike search runs once)."""
        labels = [self.clusters.label(f.face_id) for f in faces]
        outdated = {f.folder for f, label in zip(faces, labels, strict=True) if f.cluster != label}
        rest = [i for i, f in enumerate(faces) if f.folder not in outdated]
        if not rest:
            return outdated
        decisions = self.guesser.decide(np.stack([faces[i].vector for i in rest]),
                                        [photo_key(faces[i].folder, faces[i].file) for i in rest],
                                        [labels[i] for i in rest])
        for i, decision in zip(rest, decisions, strict=True):
            face = faces[i]
            name, distance = allowed_guess(decision.guess(), face.not_names)
            if (face.guess, face.distance, face.why) != (name, distance, why_of(decision, face.not_names)):
                outdated.add(face.folder)
        return outdated


__all__ = ["CHECK_FOLDERS", "Refresher"]
