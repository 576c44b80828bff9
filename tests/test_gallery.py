"""gallery: the open-set guess (per-person threshold, margin, look-alikes, one name per photo), named
clusters, clustering, the index."""

from __future__ import annotations

import numpy as np
import pytest

from facesidecar import gallery as gallery_module
from facesidecar.gallery import Gallery, Guess, Unnamed, guess_columns, is_named_cluster, person_thresholds
from facesidecar.model import IGNORE


def vec(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def gallery(entries, threshold=0.6, margin=0.05, metric="euclidean") -> Gallery:
    return Gallery.build(entries, metric, threshold, margin)


class TestGuess:
    def test_one_confirmed_face_is_enough(self):
        g = gallery([("Alice", vec(0, 0))])
        [guess] = g.guess(vec(0.3, 0)[None, :])
        assert guess.name == "Alice" and guess.distance == pytest.approx(0.3, abs=1e-5)

    def test_beyond_the_threshold_no_guess(self):
        g = gallery([("Alice", vec(0, 0))])  # one face: 0.58, stricter than the model's 0.6 (open set)
        assert g.guess(np.stack([vec(0.59, 0), vec(0.57, 0)]))[0] is None
        assert g.guess(vec(0.57, 0)[None, :])[0].name == "Alice"
        [decision] = g.decide(vec(0.59, 0)[None, :])
        assert (decision.reason, decision.nearest) == (gallery_module.TOO_FAR, "Alice")
        assert decision.threshold == pytest.approx(0.58)

    def test_more_confirmed_faces_a_stricter_bar(self):
        bars = person_thresholds(np.array([1, 3, 20, 10**6]), 0.6)
        assert bars[0] == pytest.approx(0.58) and bars[1] == pytest.approx(0.558, abs=1e-3)
        assert bars[0] > bars[1] > bars[2] > bars[3] == pytest.approx(0.51)
        g = gallery([("Alice", vec(0, 0)), ("Alice", vec(0, 5)), ("Alice", vec(0, 9)), ("Bob", vec(5, 5))])
        assert g.guess(vec(0.57, 0)[None, :]) == [None]  # within 0.58, not within Alice's 0.558

    def test_margin_rule_two_people_alike_no_guess(self):
        g = gallery([("Alice", vec(0, 0)), ("Bob", vec(0.9, 0))])
        assert g.guess(vec(0.44, 0)[None, :]) == [None]  # 0.44 vs 0.46: too close to call
        assert g.guess(vec(0.3, 0)[None, :])[0].name == "Alice"  # 0.3 vs 0.6

    def test_the_nearest_face_of_a_person_counts(self):
        g = gallery([("Alice", vec(0, 0)), ("Alice", vec(2, 0)), ("Bob", vec(1, 1))])
        [guess] = g.guess(vec(1.9, 0)[None, :])
        assert guess.name == "Alice" and guess.distance == pytest.approx(0.1, abs=1e-5)

    def test_more_faces_of_the_same_person_do_not_count_as_a_second_person(self):
        g = gallery([("Alice", vec(0, 0)), ("Alice", vec(0.01, 0))])
        assert g.guess(vec(0.2, 0)[None, :])[0].name == "Alice"

    def test_ignored_and_empty_names_never_become_guesses(self):
        g = gallery([(IGNORE, vec(0, 0)), ("", vec(1, 0)), ("Bob", vec(5, 5))])
        assert g.people == ["Bob"]
        assert g.guess(np.stack([vec(0, 0), vec(1, 0)])) == [None, None]

    def test_empty_gallery_and_no_probes(self):
        assert gallery([]).guess(vec(0, 0)[None, :]) == [None]
        assert gallery([("A", vec(0, 0))]).guess(np.zeros((0, 2), np.float32)) == []

    def test_cosine_metric(self):
        g = gallery([("A", vec(1, 0)), ("B", vec(0, 1))], threshold=0.1, metric="cosine")
        [guess] = g.guess(vec(10, 1)[None, :])
        assert guess.name == "A" and guess.distance == pytest.approx(1 - 10 / np.sqrt(101), abs=1e-5)

    def test_columns(self):
        assert guess_columns(None) == ("", None)
        assert guess_columns(Guess("A", 0.123456)) == ("A", 0.1235)
        assert guess_columns(Guess("A", None)) == ("A", None)


class TestOpenSet:
    def test_a_stranger_whose_look_alikes_are_someone_else_gets_no_name(self):
        g = gallery([("Alice", vec(0, 0))])
        probe = vec(0.5, 0)
        strangers = Unnamed(np.stack([probe, vec(0.7, 0.2), vec(0.75, 0.1), vec(0.7, -0.2)]), ["p", "q", "r", "s"])
        [decision] = g.decide(probe[None, :], photos=["p"], unnamed=strangers)
        assert decision.reason == gallery_module.LOOKALIKES_DISAGREE and decision.name == ""
        assert (decision.lookalikes, decision.agreeing) == (3, 0)  # the probe itself (same photo) is not asked

    def test_look_alikes_that_are_the_person_support_the_name(self):
        g = gallery([("Alice", vec(0, 0))])
        probe = vec(0.5, 0)
        friends = Unnamed(np.stack([vec(0.3, 0.1), vec(0.2, -0.1), vec(0.7, 0.2)]), ["q", "r", "s"])
        [decision] = g.decide(probe[None, :], photos=["p"], unnamed=friends)
        assert decision.name == "Alice" and (decision.lookalikes, decision.agreeing) == (3, 2)  # the stranger is outvoted

    def test_farther_unnamed_faces_are_no_evidence(self):
        g = gallery([("Alice", vec(0, 0))])
        others = Unnamed(np.stack([vec(3, 0), vec(3, 0.1)]), ["q", "r"])
        [decision] = g.decide(vec(0.2, 0)[None, :], photos=["p"], unnamed=others)
        assert decision.name == "Alice" and decision.lookalikes == 0

    def test_the_unnamed_faces_are_gathered_only_when_a_face_is_near_enough(self):
        def never() -> Unnamed:
            raise AssertionError("no face is near enough to ask its look-alikes")

        g = gallery([("Alice", vec(0, 0))])
        assert g.decide(vec(3, 0)[None, :], unnamed=never)[0].reason == gallery_module.TOO_FAR
        asked = Unnamed(np.stack([vec(0.7, 0.2)]), ["q"])
        assert g.decide(vec(0.5, 0)[None, :], unnamed=lambda: asked)[0].lookalikes == 1

    def test_one_name_per_photo_the_nearest_face_keeps_it(self):
        g = gallery([("Alice", vec(0, 0)), ("Bob", vec(5, 5))])
        probes = np.stack([vec(0.4, 0), vec(0, 0.2), vec(0.3, 0)])
        decisions = g.decide(probes, photos=["group.jpg", "group.jpg", "other.jpg"])
        assert [d.name for d in decisions] == ["", "Alice", "Alice"]
        assert decisions[0].reason == gallery_module.BETTER_FACE

    def test_explain_is_plain_data(self):
        g = gallery([("Alice", vec(0, 0)), ("Bob", vec(5, 0))])
        [decision] = g.decide(vec(0.25, 0)[None, :])
        assert decision.explain() == {"guess": "Alice", "reason": gallery_module.NAMED, "nearest": "Alice", "distance": 0.25,
                                      "threshold": 0.58, "second": 4.75, "lookalikes": 0, "agreeing": 0}
        assert gallery([]).decide(vec(0, 0)[None, :])[0].explain()["reason"] == gallery_module.NO_GALLERY


class TestNamedClusters:
    def test_labels(self):
        assert not is_named_cluster("") and not is_named_cluster("u12")
        assert is_named_cluster("Dave") and is_named_cluster("u2x")

    def test_a_named_cluster_guesses_where_confirmed_faces_do_not(self):
        g = gallery([("Alice", vec(0, 0)), ("Dave", vec(3, 0))])
        probes = np.stack([vec(0.1, 0), vec(10, 10), vec(0.1, 0), vec(10, 10), vec(20, 20)])
        guesses = g.guess(probes, ["Dave", "Dave", "", "u3", "Zoe"])
        assert guesses[0].name == "Alice"  # confirmed faces win
        assert guesses[1].name == "Dave" and guesses[1].distance == pytest.approx(np.hypot(7, 10), rel=1e-5)
        assert guesses[2].name == "Alice" and guesses[3] is None
        assert guesses[4] == Guess("Zoe", None)  # nobody confirmed as Zoe yet: no distance


def synthetic(people: int, per_person: int, dim: int = 128, seed: int = 3):
    """dlib-like vectors: one person's faces ~0.4 apart, different people ~0.9 apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 0.9 / np.sqrt(2 * dim), (people, dim)).astype(np.float32)
    sizes = rng.integers(1, 2 * per_person, people)
    labels = np.repeat(np.arange(people), sizes)
    faces = centres[labels] + rng.normal(0, 0.4 / np.sqrt(2 * dim), (len(labels), dim)).astype(np.float32)
    who = rng.integers(people, size=300)
    probes = centres[who] + rng.normal(0, 0.4 / np.sqrt(2 * dim), (300, dim)).astype(np.float32)
    strangers = rng.normal(0, 0.9 / np.sqrt(2 * dim), (100, dim)).astype(np.float32)
    return labels, faces, np.vstack([probes, strangers])


class TestIndex:
    """Large galleries guess through the cell index; their answers match the exact search."""

    @pytest.fixture(autouse=True)
    def small_index(self, monkeypatch):
        monkeypatch.setattr(gallery_module, "INDEX_MIN", 1000)
        monkeypatch.setattr(gallery_module, "FLOAT16_MIN", 1000)
        monkeypatch.setattr(gallery_module, "CELL_SIZE", 8)

    @pytest.mark.parametrize("metric,threshold", [("euclidean", 0.6), ("cosine", 0.3)])
    def test_same_decisions_as_exact_search(self, metric, threshold):
        labels, faces, probes = synthetic(200, 20)
        names = [f"p{i:03d}" for i in range(200)]
        fast = Gallery.from_arrays(names, labels, faces, metric, threshold, 0.05)
        exact = Gallery([names[i] for i in labels], faces, metric, threshold, 0.05)
        exact.indexed = False
        assert fast.indexed and fast.vectors.dtype == np.float16
        got, want = fast.guess(probes), exact.guess(probes)
        assert sum(g is not None for g in want) > 200
        assert [g and g.name for g in got] == [w and w.name for w in want]
        distances = [(g.distance, w.distance) for g, w in zip(got, want, strict=True) if g and w]
        got_d, want_d = np.array(distances).T
        assert np.allclose(got_d, want_d, atol=2e-3)
        assert len(fast.index.cell_starts) > 200  # big people were split into cells

    def test_cells_keep_rows_within_their_person(self):
        labels, faces, _ = synthetic(50, 40)
        names = [f"p{i:02d}" for i in range(50)]
        g = Gallery.from_arrays(names, labels, faces, "euclidean", 0.6, 0.05)
        index = g.index
        assert index.cell_sizes.mean() <= gallery_module.CELL_SIZE and index.cell_sizes.min() >= 1
        owner = np.searchsorted(g.starts, index.cell_starts, side="right") - 1
        assert np.array_equal(owner, index.cell_person)
        assert np.array_equal(np.sort(g.vectors.astype(np.float32), axis=0),
                              np.sort(faces.astype(np.float16).astype(np.float32), axis=0))

    def test_from_arrays_equals_build(self):
        labels, faces, probes = synthetic(30, 5)
        names = [f"p{i:02d}" for i in range(30)]
        shuffled = np.random.default_rng(1).permutation(len(labels))
        a = Gallery.from_arrays(names, labels[shuffled], faces[shuffled], "euclidean", 0.6, 0.05)
        b = Gallery.build(((names[i], f) for i, f in zip(labels, faces, strict=True)), "euclidean", 0.6, 0.05)
        assert a.people == b.people
        assert [x and x.name for x in a.guess(probes)] == [x and x.name for x in b.guess(probes)]


@pytest.mark.parametrize("columns,k", [(10, 3), (1000, 8), (5000, 8), (5001, 20), (64 * 40 + 7, 1)])
def test_smallest_picks_the_k_smallest(columns, k):
    values = np.random.default_rng(columns).normal(size=(37, columns)).astype(np.float32)
    picked = gallery_module._smallest(values, k)
    assert picked.shape == (37, min(k, columns))
    assert np.array_equal(np.sort(np.take_along_axis(values, picked, axis=1), axis=1), np.sort(values, axis=1)[:, :k])
