"""detection.Detector: the detect stage of a scanner. ``analyse`` (match, the dry run of
import-hubzilla) runs the very function a scan's workers run, so it finds the faces a scan records."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesidecar.compose import assemble_scanner
from facesidecar.config import Settings, with_roots
from facesidecar.store.folder import FolderStore

from .photos import ALICE, BOB, make_photo

pytestmark = pytest.mark.usefixtures("no_settle")


def scanner_for(root: Path, engine):
    settings = with_roots(Settings(), [str(root)])
    settings.metadata.enabled = False
    settings.state_dir = str(root.parent / "state")
    return assemble_scanner(settings, engine=engine)


def test_analyse_finds_what_the_scan_records(tmp_path, fake_engine):
    photo = make_photo(tmp_path / "photos" / "a" / "1.png", ALICE, BOB)
    scanner = scanner_for(tmp_path / "photos", fake_engine)
    scanner.scan_paths([tmp_path / "photos"])
    recorded = FolderStore(photo.parent).load().photos["1.png"]
    analysed = scanner.detector.analyse(photo)
    assert not analysed.error and len(analysed.faces) == 2
    assert [f.box.rounded() for f in analysed.faces] == [f.box.rounded() for f in recorded.visible_faces]
    assert (analysed.stored_width, analysed.stored_height) == (recorded.width, recorded.height)


def test_a_photo_that_cannot_be_read_is_an_error_not_no_faces(tmp_path, fake_engine):
    broken = tmp_path / "photos" / "broken.jpg"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a photo")
    analysed = scanner_for(tmp_path / "photos", fake_engine).detector.analyse(broken)
    assert "broken.jpg" in analysed.error and not analysed.faces
    missing = scanner_for(tmp_path / "photos", fake_engine).detector.analyse(tmp_path / "photos" / "gone.jpg")
    assert missing.error and not missing.faces
