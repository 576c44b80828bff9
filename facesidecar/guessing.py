"""Every guess goes through here: the gallery of confirmed faces, kept current, and the open-set
decision over it.

The scan's guess stage, ``match``, ``serve``'s /recognize and the refresher's check of stale
folders all ask :meth:`Guesser.decide`, so a face gets the same name whichever of them asks. The
gallery is rebuilt only when a confirmed face changed somewhere; with ``[mysql] shared_gallery``
it also holds the names other servers confirmed (through the mirror port), and a name that came
or went there makes the faces near it stale here as a local edit would.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .config import Settings
from .engines.source import EngineSource
from .gallery import Decision, Gallery, Unnamed
from .liveclusters import ConfirmedElsewhere, LiveClusters
from .model import FolderState
from .pipeline.guess import guess_folder
from .ports import Mirror


class Guesser:
    """The library's gallery and the open-set decision every guess goes through."""

    def __init__(self, settings: Settings, engines: EngineSource, clusters: LiveClusters, mirror: Mirror | None = None):
        self.settings = settings
        self.engines = engines
        self.clusters = clusters
        self._mirror = mirror if settings.mysql.shared_gallery else None
        self._cache: tuple[int, Gallery] | None = None
        self._shared_seen: dict[tuple[str, bytes], np.ndarray] = {}
        """The database's shared gallery as this process last saw it (at start: nothing, so that
        the guesses an earlier run wrote are checked against every entry once)."""

    def gallery(self) -> Gallery:
        """The gallery of every confirmed face of the roots (and the shared gallery's)."""
        self.clusters.start()
        return self._gallery()

    def gallery_of(self, entries: Iterable[tuple[str, np.ndarray]]) -> Gallery:
        """A gallery of only these (name, vector) pairs that decides by the same rule and settings as guessing."""
        engine, settings = self.engines.primary, self.settings.engine
        return Gallery.build(entries, engine.metric, settings.threshold or engine.threshold, settings.margin)

    def decide(self, vectors: np.ndarray, photos: list[str], clusters: list[str] | None = None,
               gallery: Gallery | None = None) -> list[Decision]:
        """The open-set decision for faces (``photos``: the photo each is in; see gallery.Gallery.decide)."""
        gallery = self._gallery() if gallery is None else gallery
        return gallery.decide(vectors, clusters, photos, self.unnamed_faces)

    def unnamed_faces(self) -> Unnamed:
        """The library's unnamed faces, which the open-set rule asks: the clusters' index of them,
        kept up to date change by change (no copy of the library per transaction)."""
        self.clusters.start()
        return self.clusters.unnamed()

    def guess_folder(self, folder: Path, state: FolderState) -> None:
        """The guess stage for a folder being written, against one gallery for all its faces."""
        gallery = self._gallery()
        guess_folder(folder, state, self.engines.model,
                     lambda vectors, photos, clusters: self.decide(vectors, photos, clusters, gallery))

    def look_at_shared_gallery(self) -> None:
        """With a shared gallery: take in the names other servers confirmed since the last look
        (the faces near them become stale), although no folder here changed."""
        if self._mirror is not None:
            self._gallery()

    def _gallery(self) -> Gallery:
        key = self.clusters.library.confirmed_version
        if self._cache is not None and self._cache[0] == key and self._mirror is None:
            return self._cache[1]
        library = self.clusters.library
        entries = [(f.name, f.vector) for f in library.confirmed()]
        if self._mirror is not None:
            local = {f.face_id for f in library.all_faces()}
            remote = self._mirror.confirmed_faces(self.engines.model, exclude=local)
            self._note_shared_gallery(remote)
            entries += remote
        gallery = self.gallery_of(entries)
        self._cache = (key, gallery)
        return gallery

    def _note_shared_gallery(self, remote: list[tuple[str, np.ndarray]]) -> None:
        """Names confirmed on another server change guesses here as a local edit would: the faces
        near an entry that came or went since the last look become stale."""
        seen = {(name, vector.tobytes()): vector for name, vector in remote}
        if self.clusters.keeper is None:
            return  # not started: the first look after the start compares
        changed = seen.keys() ^ self._shared_seen.keys()
        vectors = {**self._shared_seen, **seen}
        self.clusters.note_confirmed([ConfirmedElsewhere(key[0], vectors[key]) for key in changed])
        self._shared_seen = seen


__all__ = ["Guesser"]
