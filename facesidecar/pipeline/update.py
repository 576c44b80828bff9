"""The common tail of every folder transaction: clusters, guesses, the photos' metadata, the mirror.

A scan's folder and every command that edits names (name, confirm, rename, forget, the review
page, serve's /learn) end their transaction here, so that a name set anywhere reaches the
sidecars, the photos and the database the same way, once per folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..config import Settings
from ..errors import SidecarError
from ..guessing import Guesser
from ..liveclusters import LiveClusters
from ..model import PhotoState, ScanReport
from ..ports import MetadataWriter, Mirror
from ..store.folder import FolderStore, Transaction
from .publish import metadata_pending, write_metadata

log = logging.getLogger(__name__)


class FolderUpdater:
    """Finishes folder transactions: label clusters, guess, write the photos' metadata, then
    (once the sidecars are saved) queue the folder for the mirror."""

    def __init__(self, settings: Settings, clusters: LiveClusters, guesser: Guesser, *,
                 metadata: MetadataWriter | None = None, mirror: Mirror | None = None):
        self.settings = settings
        self.clusters = clusters
        self.guesser = guesser
        self.metadata = metadata if settings.metadata.enabled else None
        self.mirror = mirror

    def update_folder(self, folder: Path, change: Callable[[Transaction], object] | None = None) -> ScanReport:
        """Change one folder through the store and carry the change everywhere it matters: merge a
        person's CSV edits, apply ``change``, guess, write the photos' metadata, mirror. Other
        folders' guesses follow with the refresher (``Scanner.refresh``)."""
        report = ScanReport()
        self.clusters.start()
        try:
            with FolderStore(folder).transaction() as txn:
                if change is not None:
                    change(txn)
                self.finish(txn, report)
            self.mirror_changed(txn)
        except SidecarError as exc:
            report.errors.append((str(folder), str(exc)))
            log.error("%s", exc)
        return report

    def finish(self, txn: Transaction, report: ScanReport) -> None:
        """Inside the transaction: clusters, guesses, the photos' metadata, the library's index."""
        report.names_changed += len(txn.changes)
        report.errors.extend((str(txn.folder / "faces.csv"), problem) for problem in txn.csv_problems)
        library = self.clusters.library
        library.set_folder(txn.folder, txn.state)
        self.clusters.label_folder(txn.state)
        self.guesser.guess_folder(txn.folder, txn.state)
        if self.metadata is not None:
            write_metadata(txn.folder, txn.state, self.metadata, self.settings.metadata.write_guesses, report)
        library.set_folder(txn.folder, txn.state)

    def mirror_changed(self, txn: Transaction) -> None:
        """After the sidecars are saved: queue the folder for the mirror with the state written
        (the mirror then need not read faces.pkl again)."""
        if self.mirror is not None:
            self.mirror.folder_changed(txn.folder, txn.state)

    def metadata_pending(self, photos: dict[str, PhotoState]) -> bool:
        """Whether a photo still lacks the names it should carry (an earlier write failed)."""
        return self.metadata is not None and metadata_pending(photos, self.settings.metadata.write_guesses)


__all__ = ["FolderUpdater"]
