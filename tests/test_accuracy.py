"""Can a user trust the guesses? The naming protocol (tests/support/accuracy.py, printed by bench/accuracy.py) on the shared photos.

One run per session (about 1-2 minutes on 2 cores): copy the photos, ``facesidecar scan``, type each
person's name for the largest face of their photo 1 into faces.csv, scan again, count. The floors
sit just below what the default engine and settings reach (see the figures in bench/accuracy.py's
output), so a change that costs accuracy fails here.
"""

from __future__ import annotations

import pytest

from tests.support import accuracy

from .conftest import default_workers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def protocol_run(tmp_path_factory, shared_faces):
    with default_workers():  # a user's scan of ~170 photos: worker processes on both cores are faster here
        library = accuracy.scan_and_name(shared_faces, tmp_path_factory.mktemp("accuracy"))
    result = accuracy.count(shared_faces, library)
    print("\n" + accuracy.report(None, result))
    return library, result


def test_everyone_was_named_on_photo_1(protocol_run):
    _, result = protocol_run
    assert result.named == 33


def test_precision_and_recall_on_the_other_photos(protocol_run):
    _, result = protocol_run
    assert result.right + result.wrong + result.missed == 129
    assert result.precision >= 0.99, result.wrong_list  # reached: 100 % (126 right, 0 wrong)
    # reached: 96.9 % (4 without a guess). The open-set rule (issue 14) holds a person with one
    # confirmed face to a stricter bar than the model's 0.6, trading a face of this closed-set
    # protocol (97.7 % before) for no name on strangers; bench/open_set.py measures that side.
    assert result.recall >= 0.96, result.missed_list


def test_derived_copies_are_recognised(protocol_run):
    _, result = protocol_run
    assert result.variants_wrong == 0
    assert result.variants_right >= 8  # reached: 9 of 9


def test_no_guess_without_a_face(protocol_run):
    _, result = protocol_run
    assert result.noface_guesses == 0


def test_group_photos_rarely_name_someone_absent(protocol_run):
    _, result = protocol_run
    # reached: 1 of 31 guesses (a look-alike in group/5.jpg at distance 0.595, just inside 0.6)
    assert len(result.group_wrong) <= 1, result.group_wrong
    assert result.group_guesses >= 25


def test_verification_accuracy_at_the_model_threshold(protocol_run, shared_faces):
    library, _ = protocol_run
    result = accuracy.verification(shared_faces, library=library)
    assert result.faceless == 0
    assert result.accuracy >= 0.985  # reached: 99.1 % of 534 pairs
    assert result.different_recall >= 0.995  # reached: 100 %
