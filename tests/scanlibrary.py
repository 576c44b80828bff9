"""A small library of the shared photos and sidecar comparisons, for the worker pool and cluster tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from facesidecar.config import Settings, with_roots
from facesidecar.imaging import read_photo
from facesidecar.photojob import PhotoJob
from facesidecar.store.folder import FolderStore

PHOTOS = ["group/13.jpg", "group/16.jpg", "group/4.jpg", "barack_obama/1.jpg", "barack_obama/2.jpg",
          "joe_biden/1.jpg", "noface/2.jpg", "corrupt/2.jpg"]


def copy_library(root: Path, shared_faces: Path) -> Path:
    """Group photos, portraits, a photo without faces and a corrupt one, in four folders."""
    for name in PHOTOS:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_faces / name, target)
    return root


def settings_for(root: Path, workers: int, state: Path | None = None) -> Settings:
    """``root`` as the only root, metadata writing off; ``state``: a state folder of the test's own
    (otherwise the session's, see conftest.default_state_dir)."""
    settings = with_roots(Settings(), [str(root)])
    settings.metadata.enabled = False
    settings.engine.workers = workers
    if state is not None:
        settings.state_dir = str(state)
    return settings


def sidecars(root: Path) -> dict[str, tuple]:
    """Every photo's error, boxes and encodings, as the scan left them in faces.pkl."""
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for name, photo in FolderStore(folder).load().photos.items():
            faces = [(f.box.to_plain(), f.encodings["dlib_resnet_v1"], f.name, f.guess) for f in photo.faces]
            found[f"{folder.name}/{name}"] = (photo.error.replace(str(root), ""), photo.width, photo.height, faces)
    return found


def assert_same_sidecars(expected: dict, actual: dict) -> None:
    assert expected.keys() == actual.keys()
    for photo, (error, width, height, faces) in expected.items():
        got_error, got_width, got_height, got_faces = actual[photo]
        assert (got_error, got_width, got_height, len(got_faces)) == (error, width, height, len(faces)), photo
        for (box, vector, name, guess), (got_box, got_vector, got_name, got_guess) in zip(faces, got_faces, strict=True):
            assert got_box == pytest.approx(box) and (got_name, got_guess) == (name, guess), photo
            assert np.allclose(got_vector, vector, atol=1e-5), photo


def jobs_of(root: Path, names: list[str]) -> list[PhotoJob]:
    return [PhotoJob(n, read_photo(root / name)) for n, name in enumerate(names)]
