"""Strangers and look-alikes get no name: the open-set protocol (tests/support/open_set.py, printed by bench/open_set.py) and its floors (issue 14).

One run per session (about 2 minutes on 2 cores): the photos of tests/data/faces are scanned once
with the real dlib engine, then five folds name about half of the identities (1 and 3 confirmed
faces each, typed into faces.csv), scan again and judge the sidecars' guesses by labels.csv. The
floors are the issue's goal; the figures reached are in the comments (and in the bench's output).
"""

from __future__ import annotations

import pytest

from tests.support import open_set

DEFAULT_THRESHOLD = 0.6
OLD_RULE = "margin 0.05 (old default)"
NEW_RULE = "open set (new default)"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory, shared_faces):
    work = tmp_path_factory.mktemp("open-set")
    found = open_set.run(shared_faces, work / "folds", work / "cache", sweep=(DEFAULT_THRESHOLD,), log=print)
    print(open_set.report(found))
    return found


def folds_with(results, confirmed: int):
    chosen = [r for r in results if r.fold.confirmed == confirmed]
    assert len(chosen) == open_set.FOLDS
    return chosen


def precision_and_recall(scores) -> tuple[float, float, float]:
    """(mean precision, lowest fold's precision, mean recall)."""
    return (open_set.mean(s.precision for s in scores), min(s.precision for s in scores),
            open_set.mean(s.recall for s in scores))


def test_one_confirmed_face_per_person_reaches_the_goal(results):
    scores = [r.scanned for r in folds_with(results, 1)]
    precision, lowest, recall = precision_and_recall(scores)
    false = [f for s in scores for f in s.false_list]
    assert precision >= 0.99, false  # reached: 1.000
    assert lowest >= 0.98, false  # reached: 1.000
    assert recall >= 0.95  # reached: 0.976


def test_three_confirmed_faces_raise_recall_and_keep_precision(results):
    one = precision_and_recall([r.scanned for r in folds_with(results, 1)])
    scores = [r.scanned for r in folds_with(results, 3)]
    precision, lowest, recall = precision_and_recall(scores)
    assert precision >= 0.99 and lowest >= 0.98, [f for s in scores for f in s.false_list]  # reached: 1.000
    assert recall >= one[2]  # reached: 1.000


def test_strangers_were_there_to_be_named(results):
    """The protocol meets strangers: the old rule names some of them at its default threshold."""
    for confirmed in (1, 3):
        old = [r.curves[OLD_RULE][DEFAULT_THRESHOLD] for r in folds_with(results, confirmed)]
        assert sum(s.strangers for s in old) >= 5  # reached: 7 with 1 face, 20 with 3


def test_the_scan_decides_as_the_replayed_rule(results):
    """The curves replay the scanner's own decision: at the default threshold they meet the sidecars."""
    for r in results:
        replayed = r.curves[NEW_RULE][DEFAULT_THRESHOLD]
        assert (replayed.right, replayed.false, replayed.missed) == (r.scanned.right, r.scanned.false, r.scanned.missed)


def test_status_says_why_a_stranger_got_no_name(results):
    """deepface_angelina/4.jpg is nearest to kate_siegel (0.574, one face: within the old 0.6), but her
    other photos, unnamed, are nearer to it: the scan keeps that reason and status shows it."""
    from facesidecar.cli.status import collect_status

    fold = next(r for r in folds_with(results, 1) if {"kate_siegel"} <= r.fold.named
                and "deepface_angelina" not in r.fold.named)
    decisions = collect_status([fold.root], [])["decisions"]
    [angelina] = [d for d in decisions if d["file"].endswith("deepface_angelina/4.jpg")]
    assert (angelina["guess"], angelina["nearest"], angelina["reason"]) == ("", "kate_siegel", "look-alikes are someone else")
    assert angelina["lookalikes"] >= 3 and 2 * angelina["agreeing"] < angelina["lookalikes"]
    assert angelina["why"].startswith("no guess: probably someone else (nearest named person kate_siegel at distance 0.57")
