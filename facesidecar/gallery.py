"""From confirmed faces to guesses, and unnamed faces to clusters. Pure: numpy only.

Guessing is open-set: most faces of a real library belong to people nobody named, so the nearest
named person is only a candidate. A face gets that person's name when

* it is within the person's own threshold: the model's verification threshold made stricter by
  ``OPEN_SET_SHARE`` (a stranger compared with every named person is many chances to come close
  by accident) and more so the more confirmed faces the person has (the nearest of many faces is
  near by chance more often: ``MORE_FACES_SHARE`` per e-fold of faces);
* it beats the second-nearest person by ``margin`` (a face that looks like two people gets none);
* its unnamed look-alikes agree: the unnamed faces nearer to it than the person mostly are that
  person themselves. A stranger who appears several times forms a tight group of their own, and a
  face whose unnamed neighbours are closer to each other than to the named person is probably not
  that person;
* no other face of the same photo matches the person better (one person, one face per photo).

A wrong suggestion costs a user more than a missing one. bench/open_set.py measures the rule.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .engines.base import pairwise_distances
from .model import IGNORE

CHUNK = 65_536
"""Gallery rows compared at once: bounds memory to probes x CHUNK floats."""
INDEX_MIN = 20_000
"""From this many confirmed faces on, guessing goes through a CellIndex (centroid prefilter)."""
CELL_SIZE = 32
"""About this many faces of one person per cell (people with more are split by k-means)."""
CANDIDATE_CELLS = 6
"""Cells compared face by face per probe (those with the nearest centroids)."""
FLOAT16_MIN = 400_000
"""From this many faces on the gallery keeps float16 (half the memory); below, float32 (faster)."""
BLOCK = 64
"""Cells per block when picking the nearest cells (see _smallest)."""
SCORE_CELLS = 4_000_000
"""Probes x cells compared with centroids at once (16 MB of float32): as many probes per round as fit,
at least MIN_PROBE_CHUNK and at most MAX_PROBE_CHUNK (bigger rounds keep the BLAS threads busy)."""
MIN_PROBE_CHUNK, MAX_PROBE_CHUNK = 64, 1024
EXACT_CHUNK = 64
"""Probes compared face by face at once (their gathered faces stay in the CPU cache)."""
OPEN_SET_SHARE = 1 / 30
"""A face needs to be this share of the model's threshold nearer to one confirmed face than the
threshold itself (0.58 instead of dlib's 0.6): the threshold is calibrated for one pair of faces,
a guess compares a stranger with every named person."""
MORE_FACES_SHARE = 1 / 30
"""And this share nearer per e-fold of confirmed faces of the person (0.56 with 3 dlib faces)."""
LOWEST_SHARE = 0.85
"""A person's threshold never drops below this share of the model's (0.51 for dlib)."""
LOOKALIKES = 5
"""Unnamed faces nearer to a face than its nearest person that are asked whether they are that person."""
LOOKALIKE_CELLS = 4_000_000
"""Faces x unnamed faces compared at once in the look-alike search (16 MB of float32)."""


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


NAMED, NO_GALLERY, TOO_FAR, TOO_CLOSE, LOOKALIKES_DISAGREE, BETTER_FACE, CLUSTER, REJECTED_BY_A_PERSON = (
    "named", "nobody named", "too far", "two people alike", "look-alikes are someone else",
    "another face of the photo is nearer", "named cluster", "rejected by a person")
"""The reasons of a :class:`Decision`."""


@dataclass(frozen=True)
class Decision:
    """Why a face got its guess or none: what the open-set rule weighed (for ``status``, the review page).

    ``nearest`` is the nearest named person at ``distance`` (their ``threshold`` is the bar), the
    second-nearest person is at ``second``; ``lookalikes`` unnamed faces nearer than ``nearest``
    were asked, ``agreeing`` of them are ``nearest`` themselves.
    """

    reason: str
    name: str = ""
    nearest: str = ""
    distance: float | None = None
    threshold: float | None = None
    second: float | None = None
    lookalikes: int = 0
    agreeing: int = 0

    def guess(self) -> Guess | None:
        return Guess(self.name, self.distance) if self.name else None

    def with_reason(self, reason: str, name: str = "") -> Decision:
        return dataclasses.replace(self, reason=reason, name=name)

    def explain(self) -> dict:
        """Plain data: the decision with its numbers rounded as faces.csv rounds distances."""
        def plain(value: float | None) -> float | None:
            return None if value is None or not np.isfinite(value) else round(float(value), 4)

        return {"guess": self.name, "reason": self.reason, "nearest": self.nearest, "distance": plain(self.distance),
                "threshold": plain(self.threshold), "second": plain(self.second),
                "lookalikes": self.lookalikes, "agreeing": self.agreeing}


def describe(why: dict) -> str:
    """One sentence from a :meth:`Decision.explain` record: why a face got its guess or none."""
    reason, nearest = why.get("reason", ""), why.get("nearest", "")
    if not reason:
        return ""
    if reason == NO_GALLERY:
        return "no guess: nobody is named yet"
    if reason == CLUSTER:
        return f"guessed {why.get('guess')}: its cluster was given that name"
    near = f"nearest named person {nearest} at distance {why.get('distance')}, bar {why.get('threshold')}"
    second = f"; next person at {why['second']}" if why.get("second") is not None else ""
    asked = (f"; {why.get('agreeing', 0)} of {why.get('lookalikes')} nearer unnamed look-alikes are {nearest} too"
             if why.get("lookalikes") else "")
    verdict = {NAMED: f"guessed {why.get('guess')}", TOO_FAR: "no guess: too far",
               TOO_CLOSE: "no guess: two people look alike", LOOKALIKES_DISAGREE: "no guess: probably someone else",
               BETTER_FACE: f"no guess: another face of this photo is nearer to {nearest}",
               REJECTED_BY_A_PERSON: f"no guess: a person said this is not {nearest}"}.get(reason, reason)
    return f"{verdict} ({near}{second}{asked})"


@dataclass(frozen=True)
class Unnamed:
    """The library's unnamed faces and the photo each is in: the evidence against naming a stranger."""

    vectors: np.ndarray
    photos: Sequence[str]


def person_thresholds(counts: np.ndarray, threshold: float) -> np.ndarray:
    """Each person's bar: the model's ``threshold`` made stricter for open sets and per confirmed face."""
    share = 1.0 - OPEN_SET_SHARE - MORE_FACES_SHARE * np.log(np.maximum(np.asarray(counts, np.float64), 1.0))
    return (threshold * np.maximum(share, LOWEST_SHARE)).astype(np.float32)


class Gallery:
    """The confirmed faces of one model, as one matrix sorted by person.

    Below ``INDEX_MIN`` faces every probe is compared with every face (exact). Larger galleries
    guess through a :class:`CellIndex`: the faces of each person are grouped into small cells of
    similar faces, a probe is compared with every cell centroid first and then exactly with the
    faces of its ``CANDIDATE_CELLS`` nearest cells only. From ``FLOAT16_MIN`` faces on the
    vectors are kept in float16 (half the memory). bench/guess_scale.py measures speed, memory
    and how often the answer differs from the exact search.
    """

    def __init__(self, names: list[str], vectors: np.ndarray, metric: str, threshold: float, margin: float):
        people, labels = _labels(names)
        self._setup(people, labels, np.asarray(vectors).reshape(len(names), -1) if names else None,
                    metric, threshold, margin)

    @classmethod
    def from_arrays(cls, people: list[str], labels: np.ndarray, vectors: np.ndarray, metric: str,
                    threshold: float, margin: float) -> Gallery:
        """A gallery from ``labels`` (index into ``people`` per row): no list of a million names needed.

        The gallery takes ``vectors`` over: when they are already sorted by label and of the final
        precision they are used (and reordered by the index) in place, without a copy.
        """
        gallery = cls.__new__(cls)
        gallery._setup(people, np.asarray(labels), np.asarray(vectors), metric, threshold, margin)
        return gallery

    @classmethod
    def build(cls, entries: Iterable[tuple[str, np.ndarray]], metric: str, threshold: float, margin: float) -> Gallery:
        """A gallery of the (name, vector) pairs; empty names and ``-ignore-`` are left out.

        The vectors are copied once, straight into their sorted place and final precision.
        """
        pairs = [(n, v) for n, v in entries if n and n != IGNORE]
        people, labels = _labels([n for n, _ in pairs])
        gallery = cls.__new__(cls)
        if not pairs:
            gallery._setup(people, labels, None, metric, threshold, margin)
            return gallery
        order = np.argsort(labels, kind="stable")
        vectors = np.empty((len(pairs), len(pairs[0][1])), _dtype(len(pairs)))
        for row, i in enumerate(order.tolist()):
            vectors[row] = pairs[i][1]
        gallery._setup(people, labels[order], vectors, metric, threshold, margin)
        return gallery

    def _setup(self, people: list[str], labels: np.ndarray, vectors: np.ndarray | None, metric: str,
               threshold: float, margin: float) -> None:
        self.metric, self.threshold, self.margin = metric, threshold, margin
        self._index: CellIndex | None = None
        self.indexed = len(labels) >= INDEX_MIN
        dtype = _dtype(len(labels))
        if vectors is None or not len(labels):
            self.vectors, self.people, self.starts = np.zeros((0, 0), dtype), [], np.zeros(0, np.int64)
            self.thresholds = np.zeros(0, np.float32)
            return
        if np.all(labels[1:] >= labels[:-1]):
            rows = vectors  # already sorted by person: no copy
        else:
            order = np.argsort(labels, kind="stable")
            labels, rows = labels[order], vectors[order]
        rows = rows.astype(dtype, copy=False)
        if self.indexed and metric in UNIT_METRICS:
            rows = _unit_rows(rows)
        self.vectors = rows
        present = np.unique(labels)
        self.people = [people[i] for i in present]
        self.starts = np.searchsorted(labels, present).astype(np.int64)
        self.thresholds = person_thresholds(np.diff(np.append(self.starts, len(labels))), threshold)

    @property
    def index(self) -> CellIndex:
        """The cell index (built on first use; it reorders rows within each person)."""
        if self._index is None:
            self._index = CellIndex(self.vectors, self.starts, self.metric in UNIT_METRICS)
        return self._index

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

    def guess(self, probes: np.ndarray, clusters: Sequence[str] | None = None, photos: Sequence[str] | None = None,
              unnamed: Unnamed | Callable[[], Unnamed] | None = None) -> list[Guess | None]:
        """A guess per probe, or None: :meth:`decide` without the reasons."""
        return [d.guess() for d in self.decide(probes, clusters, photos, unnamed)]

    def decide(self, probes: np.ndarray, clusters: Sequence[str] | None = None, photos: Sequence[str] | None = None,
               unnamed: Unnamed | Callable[[], Unnamed] | None = None) -> list[Decision]:
        """The open-set decision for every probe (see the module's docstring), with its reasons.

        ``photos`` says which photo each probe is in (None: each its own): one name per photo,
        and a probe's look-alikes are sought in ``unnamed`` outside its own photo (a function
        giving them is called only when some probe is near enough to be asked about). ``clusters``
        (the probes' cluster labels) adds the name a person gave a cluster as the guess of its
        faces where the confirmed faces make no guess of their own.
        """
        if len(probes) == 0:
            return []
        probes = np.atleast_2d(np.asarray(probes, dtype=np.float32))
        photos = [str(i) for i in range(len(probes))] if photos is None else list(photos)
        if self.people:
            nearest = self._nearest(probes)
            decisions = self._by_distance(*nearest)
            if unnamed is not None and any(d.name for d in decisions):
                pool = unnamed() if callable(unnamed) else unnamed
                if len(pool.vectors):
                    decisions = self._ask_lookalikes(probes, photos, decisions, pool, nearest)
            decisions = _one_face_per_name(decisions, photos)
        else:
            decisions = [Decision(NO_GALLERY)] * len(probes)
        if clusters is not None:
            decisions = self._cluster_guesses(probes, decisions, clusters)
        return decisions

    def _by_distance(self, best: np.ndarray, best_dist: np.ndarray, second: np.ndarray) -> list[Decision]:
        """Nearest person within their threshold and ``margin`` ahead of the second."""
        bar = self.thresholds[best]
        result = []
        for b, d, s, t in zip(best.tolist(), best_dist.tolist(), second.tolist(), bar.tolist(), strict=True):
            reason = TOO_FAR if d > t else TOO_CLOSE if s - d < self.margin else NAMED
            person = self.people[b]
            result.append(Decision(reason, person if reason == NAMED else "", person, d, t, s))
        return result

    def _ask_lookalikes(self, probes: np.ndarray, photos: list[str], decisions: list[Decision], unnamed: Unnamed,
                        nearest: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[Decision]:
        """Drop a name that most of the probe's nearer unnamed look-alikes would not get themselves.

        A look-alike that is one of the probes (the same vector) reuses the probe's ``nearest``
        answer instead of searching the gallery again.
        """
        named = [i for i, d in enumerate(decisions) if d.name]
        if not named:
            return decisions
        neighbours = self._lookalikes(probes[named], [photos[i] for i in named],
                                      np.array([decisions[i].distance for i in named], np.float32), unnamed)
        answer = self._answers(sorted({n for row in neighbours for n in row}), unnamed, probes, nearest)
        position = {p: n for n, p in enumerate(self.people)}
        result = list(decisions)
        for i, row in zip(named, neighbours, strict=True):
            person = position[decisions[i].nearest]
            agreeing = sum(1 for n in row if answer[n][0] == person and answer[n][1] <= self.threshold)
            decision = dataclasses.replace(decisions[i], lookalikes=len(row), agreeing=agreeing)
            result[i] = decision.with_reason(LOOKALIKES_DISAGREE) if 2 * agreeing < len(row) else decision
        return result

    def _answers(self, asked: list[int], unnamed: Unnamed, probes: np.ndarray,
                 nearest: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[int, tuple[int, float]]:
        """Nearest person and distance of the ``asked`` unnamed faces (the probes' answers where they are probes)."""
        row_of = {probe.tobytes(): i for i, probe in enumerate(probes)}
        vectors = np.asarray(unnamed.vectors[asked], dtype=np.float32) if asked else np.zeros((0, 0), np.float32)
        known = {n: row_of.get(v.tobytes()) for n, v in zip(asked, vectors, strict=True)}
        answer = {n: (int(nearest[0][r]), float(nearest[1][r])) for n, r in known.items() if r is not None}
        rest = [n for n, r in known.items() if r is None]
        if rest:
            best, best_dist, _ = self._nearest(np.asarray(unnamed.vectors[rest], dtype=np.float32))
            answer.update((n, (int(b), float(d))) for n, b, d in zip(rest, best, best_dist, strict=True))
        return answer

    def _lookalikes(self, probes: np.ndarray, photos: list[str], within: np.ndarray, unnamed: Unnamed) -> list[list[int]]:
        """Per probe: up to ``LOOKALIKES`` unnamed faces (indices) of other photos nearer than ``within``."""
        codes: dict[str, int] = {}
        pool_photo = np.fromiter((codes.setdefault(p, len(codes)) for p in unnamed.photos), np.int64, len(unnamed.photos))
        probe_photo = np.fromiter((codes.setdefault(p, len(codes)) for p in photos), np.int64, len(photos))
        result: list[list[int]] = []
        step = max(1, LOOKALIKE_CELLS // len(pool_photo))
        for lo in range(0, len(probes), step):
            dist = pairwise_distances(self.metric, unnamed.vectors, probes[lo:lo + step])
            dist[pool_photo[None, :] == probe_photo[lo:lo + step, None]] = np.inf
            dist[dist >= within[lo:lo + step, None]] = np.inf
            count = min(LOOKALIKES, dist.shape[1])
            nearest = np.argpartition(dist, count - 1, axis=1)[:, :count]
            found = np.isfinite(np.take_along_axis(dist, nearest, axis=1))
            result += [columns[mask].tolist() for columns, mask in zip(nearest, found, strict=True)]
        return result

    def _cluster_guesses(self, probes, decisions: list[Decision], clusters: Sequence[str]) -> list[Decision]:
        wanted = [i for i, (d, c) in enumerate(zip(decisions, clusters, strict=True)) if not d.name and is_named_cluster(c)]
        if not wanted:
            return decisions
        index = {p: i for i, p in enumerate(self.people)}
        known = [i for i in wanted if clusters[i] in index]
        distances = self.person_distances(np.asarray(probes)[known]) if known and self.people else None
        row = {i: r for r, i in enumerate(known)}
        result = list(decisions)
        for i in wanted:
            name = clusters[i]
            distance = float(distances[row[i], index[name]]) if i in row else None
            result[i] = dataclasses.replace(decisions[i], reason=CLUSTER, name=name, nearest=name, distance=distance)
        return result

    def _nearest(self, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per probe: the nearest person (index into ``people``), its distance, the second person's distance."""
        probes = np.atleast_2d(np.asarray(probes, dtype=np.float32))
        if self.indexed:
            return self._nearest_indexed(probes)
        per_person = self.person_distances(probes)
        best = np.argmin(per_person, axis=1)
        best_dist = per_person[np.arange(len(per_person)), best]
        if len(self.people) > 1:
            second = np.partition(per_person, 1, axis=1)[:, 1]
        else:
            second = np.full(len(per_person), np.inf, dtype=np.float32)
        return best, best_dist, second

    def _nearest_indexed(self, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest person, its distance and the second person's distance (metric units) via the index."""
        index = self.index
        step = min(max(SCORE_CELLS // len(index.cell_starts), MIN_PROBE_CHUNK), MAX_PROBE_CHUNK)
        parts = [index.nearest_two(probes[lo:lo + step]) for lo in range(0, len(probes), step)]
        best = np.concatenate([p[0] for p in parts])
        best_dist = _from_euclidean(self.metric, np.concatenate([p[1] for p in parts]))
        second = _from_euclidean(self.metric, np.concatenate([p[2] for p in parts]))
        return best, best_dist, second


def _one_face_per_name(decisions: list[Decision], photos: list[str]) -> list[Decision]:
    """A person is in a photo once: of the faces of one photo given the same name, the nearest keeps it."""
    best: dict[tuple[str, str], int] = {}
    for i, (decision, photo) in enumerate(zip(decisions, photos, strict=True)):
        if decision.name:
            key = (photo, decision.name)
            if key not in best or decision.distance < decisions[best[key]].distance:
                best[key] = i
    keep = set(best.values())
    return [d.with_reason(BETTER_FACE) if d.name and i not in keep else d for i, d in enumerate(decisions)]


UNIT_METRICS = ("cosine", "euclidean_l2")


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _from_euclidean(metric: str, distance: np.ndarray) -> np.ndarray:
    """The index's euclidean distance (between unit vectors for cosine) in units of ``metric``."""
    return distance * distance / 2.0 if metric == "cosine" else distance


class CellIndex:
    """Small cells of one person's similar faces, with centroids, for fast nearest-person search.

    A person with more than ``CELL_SIZE`` faces is split by a few k-means rounds (the rows of
    ``vectors`` are reordered within the person, in place). A probe is compared with every cell
    centroid, then face by face with the faces of its ``CANDIDATE_CELLS`` nearest cells. That is
    the approximation: a face whose cell's centroid is not among the nearest is not seen.
    bench/guess_scale.py measures how often that changes a decision against the exact search.
    """

    def __init__(self, vectors: np.ndarray, person_starts: np.ndarray, unit: bool):
        self.vectors = vectors
        rows = len(vectors)
        self.unit = unit
        starts = np.asarray(person_starts, dtype=np.int64)
        ends = np.append(starts[1:], rows)
        big = np.nonzero(ends - starts > CELL_SIZE)[0]
        keep = np.ones(len(starts), bool)
        keep[big] = False
        cell_starts, cell_person = [starts[keep]], [np.arange(len(starts))[keep]]
        for person in big:
            lo, hi = int(starts[person]), int(ends[person])
            order, sizes = _split(vectors[lo:hi].astype(np.float32), CELL_SIZE)
            vectors[lo:hi] = vectors[lo:hi][order]
            bounds = lo + np.concatenate([[0], np.cumsum(sizes)[:-1]])
            cell_starts.append(bounds)
            cell_person.append(np.full(len(bounds), person))
        all_starts = np.concatenate(cell_starts)
        order = np.argsort(all_starts, kind="stable")
        self.cell_starts = all_starts[order]
        self.cell_person = np.concatenate(cell_person)[order].astype(np.int64)
        self.cell_sizes = np.diff(np.append(self.cell_starts, rows))
        self._summarise()

    def _summarise(self) -> None:
        """Centroids and squared row norms, block by block (float32 only per block)."""
        count, dim = len(self.cell_starts), self.vectors.shape[1]
        self.centroids = np.zeros((count, dim), np.float32)
        self.sqnorm = np.zeros(len(self.vectors), np.float32)
        marks = np.unique(np.searchsorted(self.cell_starts, np.arange(0, len(self.vectors), CHUNK), side="left"))
        bounds = [*marks.tolist(), count]
        for c0, c1 in zip(bounds[:-1], bounds[1:], strict=True):
            if c0 >= c1:
                continue
            r0 = int(self.cell_starts[c0])
            r1 = int(self.cell_starts[c1]) if c1 < count else len(self.vectors)
            block = self.vectors[r0:r1].astype(np.float32)
            local = self.cell_starts[c0:c1] - r0
            sizes = self.cell_sizes[c0:c1]
            self.centroids[c0:c1] = np.add.reduceat(block, local, axis=0) / sizes[:, None]
            self.sqnorm[r0:r1] = np.einsum("ij,ij->i", block, block)
        self.centroid_sqnorm = np.einsum("ij,ij->i", self.centroids, self.centroids)

    def nearest_two(self, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per probe: nearest person, distance to it, distance to the second-nearest person (euclidean)."""
        if self.unit:
            probes = _unit(probes)
        probe_sq = np.einsum("ij,ij->i", probes, probes)
        score = probes @ self.centroids.T  # ranking by |c|^2 - 2 p.c is ranking by distance
        score *= -2.0
        score += self.centroid_sqnorm
        cells = _smallest(score, min(CANDIDATE_CELLS, len(self.cell_starts)))
        return self._exact(probes, probe_sq, cells)

    def _exact(self, probes: np.ndarray, probe_sq: np.ndarray, cells: np.ndarray):
        """Nearest and second-nearest person among ``cells`` (probes x k), face by face."""
        cell_min = np.vstack([self._cell_minima(probes[lo:lo + EXACT_CHUNK], probe_sq[lo:lo + EXACT_CHUNK],
                                                cells[lo:lo + EXACT_CHUNK])
                              for lo in range(0, len(probes), EXACT_CHUNK)])
        person = self.cell_person[cells]
        pick = np.argmin(cell_min, axis=1)
        line = np.arange(len(probes))
        best, best_dist = person[line, pick], cell_min[line, pick]
        second = np.where(person == best[:, None], np.inf, cell_min).min(axis=1)
        return best, best_dist, second

    def _cell_minima(self, probes: np.ndarray, probe_sq: np.ndarray, cells: np.ndarray) -> np.ndarray:
        m, k = cells.shape
        starts = self.cell_starts[cells].ravel()
        sizes = self.cell_sizes[cells].ravel()
        offsets = np.cumsum(sizes) - sizes
        rows = np.arange(int(sizes.sum())) - np.repeat(offsets - starts, sizes)
        owner = np.repeat(np.arange(m), sizes.reshape(m, k).sum(axis=1))
        gathered = self.vectors[rows].astype(np.float32)
        dist = self.sqnorm[rows] + probe_sq[owner] - 2.0 * np.einsum("ij,ij->i", gathered, probes[owner])
        return np.sqrt(np.maximum(np.minimum.reduceat(dist, offsets), 0.0)).reshape(m, k)


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` smallest values per row (rows x k), in no particular order.

    Wide rows go through blocks: the k smallest values lie in the k blocks with the smallest
    minima, so one pass over the row (block minima) and k passes over the few chosen blocks give
    the same answer as k passes over everything.
    """
    count = values.shape[1]
    if k >= count:
        return np.tile(np.arange(count), (len(values), 1))
    if count <= BLOCK * k * 2:
        return _k_argmin(values, k)
    starts = np.arange(0, count, BLOCK)
    blocks = _k_argmin(np.minimum.reduceat(values, starts, axis=1), k)
    columns = (blocks[:, :, None] * BLOCK + np.arange(BLOCK)[None, None, :]).reshape(len(values), -1)
    valid = columns < count
    columns = np.where(valid, columns, 0)
    chosen = np.take_along_axis(values, columns, axis=1)
    chosen[~valid] = np.inf
    return np.take_along_axis(columns, _k_argmin(chosen, k), axis=1)


def _k_argmin(values: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` smallest per row by k passes of argmin (faster than argpartition for small k)."""
    if k > 16:
        return np.argpartition(values, k, axis=1)[:, :k]
    values = values.copy()
    line = np.arange(len(values))
    picked = np.empty((len(values), k), np.int64)
    for i in range(k):
        picked[:, i] = np.argmin(values, axis=1)
        values[line, picked[:, i]] = np.inf
    return picked


def _split(rows: np.ndarray, size: int, rounds: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """k-means of one person's faces into about ``len(rows) / size`` cells: (row order, cell sizes)."""
    k = -(-len(rows) // size)
    centroids = rows[np.linspace(0, len(rows) - 1, k).astype(np.int64)]
    for _ in range(rounds + 1):
        assign = np.argmin(np.einsum("ij,ij->i", centroids, centroids)[None, :] - 2.0 * rows @ centroids.T, axis=1)
        order = np.argsort(assign, kind="stable")
        sizes = np.bincount(assign, minlength=k)
        filled = np.nonzero(sizes)[0]
        sums = np.add.reduceat(rows[order], np.cumsum(sizes)[filled] - sizes[filled], axis=0)
        centroids[filled] = sums / sizes[filled, None]
    return order, sizes[filled]


def _labels(names: list[str]) -> tuple[list[str], np.ndarray]:
    """The distinct names, sorted, and each name's index among them."""
    people = sorted(set(names))
    code = {p: i for i, p in enumerate(people)}
    return people, np.fromiter((code[n] for n in names), np.int64, len(names))


def _dtype(rows: int):
    return np.float16 if rows >= FLOAT16_MIN else np.float32


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    """``rows`` scaled to unit length, in place and block by block (no float32 copy of float16 rows)."""
    if not rows.flags.writeable:
        rows = rows.copy()
    for lo in range(0, len(rows), CHUNK):
        rows[lo:lo + CHUNK] = _unit(rows[lo:lo + CHUNK])
    return rows
