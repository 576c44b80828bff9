"""guessing.Guesser: the gallery follows the confirmed faces, every guess goes through one
decision, and names confirmed on another server (the shared gallery) make the faces near them
stale here. Coloured squares are the faces (tests/fake_engine.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesidecar.compose import assemble_scanner
from facesidecar.engines.source import EngineSource
from facesidecar.guessing import Guesser
from facesidecar.liveclusters import LiveClusters
from facesidecar.scan import Scanner

from .csvedit import type_name
from .photos import ALICE, ALICE2, BOB, make_photo
from .scanlibrary import settings_for

pytestmark = pytest.mark.usefixtures("no_settle")


@pytest.fixture
def scanned(tmp_path, fake_engine) -> tuple[Path, Scanner]:
    root = tmp_path / "photos"
    make_photo(root / "a" / "1.png", (ALICE, 40))
    make_photo(root / "b" / "1.png", (ALICE2, 40))
    make_photo(root / "b" / "2.png", (BOB, 40))
    scanner = assemble_scanner(settings_for(root, 1, root.parent / "state"), engine=fake_engine)
    scanner.scan_paths([root])
    return root, scanner


def test_the_gallery_follows_a_confirmed_name(scanned):
    root, scanner = scanned
    assert len(scanner.guesser.gallery()) == 0
    type_name(root / "a", "1.png", 1, "Alice")
    scanner.scan_paths([root])
    gallery = scanner.guesser.gallery()
    assert len(gallery) == 1 and gallery is scanner.guesser.gallery(), "rebuilt only when a confirmed face changed"
    [decision] = scanner.guesser.decide(np.array([[2.1, 0.1, 0.0]], np.float32), ["elsewhere.png"])
    assert decision.guess().name == "Alice"


class SharedGallery:
    """The mirror port's shared gallery: names another server confirmed."""

    def __init__(self):
        self.entries: list[tuple[str, np.ndarray]] = []

    def confirmed_faces(self, model: str, exclude=()) -> list[tuple[str, np.ndarray]]:
        return list(self.entries)


def test_a_name_confirmed_on_another_server_makes_the_faces_near_it_stale(scanned, fake_engine):
    root, scanner = scanned
    settings = settings_for(root, 1, root.parent / "state")
    settings.mysql.shared_gallery = True
    engines = EngineSource(settings, fake_engine)
    clusters, shared = LiveClusters(settings, engines), SharedGallery()
    guesser = Guesser(settings, engines, clusters, shared)
    guesser.gallery()  # the first look after the start
    clusters.stale.clear()
    shared.entries = [("Bob", np.array([0.0, 2.0, 0.0], np.float32))]
    guesser.look_at_shared_gallery()
    bob = {f.face_id for f in clusters.library.unnamed() if f.file == "2.png"}
    assert bob <= clusters.stale and len(guesser.gallery()) == 1
