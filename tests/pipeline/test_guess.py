"""pipeline.guess: unnamed faces get the open-set decision's name, a name a person rejected for a face
is never guessed for it again, a named face carries no guess, and only faces that changed count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesidecar.gallery import NAMED, REJECTED_BY_A_PERSON, TOO_FAR, Decision
from facesidecar.model import Box, Face, FolderState, PhotoState
from facesidecar.pipeline.guess import guess_folder, photo_key

MODEL = "m"
FOLDER = Path("/photos/2024")


class Recorder:
    """The open-set decision as the stage sees it: records what it was asked, answers ``decisions``."""

    def __init__(self, *decisions: Decision) -> None:
        self.decisions = list(decisions)
        self.asked: list[tuple[list[float], list[str], list[str]]] = []

    def __call__(self, encodings: np.ndarray, photos: list[str], clusters: list[str]) -> list[Decision]:
        self.asked.append(([float(row[0]) for row in encodings], photos, clusters))
        return self.decisions[:len(photos)]


def face(face_id: str, value: float | None, **fields) -> Face:
    encodings = {} if value is None else {MODEL: np.full(4, value, np.float32)}
    return Face(face_id=face_id, box=Box(0.1, 0.1, 0.2, 0.2), encodings=encodings, **fields)


def folder_of(*faces: Face) -> FolderState:
    return FolderState({"a.jpg": PhotoState(file="a.jpg", faces=list(faces))})


ANNA = Decision(NAMED, name="Anna", nearest="Anna", distance=0.41234, threshold=0.6)


def test_only_visible_unnamed_faces_with_the_model_are_asked_about():
    faces = (face("probe", 1.0, cluster="c1"), face("named", 2.0, name="Bea"), face("other model", None),
             face("rejected", 3.0, rejected=True), face("forgotten", 4.0, forgotten=True))
    decide = Recorder(ANNA)
    assert guess_folder(FOLDER, folder_of(*faces), MODEL, decide)
    assert decide.asked == [([1.0], [photo_key(FOLDER, "a.jpg")], ["c1"])]


def test_an_unnamed_face_takes_the_decisions_guess_and_keeps_why():
    state = folder_of(face("f", 1.0))
    assert guess_folder(FOLDER, state, MODEL, Recorder(ANNA))
    guessed = state.photos["a.jpg"].faces[0]
    assert (guessed.guess, guessed.distance) == ("Anna", pytest.approx(0.4123, abs=1e-4))
    assert guessed.why["reason"] == NAMED and guessed.why["guess"] == "Anna"


def test_guessing_again_with_the_same_answer_changes_nothing():
    state = folder_of(face("f", 1.0))
    guess_folder(FOLDER, state, MODEL, Recorder(ANNA))
    assert not guess_folder(FOLDER, state, MODEL, Recorder(ANNA))
    assert guess_folder(FOLDER, state, MODEL, Recorder(Decision(TOO_FAR, nearest="Anna", distance=0.9)))
    assert state.photos["a.jpg"].faces[0].guess == ""


def test_a_name_a_person_rejected_is_never_guessed_for_that_face():
    state = folder_of(face("f", 1.0, not_names=["Anna"]))
    guess_folder(FOLDER, state, MODEL, Recorder(ANNA))
    rejected = state.photos["a.jpg"].faces[0]
    assert (rejected.guess, rejected.distance) == ("", None)
    assert rejected.why["reason"] == REJECTED_BY_A_PERSON and rejected.why["nearest"] == "Anna"


def test_a_named_face_loses_its_old_guess():
    state = folder_of(face("f", 1.0, name="Bea", guess="Anna", distance=0.4, why={"reason": NAMED}))
    decide = Recorder()
    assert guess_folder(FOLDER, state, MODEL, decide)
    named = state.photos["a.jpg"].faces[0]
    assert (named.guess, named.distance, named.why) == ("", None, {}) and decide.asked == []


def test_a_decision_missing_for_a_face_is_an_error_not_a_silent_no_guess():
    state = folder_of(face("f", 1.0), face("g", 2.0))
    with pytest.raises(ValueError):
        guess_folder(FOLDER, state, MODEL, Recorder(ANNA))
