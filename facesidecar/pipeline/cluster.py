"""The cluster stage: unnamed faces that look alike get one label (``u1``, ``u2``…), so a person can
name a whole group at once; labels stay stable across runs where possible."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..config import EngineSettings
from ..faceindex import IndexedFace, Library
from ..gallery import cluster
from ..model import FolderState


def cluster_labels(library: Library, metric: str, settings: EngineSettings) -> dict[str, str]:
    """Cluster label per unnamed face id of the whole library."""
    unnamed = library.unnamed()
    if not unnamed:
        return {}
    groups = cluster(np.stack([f.vector for f in unnamed]), metric, settings.cluster_threshold,
                     max(2, settings.min_cluster_size))
    members: dict[int, list[IndexedFace]] = {}
    for face, group in zip(unnamed, groups, strict=True):
        if group >= 0:
            members.setdefault(group, []).append(face)
    return stable_labels(members, library)


def stable_labels(members: dict[int, list[IndexedFace]], library: Library) -> dict[str, str]:
    """Give each cluster the label most of its members had, else a new ``uN`` label."""
    used = {f.cluster for f in library.all_faces() if f.cluster}
    next_number = 1 + max((int(c[1:]) for c in used if c[1:].isdigit()), default=0)
    labels: dict[str, str] = {}
    taken: set[str] = set()
    for group in sorted(members.values(), key=len, reverse=True):
        previous = [f.cluster for f in group if f.cluster and f.cluster not in taken]
        label = max(set(previous), key=previous.count) if previous else f"u{next_number}"
        if not previous:
            next_number += 1
        taken.add(label)
        labels.update({f.face_id: label for f in group})
    return labels


def set_clusters(state: FolderState, labels: Mapping[str, str]) -> None:
    """Give the folder's faces their labels (a named face belongs to no cluster)."""
    for _, face in state.faces():
        face.cluster = "" if face.name else labels.get(face.face_id, "")


__all__ = ["cluster_labels", "set_clusters", "stable_labels"]
