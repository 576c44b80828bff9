"""From confirmed faces to guesses, and unnamed faces to clusters. Pure: numpy only.

A guess is made only when the nearest person is within the model's threshold *and* beats the
second-nearest person by ``margin``: a face that looks like two people gets no guess, because a
wrong suggestion costs a user more than a missing one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .engines.base import pairwise_distances
from .model import IGNORE

CHUNK = 65_536
"""Gallery rows compared at once: bounds memory to probes x CHUNK floats."""


UNNAMED_CLUSTER = re.compile(r"u[0-9]+")
"""Cluster labels the scan gives (``u1``, ``u2``, …); any other label is a name a person gave a cluster."""


def is_named_cluster(label: str) -> bool:
    """Whether a cluster label is a person's name (set with ``facesidecar name-cluster``)."""
    return bool(label) and not UNNAMED_CLUSTER.fullmatch(label)


@dataclass(frozen=True)
class Guess:
    """A suggested name; ``distance`` to the person's nearest confirmed face (None: the person has
    no confirmed face yet, the name comes from a named cluster)."""

    name: str
    distance: float | None

    def columns(self) -> tuple[str, float | None]:
        """``guess`` and ``distance`` as faces.csv stores them."""
        return self.name, None if self.distance is None else round(self.distance, 4)


def guess_columns(guess: Guess | None) -> tuple[str, float | None]:
    return guess.columns() if guess is not None else ("", None)


class Gallery:
    """The confirmed faces of one model, as one matrix sorted by person."""

    def __init__(self, names: list[str], vectors: np.ndarray, metric: str, threshold: float, margin: float):
        order = np.argsort(np.asarray(names, dtype=object).astype(str), kind="stable")
        sorted_names = [names[i] for i in order]
        self.vectors = np.asarray(vectors, dtype=np.float32).reshape(len(names), -1)[order] if names else np.zeros((0, 0), np.float32)
        self.people, self.starts = _group_starts(sorted_names)
        self.metric, self.threshold, self.margin = metric, threshold, margin

    @classmethod
    def build(cls, entries: Iterable[tuple[str, np.ndarray]], metric: str, threshold: float, margin: float) -> Gallery:
        pairs = [(n, v) for n, v in entries if n and n != IGNORE]
        names = [n for n, _ in pairs]
        vectors = np.stack([v for _, v in pairs]) if pairs else np.zeros((0, 0), np.float32)
        return cls(names, vectors, metric, threshold, margin)

    def __len__(self) -> int:
        return len(self.vectors)

    def person_distances(self, probes: np.ndarray) -> np.ndarray:
        """For every probe, the distance to the nearest face of each person (probes x people)."""
        probes = np.atleast_2d(np.asarray(probes, dtype=np.float32))
        result = np.full((len(probes), len(self.people)), np.inf, dtype=np.float32)
        for lo in range(0, len(self.vectors), CHUNK):
            hi = min(lo + CHUNK, len(self.vectors))
            dist = pairwise_distances(self.metric, self.vectors[lo:hi], probes)
            first = np.searchsorted(self.starts, lo, side="right") - 1
            last = np.searchsorted(self.starts, hi, side="left")
            bounds = np.clip(self.starts[first:last], lo, hi) - lo
            mins = np.minimum.reduceat(dist, bounds, axis=1)
            result[:, first:last] = np.minimum(result[:, first:last], mins)
        return result

    def guess(self, probes: np.ndarray, clusters: Sequence[str] | None = None) -> list[Guess | None]:
        """A guess per probe, or None where no person is near enough and clearly nearest.

        ``clusters`` (the probes' cluster labels) adds the name a person gave a cluster as the
        guess of its faces where the confirmed faces make no guess of their own.
        """
        if len(probes) == 0:
            return []
        guesses = self._nearest(probes)
        if clusters is not None:
            guesses = self._cluster_guesses(probes, guesses, clusters)
        return guesses

    def _cluster_guesses(self, probes, guesses: list[Guess | None], clusters: Sequence[str]) -> list[Guess | None]:
        wanted = [i for i, (g, c) in enumerate(zip(guesses, clusters, strict=True)) if g is None and is_named_cluster(c)]
        if not wanted:
            return guesses
        index = {p: i for i, p in enumerate(self.people)}
        known = [i for i in wanted if clusters[i] in index]
        distances = self.person_distances(np.asarray(probes)[known]) if known and self.people else None
        row = {i: r for r, i in enumerate(known)}
        result = list(guesses)
        for i in wanted:
            name = clusters[i]
            result[i] = Guess(name, float(distances[row[i], index[name]]) if i in row else None)
        return result

    def _nearest(self, probes: np.ndarray) -> list[Guess | None]:
        if not self.people:
            return [None] * len(probes)
        per_person = self.person_distances(probes)
        best = np.argmin(per_person, axis=1)
        best_dist = per_person[np.arange(len(per_person)), best]
        if len(self.people) > 1:
            second = np.partition(per_person, 1, axis=1)[:, 1]
        else:
            second = np.full(len(per_person), np.inf, dtype=np.float32)
        ok = (best_dist <= self.threshold) & (second - best_dist >= self.margin)
        return [Guess(self.people[b], float(d)) if k else None for b, d, k in zip(best, best_dist, ok, strict=True)]


def _group_starts(sorted_names: list[str]) -> tuple[list[str], np.ndarray]:
    people: list[str] = []
    starts: list[int] = []
    for i, name in enumerate(sorted_names):
        if not people or people[-1] != name:
            people.append(name)
            starts.append(i)
    return people, np.asarray(starts, dtype=np.int64)


def cluster(vectors: np.ndarray, metric: str, threshold: float, min_size: int) -> list[int]:
    """Threshold-linked clusters (single linkage): a label per vector, -1 for none.

    Faces closer than ``threshold`` are linked; connected groups of at least ``min_size`` faces
    become clusters, numbered largest first.
    """
    count = len(vectors)
    parent = np.arange(count)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for lo in range(0, count, 2048):
        dist = pairwise_distances(metric, vectors, vectors[lo:lo + 2048])
        rows, cols = np.nonzero(dist < threshold)
        for r, c in zip(rows + lo, cols, strict=True):
            if r < c:
                a, b = find(r), find(c)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    roots = np.array([find(i) for i in range(count)], dtype=np.int64)
    if count == 0:
        return []
    ids, sizes = np.unique(roots, return_counts=True)
    big = sorted((int(s), int(r)) for r, s in zip(ids, sizes, strict=True) if s >= min_size)
    label_of = {root: n for n, (_, root) in enumerate(sorted(big, key=lambda t: (-t[0], t[1])), start=1)}
    return [label_of.get(int(r), -1) for r in roots]
