"""The clusters of unnamed faces, kept in memory and following each change of the library.

After a folder transaction the library knows what changed (faces that joined or left the unnamed
faces, confirmed faces added, removed or renamed). The :class:`~facesidecar.clusters.ClusterKeeper`
regroups only the clusters those changes touch; the faces whose guess may change are found with
the same neighbour search: those within ``threshold + margin`` of a confirmed face that changed
(no face farther away can get or lose that person as its guess), the faces of a cluster named
after that person, and every face whose cluster changed. They are noted as *stale*; the
:class:`~facesidecar.refresh.Refresher` checks and writes their folders.

A full recomputation happens only where it must: the first time, after ``reset``, after a change
of model or cluster settings (a marker in the state folder records what the clusters were
computed with), or on demand (``facesidecar recluster``). It runs in slices (:meth:`LiveClusters.step_full`).

With an indexed gallery (``naming.INDEX_MIN`` confirmed faces or more) guesses are approximate
(bench/guess_scale.py measures how often they differ from the exact rule); faces far from every
change keep the guess the index gave them then, which may differ in the same way from what a
rebuilt index would give. Everything else equals a full recomputation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .clusters import ROWS, ClusterKeeper, recluster
from .config import Settings
from .engines.source import EngineSource
from .faceindex import IndexedFace, Library
from .folders import walk_folders
from .gallery import Unnamed
from .model import FolderState
from .pipeline.guess import photo_key

log = logging.getLogger(__name__)

MARKER = "clusters.json"
"""In the state folder: what the stored clusters were computed with (model, metric, settings)."""
SLICE_DISTANCES = 8_000_000
"""Distances one slice of a full recomputation computes (about 0.2 s on one core)."""


class ConfirmedElsewhere(NamedTuple):
    """A confirmed face this library does not hold (another server's, from the shared gallery)."""

    name: str
    vector: np.ndarray


def clusters_marker(settings: Settings) -> Path:
    """The file that records what the stored clusters were computed with; without it (``reset``
    removes it) the next run recomputes every cluster."""
    return settings.state_path() / MARKER


class LiveClusters:
    """The library of every root's faces, its clusters in memory, and which sidecars are stale."""

    def __init__(self, settings: Settings, engines: EngineSource):
        self.settings = settings
        self.engines = engines
        self._library: Library | None = None
        self.keeper: ClusterKeeper | None = None
        self.stale: set[str] = set()
        """Unnamed faces whose cluster or guess in their sidecar may be out of date."""
        self._photos: list[str] = []
        """The photo of each row of the keeper's index (for the look-alike search, see :meth:`unnamed`)."""
        self._full: Iterator[dict[str, str] | None] | None = None
        self._snapshot: dict[str, np.ndarray] = {}
        self._marker_written: bool | None = None
        """Whether this process wrote the marker (None: no full recomputation here yet)."""

    @property
    def library(self) -> Library:
        """Every face of the folders seen so far (all the roots' once :meth:`start` ran), built on
        first use: the model it indexes is the engine's, which is built only then."""
        if self._library is None:
            self._library = Library(self.engines.model)
        return self._library

    # -- following changes ------------------------------------------------------------------------
    def start(self) -> None:
        """Index every folder of the configured roots (once), so that the gallery and the clusters
        span all of them, and begin from the clusters the sidecars hold (the previous run computed them)."""
        if self.keeper is not None:
            return
        for root in self.settings.root_paths():
            self.library.load(walk_folders([root], self.settings.exclude))
        engine = self.settings.engine
        self.keeper = ClusterKeeper(self.engines.primary.metric, engine.cluster_threshold, engine.min_cluster_size)
        self.keeper.load((f.face_id, f.vector, f.cluster) for f in self.library.unnamed_faces.values())
        self.library.take_changes()
        self._note_photos(self.library.unnamed_faces)

    def follow_changes(self) -> None:
        """Regroup the clusters the library's latest changes touch; note whose sidecar is stale
        (one neighbour search for all the changes, see :meth:`_reach`)."""
        if self.keeper is None:
            return
        changes, confirmed = self.library.take_changes()
        if not changes and not confirmed:
            return
        index = self.keeper.index
        moved = [index.vector(f).copy() for f in changes.left | changes.joined if f in index.row_of]
        if changes:
            self.stale |= self.keeper.update(changes, self._vector_of) | changes.joined
            self._note_photos(changes.joined)
            moved += [index.vector(f) for f in changes.joined if f in index.row_of]
        self.stale |= self._reach(moved, confirmed)

    def _note_photos(self, face_ids: Iterable[str]) -> None:
        row_of, faces = self.keeper.index.row_of, self.library.unnamed_faces
        self._photos += [""] * (len(self.keeper.index.ids) - len(self._photos))
        for face_id in face_ids:
            face = faces.get(face_id)
            if face is not None and face_id in row_of:
                self._photos[row_of[face_id]] = photo_key(face.folder, face.file)

    def unnamed(self) -> Unnamed:
        """Every unnamed face and its photo, for the open-set rule's look-alikes: the index itself."""
        self.follow_changes()
        rows = self.keeper.index.used
        return Unnamed(rows, self._photos if len(self._photos) == len(rows) else self._photos[:len(rows)])

    def _vector_of(self, face_id: str) -> np.ndarray | None:
        face = self.library.unnamed_faces.get(face_id)
        return None if face is None else face.vector

    def _threshold(self) -> float:
        return self.settings.engine.threshold or self.engines.primary.threshold

    def _reach(self, moved: list[np.ndarray], confirmed: list[IndexedFace] | list[ConfirmedElsewhere]) -> set[str]:
        """Unnamed faces whose guess may change when unnamed faces at ``moved`` came or went and
        the ``confirmed`` faces were added, removed or renamed.

        The rule (gallery.Gallery.decide) weighs the nearest and the second-nearest person, both
        within threshold + margin of a face if they matter, and asks the face's unnamed look-alikes,
        which are nearer to it than its person (so within the threshold), whether they are that
        person too, which they can be only within the threshold. So: faces within the threshold
        of an unnamed face that came or went; faces within threshold + margin of a confirmed face
        that changed, and those within the threshold of an unnamed face within the threshold of
        it; and the faces of a cluster named after its person (their guess carries the distance
        to the person's nearest face).
        """
        threshold = self._threshold()
        wide = threshold + max(self.settings.engine.margin, 0.0)
        vectors = moved + [f.vector for f in confirmed] * 2
        radii = [threshold] * len(moved) + [wide] * len(confirmed) + [threshold] * len(confirmed)
        if not vectors:
            return set()
        found = self.keeper.index.within(np.stack(vectors), np.array(radii, np.float32))
        near = set().union(*found[:len(moved) + len(confirmed)])
        asked = set().union(*found[len(moved) + len(confirmed):])
        if asked:
            near |= set().union(*self.keeper.index.within(np.stack([self.keeper.index.vector(f) for f in asked]),
                                                        threshold))
        for name in {f.name for f in confirmed}:
            near |= self.keeper.members.get(name, set())
        return near

    def note_confirmed(self, confirmed: list[ConfirmedElsewhere]) -> None:
        """Confirmed faces that changed outside the library (another server's names in the shared
        gallery) make the faces near them stale too."""
        if self.keeper is not None and confirmed:
            self.stale |= self._reach([], confirmed)

    def label_folder(self, state: FolderState) -> None:
        """Give the faces of a folder being written their current clusters (named faces none)."""
        if self.keeper is None:
            return
        self.follow_changes()
        for _, face in state.faces():
            face.cluster = "" if face.name else self.keeper.label(face.face_id)
            self.stale.discard(face.face_id)

    def label(self, face_id: str) -> str:
        return self.keeper.label(face_id) if self.keeper is not None else ""

    # -- full recomputation -----------------------------------------------------------------------
    def _computed_with(self) -> dict:
        engine = self.settings.engine
        return {"model": self.engines.model, "metric": self.engines.primary.metric,
                "cluster_threshold": engine.cluster_threshold, "min_cluster_size": max(2, engine.min_cluster_size)}

    def full_needed(self) -> bool:
        """Whether the stored clusters were computed with something else (or not at all, or reset).

        Where the marker cannot be written (state_dir read-only) a recomputation done by this
        process counts, so that it does not start over and over.
        """
        try:
            return json.loads(clusters_marker(self.settings).read_text(encoding="utf-8")) != self._computed_with()
        except (OSError, ValueError):
            return self._marker_written is not False

    @property
    def full_running(self) -> bool:
        return self._full is not None

    def begin_full(self) -> None:
        """Snapshot every unnamed face; the recomputation then runs slice by slice (:meth:`step_full`)."""
        self.follow_changes()
        faces = list(self.library.unnamed_faces.values())
        ids = [f.face_id for f in faces]
        vectors = np.stack([f.vector for f in faces]) if faces else np.zeros((0, 0), np.float32)
        self._snapshot = dict(zip(ids, vectors, strict=True))
        engine = self.settings.engine
        rows = max(16, min(ROWS, SLICE_DISTANCES // max(len(ids), 1)))
        self._full = recluster(ids, vectors, [self.label(f) for f in ids], self.engines.primary.metric,
                               engine.cluster_threshold, engine.min_cluster_size, rows)
        log.info("recomputing the clusters of %d unnamed faces", len(ids))

    def step_full(self) -> bool:
        """One slice of the full recomputation; True while more remain."""
        result = next(self._full)
        if result is None:
            return True
        self._full = None
        self.stale |= self.keeper.replace(result, self._snapshot, self._vector_of)
        self._snapshot = {}
        self._write_marker()
        log.info("clusters recomputed: %d faces to update", len(self.stale))
        return False

    def _write_marker(self) -> None:
        path = clusters_marker(self.settings)
        self._marker_written = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self._computed_with()), encoding="utf-8")
            self._marker_written = True
        except OSError as exc:
            log.warning("cannot write %s: %s; clusters will be recomputed in full next time (check state_dir)",
                        path, exc.strerror)


__all__ = ["ConfirmedElsewhere", "LiveClusters", "clusters_marker"]
