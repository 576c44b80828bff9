"""The guess stage: names suggested for unnamed faces from the gallery of confirmed faces.

A name a person rejected for a face ("not this person") is never guessed for it again; a named
face carries no guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..faceindex import IndexedFace
from ..gallery import Gallery, Guess, guess_columns
from ..model import FolderState

GUESS_CHUNK = 4096
"""Probes guessed at once: bounds the memory of one folder's guessing."""


def allowed_guess(guess: Guess | None, not_names: Iterable[str]) -> tuple[str, float | None]:
    """The guess columns, empty where a person said the face is not that person."""
    name, distance = guess_columns(guess)
    return ("", None) if name in not_names else (name, distance)


def guess_folder(state: FolderState, gallery: Gallery, model: str) -> bool:
    """Set the guesses of the folder's faces; True if any changed."""
    faces = [f for _, f in state.faces() if f.visible]
    probes = [f for f in faces if not f.name and model in f.encodings]
    changed = False
    for face in faces:
        if face.name and (face.guess or face.distance is not None):
            face.guess, face.distance = "", None
            changed = True
    for lo in range(0, len(probes), GUESS_CHUNK):
        chunk = probes[lo:lo + GUESS_CHUNK]
        guesses = gallery.guess(np.stack([f.encodings[model] for f in chunk]), [f.cluster for f in chunk])
        for face, guess in zip(chunk, guesses, strict=True):
            name, distance = allowed_guess(guess, face.not_names)
            if (face.guess, face.distance) != (name, distance):
                face.guess, face.distance = name, distance
                changed = True
    return changed


def folder_outdated(faces: list[IndexedFace], gallery: Gallery, labels: Mapping[str, str]) -> bool:
    """Whether an indexed folder's guesses or clusters differ from what ``gallery`` and ``labels`` give."""
    probes = [f for f in faces if not f.name]
    if any(f.name and (f.guess or f.cluster) for f in faces):
        return True
    if any(labels.get(f.face_id, "") != f.cluster for f in probes):
        return True
    if not probes:
        return False
    guesses = gallery.guess(np.stack([f.vector for f in probes]), [labels.get(f.face_id, "") for f in probes])
    for face, guess in zip(probes, guesses, strict=True):
        name, distance = allowed_guess(guess, face.not_names)
        if (face.guess, face.distance) != (name, distance):
            return True
    return False


__all__ = ["GUESS_CHUNK", "allowed_guess", "folder_outdated", "guess_folder"]
