"""faceindex: the in-memory index of faces that guessing and clustering work on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facesidecar.faceindex import Library
from facesidecar.model import IGNORE
from facesidecar.store.folder import FolderStore

from .store.helpers import face, state_with

A, B = Path("/photos/a"), Path("/photos/b")


def named(x: float, name: str = "", guess: str = ""):
    result = face(x, name)
    result.guess = guess
    return result


def library_of(**folders) -> Library:
    library = Library("m")
    for folder, state in folders.items():
        library.set_folder(Path("/photos") / folder, state)
    return library


def test_only_visible_faces_with_an_encoding_of_the_model_are_indexed():
    other_model = face(0.3)
    other_model.encodings = {"other": np.zeros(4, np.float32)}
    rejected = face(0.5)
    rejected.rejected = True
    library = library_of(a=state_with(x_jpg=[face(0.1), other_model, rejected]))
    assert [(f.file, f.face_id) for f in library.all_faces()] == [("x.jpg", "f0.10")]


def test_confirmed_and_unnamed_faces():
    library = library_of(a=state_with(x_jpg=[named(0.1, "Ann"), named(0.2, IGNORE), named(0.3, guess="Ann")]))
    assert [f.name for f in library.confirmed()] == ["Ann"]
    assert [f.face_id for f in library.unnamed()] == ["f0.30"]


def test_the_gallery_key_moves_only_when_confirmed_faces_change():
    library = library_of(a=state_with(x_jpg=[named(0.1, "Ann")]))
    version = library.confirmed_version
    library.set_folder(A, state_with(x_jpg=[named(0.1, "Ann"), named(0.2, guess="Ann")]))
    assert library.confirmed_version == version, "a new unnamed face is no change of the gallery"
    library.set_folder(A, state_with(x_jpg=[named(0.1, "Anne")]))
    assert library.confirmed_version > version, "a renamed face is"
    version = library.confirmed_version
    library.drop_folder(B)
    assert library.confirmed_version == version
    library.drop_folder(A)
    assert library.confirmed_version > version and not library.folders


def test_a_forgotten_person_leaves_the_index_and_the_gallery_key_moves():
    library = library_of(a=state_with(x_jpg=[named(0.1, "Ann"), named(0.2, guess="Ann"), named(0.3, "Bob")]),
                         b=state_with(y_jpg=[named(0.4, guess="Bob")]))
    version = library.confirmed_version
    library.drop_person("Ann")
    assert sorted(f.face_id for f in library.all_faces()) == ["f0.30", "f0.40"]
    assert library.confirmed_version > version


def test_load_indexes_folders_with_sidecars_once(tmp_path):
    with_sidecars, without = tmp_path / "a", tmp_path / "b"
    with_sidecars.mkdir()
    without.mkdir()
    with FolderStore(with_sidecars).transaction() as txn:
        txn.state.photos.update(state_with(x_jpg=[named(0.1, "Ann")]).photos)
    library = Library("m")
    library.load([with_sidecars, without])
    assert list(library.folders) == [with_sidecars]
    library.folders[with_sidecars] = []
    library.load([with_sidecars])
    assert library.folders[with_sidecars] == [], "an indexed folder is not read again"
