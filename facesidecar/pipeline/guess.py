"""The guess stage: names suggested for unnamed faces by the open-set decision (gallery.Gallery.decide).

A name a person rejected for a face ("not this person") is never guessed for it again; a named
face carries no guess.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ..gallery import REJECTED_BY_A_PERSON, Decision, Guess, guess_columns
from ..model import FolderState

GUESS_CHUNK = 4096
"""Probes guessed at once: bounds the memory of one folder's guessing."""


def allowed_guess(guess: Guess | None, not_names: Iterable[str]) -> tuple[str, float | None]:
    """The guess columns, empty where a person said the face is not that person."""
    name, distance = guess_columns(guess)
    return ("", None) if name in not_names else (name, distance)


def why_of(decision: Decision, not_names: list[str]) -> dict:
    """What the face keeps of its decision (``Face.why``), noting a name a person rejected for it."""
    why = decision.explain()
    if why["guess"] and why["guess"] in not_names:
        why.update(guess="", reason=REJECTED_BY_A_PERSON)
    return why


def photo_key(folder: Path, file: str) -> str:
    """Which photo a face is in, as the open-set decision compares photos (one name per photo)."""
    return f"{folder}/{file}"


Decide = Callable[[np.ndarray, list[str], list[str]], list[Decision]]
"""The open-set decision for faces: (encodings, the photo each is in, their clusters) -> decisions."""


def guess_folder(folder: Path, state: FolderState, model: str, decide: Decide) -> bool:
    """Set the guesses of the folder's faces; True if any changed."""
    faces = [(p, f) for p, f in state.faces() if f.visible]
    probes = [(p, f) for p, f in faces if not f.name and model in f.encodings]
    changed = False
    for _, face in faces:
        if face.name and (face.guess or face.distance is not None or face.why):
            face.guess, face.distance, face.why = "", None, {}
            changed = True
    for lo in range(0, len(probes), GUESS_CHUNK):
        chunk = probes[lo:lo + GUESS_CHUNK]
        decisions = decide(np.stack([f.encodings[model] for _, f in chunk]),
                           [photo_key(folder, p.file) for p, _ in chunk], [f.cluster for _, f in chunk])
        for (_, face), decision in zip(chunk, decisions, strict=True):
            name, distance = allowed_guess(decision.guess(), face.not_names)
            why = why_of(decision, face.not_names)
            if (face.guess, face.distance, face.why) != (name, distance, why):
                face.guess, face.distance, face.why = name, distance, why
                changed = True
    return changed


__all__ = ["GUESS_CHUNK", "Decide", "allowed_guess", "guess_folder", "photo_key", "why_of"]
