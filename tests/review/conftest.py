"""A tiny scanned library of generated photos and a fake engine, for the review page's tests.

Every photo is a grey canvas with up to four coloured squares (the "faces") in four slots, found by
the squares engine of tests/photos.py: squares of similar colour are the same person.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from facesidecar.compose import assemble_scanner
from facesidecar.config import Settings, with_roots
from facesidecar.review.app import create_app
from facesidecar.store.csvfile import parse_csv

from ..csvedit import type_name
from ..fake_engine import FakeEngine
from ..photos import BLUE, BLUE2, GREEN, GREEN2, GREEN3, RED, RED2, SLOTS, draw_faces


def save_rotated(image: Image.Image, path: Path) -> None:
    """Store ``image`` turned on its side with EXIF orientation 6, as a camera held upright does."""
    stored = image.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, "JPEG", quality=95, exif=exif)


@pytest.fixture(autouse=True)
def quick_sidecar_reads(no_settle):
    """Every review test edits faces.csv in-process (see ``no_settle`` in tests/conftest.py)."""


def make_library(root: Path) -> None:
    (root / "album1").mkdir(parents=True)
    (root / "album2").mkdir()
    draw_faces(RED, None, BLUE, None, layout=SLOTS).save(root / "album1" / "a1.jpg", quality=95)
    draw_faces(RED2, GREEN, None, None, layout=SLOTS).save(root / "album1" / "a2.jpg", quality=95)
    draw_faces(GREEN2, None, None, BLUE2, layout=SLOTS).save(root / "album2" / "b1.jpg", quality=95)
    save_rotated(draw_faces(None, None, GREEN3, None, layout=SLOTS), root / "album2" / "b2.jpg")


class Lib:
    """The scanned library, its scanner and the app, with helpers to read faces.csv."""

    def __init__(self, tmp_path: Path, **review):
        self.root = tmp_path / "photos"
        make_library(self.root)
        settings = with_roots(Settings(), [str(self.root)])
        settings.metadata.enabled = False
        settings.state_dir = str(tmp_path / "state")
        for key, value in review.items():
            setattr(settings.review, key, value)
        self.settings = settings
        self.scanner = assemble_scanner(settings, engine=FakeEngine(scale=255, threshold=0.3))
        self.scanner.scan_paths([self.root])
        self.app = create_app(settings, [self.root], self.scanner)
        self.app.config["TESTING"] = True
        self.client = self.app.test_client()

    def rows(self, album: str):
        return parse_csv((self.root / album / "faces.csv").read_bytes())

    @property
    def greens(self) -> str:
        """The label of the largest cluster (the three green faces)."""
        return self.face("album1", "a2.jpg", 2).cluster

    @property
    def blues(self) -> str:
        """The label of the other cluster (the two blue faces)."""
        return self.face("album1", "a1.jpg", 2).cluster

    def row(self, album: str, file: str, face_nr: int):
        return next(r for r in self.rows(album) if r.file == file and r.face_nr == face_nr)

    def face(self, album: str, file: str, face_nr: int):
        from facesidecar.store.folder import FolderStore

        return FolderStore(self.root / album).load().photos[file].visible_faces[face_nr - 1]

    def guess(self, album: str, file: str, face_nr: int) -> str:
        return self.face(album, file, face_nr).guess

    def face_id(self, album: str, file: str, face_nr: int) -> str:
        return self.face(album, file, face_nr).face_id

    def key(self, album: str) -> str:
        return f"0/{album}"

    def csrf(self, page: str = "/") -> str:
        html = self.client.get(page).get_data(as_text=True)
        return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)

    def post(self, url: str, **form):
        form.setdefault("csrf", self.csrf())
        form.setdefault("next", "/")
        return self.client.post(url, data=form)

    def type_in_csv(self, album: str, file: str, face_nr: int, name: str) -> None:
        """Edit faces.csv as a person in a text editor would."""
        type_name(self.root / album, file, face_nr, name)


@pytest.fixture
def lib(tmp_path) -> Lib:
    return Lib(tmp_path)


@pytest.fixture
def named(lib) -> Lib:
    """The library with red named Rita in a1 (by hand, in faces.csv) and rescanned."""
    lib.type_in_csv("album1", "a1.jpg", 1, "Rita")
    lib.scanner.process_folders([lib.root / "album1", lib.root / "album2"], csv_only=True)
    return lib
