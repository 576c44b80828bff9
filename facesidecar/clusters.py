"""Clusters of unnamed faces, kept up to date change by change. Pure: numpy only.

A cluster is a threshold-linked group (single linkage): unnamed faces closer than
``cluster_threshold`` are linked, and a connected group of at least ``min_cluster_size`` faces is
a cluster. A change can only alter the groups it touches: a face that joins links the groups of
its neighbours together, a face that leaves (gone, named, encoded again) can only split its own
group. So :class:`ClusterKeeper` pays for a neighbour search per joining face and for a look
inside each group that lost a face, never for a pass over the library; the result is the same as
:func:`recluster` over every face (tests/test_clusters.py checks that on random changes).

Labels are content-derived: a group's label is derived from one of its faces, its owner (at first
the smallest face id of the group), so a label cannot move to another person's faces: it stays
with the group that holds its owner, however the groups were computed, while the group grows or
loses other faces. A group whose members carry a name given with ``name-cluster`` keeps the name
(the most common one among its members).
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .engines.base import pairwise_distances
from .gallery import is_named_cluster

LABEL_DIGITS = 10
"""Digits of a content-derived label (``u`` + up to 10 digits): two of 10 000 clusters share one
with a chance of 1 in 200 000."""
ROWS = 2048
"""Faces compared with all others at once: bounds memory to ROWS x faces floats, and is the slice
a full recomputation does between two checks of the stop flag."""


@functools.lru_cache(maxsize=1 << 16)
def content_label(face_id: str) -> str:
    """The label a group gets from its face ``face_id`` (its owner)."""
    digest = hashlib.sha256(face_id.encode()).digest()
    return f"u{int.from_bytes(digest[:8], 'big') % 10**LABEL_DIGITS}"


def group_label(face_ids: Iterable[str], labels: Iterable[str], min_size: int) -> str:
    """The label of one group, from its faces and the labels they carry now.

    "" below ``min_size``; else the name most of its members carry (ties: the first in sort
    order); else the label of a member that owns one of the group's labels (the smallest such
    member: a group keeps its label while it grows, and of two groups that merge the label of
    the smaller owner stays); else the label the smallest member id owns.
    """
    ids, labels = list(face_ids), list(labels)
    if len(ids) < min_size:
        return ""
    names = Counter(label for label in labels if is_named_cluster(label))
    if names:
        top = max(names.values())
        return min(n for n, c in names.items() if c == top)
    held = set(labels)
    owners = [f for f in ids if content_label(f) in held]
    return content_label(min(owners or ids))


class Linker:
    """Union-find over ``count`` items with vectorised linking (pointer jumping, lower root wins)."""

    def __init__(self, count: int):
        self.parent = np.arange(count, dtype=np.int64)

    def link(self, a: np.ndarray, b: np.ndarray) -> None:
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        while len(a):
            self._compress()
            ra, rb = self.parent[a], self.parent[b]
            apart = ra != rb
            a, b, ra, rb = a[apart], b[apart], ra[apart], rb[apart]
            np.minimum.at(self.parent, np.maximum(ra, rb), np.minimum(ra, rb))

    def _compress(self) -> None:
        while True:
            jumped = self.parent[self.parent]
            if np.array_equal(jumped, self.parent):
                return
            self.parent = jumped

    def roots(self) -> np.ndarray:
        self._compress()
        return self.parent


def link_rows(linker: Linker, vectors: np.ndarray, lo: int, hi: int, metric: str, threshold: float) -> None:
    """Link rows ``lo:hi`` of ``vectors`` with every row closer than ``threshold``."""
    dist = pairwise_distances(metric, vectors, vectors[lo:hi])
    rows, cols = np.nonzero(dist < threshold)
    linker.link(rows + lo, cols)


def groups_of(vectors: np.ndarray, metric: str, threshold: float) -> list[np.ndarray]:
    """The threshold-linked groups of ``vectors`` (row indices per group, singletons included)."""
    linker = Linker(len(vectors))
    for lo in range(0, len(vectors), ROWS):
        link_rows(linker, vectors, lo, min(lo + ROWS, len(vectors)), metric, threshold)
    return _split_by_root(linker.roots())


def _split_by_root(roots: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(roots, kind="stable")
    bounds = np.flatnonzero(np.diff(roots[order])) + 1
    return np.split(order, bounds) if len(order) else []


class VectorIndex:
    """The unnamed faces' vectors in one growing matrix, for exact neighbour searches.

    A search compares the probes with every row, a block of rows at a time (one matrix product
    per block, the rows' squared norms kept): a few milliseconds per probe at 100 000 faces, so a
    change costs milliseconds where the recomputation it replaces cost minutes. For the cosine
    metrics the rows are kept at unit length (distances are the same).
    """

    BLOCK = 65_536

    def __init__(self, metric: str):
        self.metric = metric
        self.unit = metric in ("cosine", "euclidean_l2")
        self.rows = np.zeros((0, 0), np.float32)
        self.sqnorm = np.zeros(0, np.float32)
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self.row_of)

    def put(self, face_id: str, vector: np.ndarray) -> None:
        row = self.row_of.get(face_id)
        if row is None:
            row = self._free.pop() if self._free else self._grow(len(vector))
            self.row_of[face_id] = row
            self.ids[row] = face_id
        vector = np.asarray(vector, np.float32)
        if self.unit:
            vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        self.rows[row] = vector
        self.sqnorm[row] = float(vector @ vector)

    def _grow(self, dim: int) -> int:
        row = len(self.ids)
        if row >= len(self.rows):
            capacity = max(1024, 2 * len(self.rows))
            rows = np.full((capacity, dim), np.nan, np.float32)
            sqnorm = np.full(capacity, np.nan, np.float32)
            if row:
                rows[:row], sqnorm[:row] = self.rows[:row], self.sqnorm[:row]
            self.rows, self.sqnorm = rows, sqnorm
        self.ids.append("")
        return row

    def remove(self, face_id: str) -> None:
        """Forget a face; its row holds NaN until reused (near nothing, in any search)."""
        row = self.row_of.pop(face_id, None)
        if row is not None:
            self.rows[row] = np.nan
            self.sqnorm[row] = np.nan
            self.ids[row] = ""
            self._free.append(row)

    def vector(self, face_id: str) -> np.ndarray:
        return self.rows[self.row_of[face_id]]

    @property
    def used(self) -> np.ndarray:
        """The rows in use so far (faces that left: NaN), without a copy."""
        return self.rows[:len(self.ids)]

    def within(self, probes: np.ndarray, radius: float | np.ndarray) -> list[list[str]]:
        """Per probe, the ids of the faces closer than ``radius`` (one for all, or one per probe;
        the probe itself included)."""
        probes = np.atleast_2d(np.asarray(probes, np.float32))
        radius = np.broadcast_to(np.asarray(radius, np.float32), (len(probes),))
        if self.unit:
            probes = probes / np.maximum(np.linalg.norm(probes, axis=1, keepdims=True), 1e-12)
            radius = np.sqrt(2.0 * radius) if self.metric == "cosine" else radius  # 1 - cos -> chord
        limit = (radius * radius)[:, None]
        probe_sq = np.einsum("ij,ij->i", probes, probes)
        found: list[list[str]] = [[] for _ in range(len(probes))]
        used = len(self.ids)
        for lo in range(0, len(probes), ROWS):
            chunk, chunk_sq = probes[lo:lo + ROWS], probe_sq[lo:lo + ROWS]
            for start in range(0, used, self.BLOCK):
                end = min(start + self.BLOCK, used)
                squared = chunk @ self.rows[start:end].T
                squared *= -2.0
                squared += self.sqnorm[start:end]
                squared += chunk_sq[:, None]
                for probe, row in zip(*np.nonzero(squared < limit[lo:lo + ROWS]), strict=True):
                    found[lo + probe].append(self.ids[start + row])
        return found


@dataclass
class Departure:
    """A face that left a group: what the group needs to know whether it splits."""

    label: str
    vector: np.ndarray


@dataclass
class ClusterChanges:
    """What happened to the unnamed faces since the clusters were last brought up to date."""

    joined: set[str] = field(default_factory=set)
    """Faces that became unnamed or got a new vector (their id; the vector is in the index source)."""
    left: set[str] = field(default_factory=set)
    """Faces that are no longer unnamed (gone, named) or got a new vector."""
    relabeled: dict[str, str] = field(default_factory=dict)
    """Faces whose stored label was changed by someone else (``name-cluster``, another process)."""

    def __bool__(self) -> bool:
        return bool(self.joined or self.left or self.relabeled)


class ClusterKeeper:
    """The clusters of all unnamed faces, in memory, updated change by change.

    ``labels`` is what the clusters are now; the sidecars catch up as their folders are written.
    It starts from the labels the sidecars carry (they were computed by the previous run); after
    a reset or a model change they are recomputed in full (:func:`recluster`).
    """

    def __init__(self, metric: str, threshold: float, min_size: int):
        self.metric, self.threshold, self.min_size = metric, threshold, max(2, min_size)
        self.index = VectorIndex(metric)
        self.labels: dict[str, str] = {}
        self.members: dict[str, set[str]] = {}

    def load(self, faces: Iterable[tuple[str, np.ndarray, str]]) -> None:
        """Start from (face id, vector, stored label) of every unnamed face."""
        for face_id, vector, label in faces:
            self.index.put(face_id, vector)
            self._set(face_id, label)

    def label(self, face_id: str) -> str:
        return self.labels.get(face_id, "")

    def _set(self, face_id: str, label: str) -> None:
        old = self.labels.get(face_id)
        if old:
            members = self.members[old]
            members.discard(face_id)
            if not members:
                del self.members[old]
        self.labels[face_id] = label
        if label:
            self.members.setdefault(label, set()).add(face_id)

    def _drop(self, face_id: str) -> None:
        self._set(face_id, "")
        del self.labels[face_id]
        self.index.remove(face_id)

    def update(self, changes: ClusterChanges, vector_of: Callable[[str], np.ndarray | None]) -> set[str]:
        """Apply ``changes``; returns the ids of the faces whose label changed.

        ``vector_of`` gives a joined face's vector (None: it is gone again). A joined face that is
        known already leaves first (its vector may have changed).
        """
        for face_id, label in changes.relabeled.items():
            if face_id in self.labels:
                self._set(face_id, label)
        leaving = sorted(f for f in changes.left | changes.joined if f in self.labels)
        departures = {f: Departure(self.labels[f], self.index.vector(f).copy()) for f in leaving}
        return self._apply(departures, sorted(changes.joined), vector_of)

    def _apply(self, departures: dict[str, Departure], joined: list[str],
               vector_of: Callable[[str], np.ndarray | None]) -> set[str]:
        for face_id in departures:
            if face_id in self.labels:
                self._drop(face_id)
        present = []
        for face_id in joined:
            vector = vector_of(face_id)
            if vector is not None:
                self.index.put(face_id, vector)
                self.labels.setdefault(face_id, "")
                present.append(face_id)
        return self._relabel(self._regroup(present, departures))

    def replace(self, labels: dict[str, str], vectors: dict[str, np.ndarray],
                vector_of: Callable[[str], np.ndarray | None]) -> set[str]:
        """Take a full recomputation (``labels``, computed on the snapshot ``vectors``) and bring it
        up to date with the changes since the snapshot; returns the ids whose label changed."""
        stale = {f for f in labels if f not in self.labels or not np.array_equal(self.index.vector(f), vectors[f])}
        departures = {f: Departure(labels[f], vectors[f]) for f in stale}
        changed = set()
        for face_id, label in labels.items():
            if face_id not in stale and self.labels[face_id] != label:
                self._set(face_id, label)
                changed.add(face_id)
        joined = sorted(f for f in self.labels if f not in labels or f in stale)
        for face_id in joined:
            departures.setdefault(face_id, Departure(self.labels[face_id], self.index.vector(face_id).copy()))
        return changed | self._apply(departures, joined, vector_of)

    def _regroup(self, joined: list[str], left: dict[str, Departure]) -> list[list[str]]:
        """The new groups of every face a change touched (joined faces, their neighbours' groups,
        what remains of the groups that lost faces)."""
        units = _Units()
        fresh = set(joined)
        broken = {d.label for d in left.values() if d.label}
        for label in sorted(broken):
            rest = sorted(self.members.get(label, set()) - fresh)
            gone = [d.vector for d in left.values() if d.label == label]
            for piece in self._pieces(rest, gone if not is_named_cluster(label) else []):
                units.add_piece(piece)
        for face_id in joined:
            units.add_face(face_id)
        if joined:
            vectors = np.stack([self.index.vector(f) for f in joined])
            loose = self._link_neighbours(units, joined, vectors, fresh)
            self._close_loose(units, loose)
        return units.groups(self.members)

    def _pieces(self, rest: list[str], gone: list[np.ndarray]) -> list[list[str]]:
        """What remains of a group that lost ``gone``: one piece when the only face that left had
        at most one neighbour in it (a leaf cannot disconnect anything), else its linked groups.
        (A name can label several groups: their faces are always regrouped, ``gone`` is empty.)"""
        if not rest:
            return []
        vectors = np.stack([self.index.vector(f) for f in rest])
        if len(gone) == 1:
            near = pairwise_distances(self.metric, vectors, gone[0][None, :])[0] < self.threshold
            if near.sum() <= 1:
                return [rest]
        return [[rest[i] for i in group] for group in groups_of(vectors, self.metric, self.threshold)]

    def _link_neighbours(self, units: _Units, joined: list[str], vectors: np.ndarray, fresh: set[str]) -> list[str]:
        """Link each joined face with its neighbours' units; returns the unlabelled neighbours."""
        loose = []
        for face_id, near in zip(joined, self.index.within(vectors, self.threshold), strict=True):
            for other in near:
                if other not in fresh and not units.known(other):
                    label = self.labels.get(other, "")
                    if label:
                        units.add_group(other, label)
                    else:
                        units.add_face(other)
                        loose.append(other)
                units.link(face_id, other)
        return loose

    def _close_loose(self, units: _Units, loose: list[str]) -> None:
        """Unlabelled neighbours belong to groups too small to be clusters (with min_size > 2):
        find the rest of those groups (each search bounded by the size they cannot reach)."""
        if self.min_size <= 2:
            return
        frontier = loose
        while frontier:
            vectors = np.stack([self.index.vector(f) for f in frontier])
            following = []
            for face_id, near in zip(frontier, self.index.within(vectors, self.threshold), strict=True):
                for other in near:
                    if not units.known(other):
                        units.add_face(other)
                        following.append(other)
                    units.link(face_id, other)
            frontier = following

    def _relabel(self, groups: list[list[str]]) -> set[str]:
        changed = set()
        for group in groups:
            label = group_label(group, (self.labels.get(f, "") for f in group), self.min_size)
            for face_id in group:
                if self.labels.get(face_id) != label:
                    self._set(face_id, label)
                    changed.add(face_id)
        return changed


class _Units:
    """Union-find over the pieces a change touched: single faces, whole untouched groups (known to
    be connected), and the pieces of broken groups."""

    def __init__(self):
        self.parent: dict[str, str] = {}
        self.unit_of: dict[str, str] = {}
        self.content: dict[str, list[str] | str] = {}

    def known(self, face_id: str) -> bool:
        return face_id in self.unit_of

    def _new(self, key: str, content: list[str] | str) -> None:
        self.parent[key] = key
        self.content[key] = content

    def add_face(self, face_id: str) -> None:
        key = f"f:{face_id}"
        self._new(key, [face_id])
        self.unit_of[face_id] = key

    def add_piece(self, piece: list[str]) -> None:
        key = f"p:{piece[0]}"
        self._new(key, piece)
        for face_id in piece:
            self.unit_of[face_id] = key

    def add_group(self, face_id: str, label: str) -> None:
        key = f"g:{label}"
        if key not in self.parent:
            self._new(key, label)
        self.unit_of[face_id] = key

    def _find(self, key: str) -> str:
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def link(self, a: str, b: str) -> None:
        ra, rb = self._find(self.unit_of[a]), self._find(self.unit_of[b])
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self, members: dict[str, set[str]]) -> list[list[str]]:
        merged: dict[str, list[str]] = {}
        for key, content in self.content.items():
            faces = sorted(members.get(content, set())) if isinstance(content, str) else content
            merged.setdefault(self._find(key), []).extend(faces)
        return list(merged.values())


def recluster(ids: list[str], vectors: np.ndarray, labels: list[str], metric: str, threshold: float,
              min_size: int, rows: int = ROWS) -> Iterator[dict[str, str] | None]:
    """Every face's label recomputed from scratch, ``rows`` faces per step: yields None after each
    step (a place to stop or to let other work in), then the labels (face id -> label).

    ``labels`` are the stored ones: named clusters keep their names.
    """
    min_size = max(2, min_size)
    linker = Linker(len(ids))
    for lo in range(0, len(ids), rows):
        link_rows(linker, vectors, lo, min(lo + rows, len(ids)), metric, threshold)
        yield None
    result = {}
    for group in _split_by_root(linker.roots()):
        members = [ids[i] for i in group]
        label = group_label(members, (labels[i] for i in group), min_size)
        result.update(dict.fromkeys(members, label))
    yield result
