"""The scan pipeline end to end with the real dlib engine on real photos (copied to tmp)."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest
from PIL import Image

from facesidecar.compose import assemble_scanner
from facesidecar.config import Settings, with_roots
from facesidecar.engines.dlib_engine import DlibEngine
from facesidecar.scan import Scanner
from facesidecar.store.csvfile import parse_csv
from facesidecar.store.folder import FolderStore

from .csvedit import type_name
from .fake_engine import FakeEngine

pytestmark = pytest.mark.usefixtures("no_settle")


@pytest.fixture(scope="module")
def engine():
    return DlibEngine(Settings().engine)


@pytest.fixture
def library(tmp_path, shared_faces) -> Path:
    root = tmp_path / "photos"
    for person in ("barack_obama", "joe_biden"):
        shutil.copytree(shared_faces / person, root / person)
    (root / "mixed").mkdir()
    shutil.copy(shared_faces / "noface" / "1.jpg", root / "mixed" / "noface.jpg")
    for corrupt in (shared_faces / "corrupt").iterdir():
        shutil.copy(corrupt, root / "mixed" / f"corrupt_{corrupt.name}")
    return root


def scanner_for(root: Path, engine) -> tuple[Scanner, FakeEngine]:
    """A scanner with the real engine, counting its detections (to prove unchanged photos are not decoded)."""
    settings = with_roots(Settings(), [str(root)])
    settings.metadata.enabled = False
    counting = FakeEngine(inner=engine)
    return assemble_scanner(settings, engine=counting), counting


def rows(folder: Path):
    return parse_csv((folder / "faces.csv").read_bytes())


def names_of(folder: Path, file: str) -> list[str]:
    return [r.name for r in rows(folder) if r.file == file]


def test_scan_writes_sidecars_everywhere_and_records_errors(library, engine):
    scanner, _ = scanner_for(library, engine)
    report = scanner.scan_paths([library])
    for folder in ("barack_obama", "joe_biden", "mixed"):
        assert (library / folder / "faces.csv").is_file() and (library / folder / "faces.pkl").is_file()
    assert {r.file for r in rows(library / "barack_obama")} == {"1.jpg", "2.jpg", "3.jpg", "4.jpg"}
    state = FolderStore(library / "mixed").load()
    assert state.photos["noface.jpg"].faces == [] and not state.photos["noface.jpg"].error
    corrupt = [p for name, p in state.photos.items() if name.startswith("corrupt_")]
    assert len(corrupt) == 3 and all(p.error for p in corrupt), "a corrupt photo must be an error, never 'no faces'"
    assert len(report.errors) == 3


def test_fixed_corrupt_file_is_retried_and_gets_faces(library, engine, shared_faces):
    scanner, _ = scanner_for(library, engine)
    scanner.scan_paths([library])
    broken = library / "mixed" / "corrupt_2.jpg"
    shutil.copy(shared_faces / "barack_obama" / "1.jpg", broken)
    scanner.scan_paths([library])
    photo = FolderStore(library / "mixed").load().photos["corrupt_2.jpg"]
    assert not photo.error and len(photo.faces) >= 1


def test_unchanged_photos_are_not_decoded_again(library, engine):
    scanner, counting = scanner_for(library, engine)
    scanner.scan_paths([library])
    first = counting.detections
    scanner2, counting2 = scanner_for(library, engine)
    scanner2.scan_paths([library])
    assert first > 0 and counting2.detections == 0


def test_typed_name_survives_rescan_reencode_move_and_model_change(library, engine):
    scanner, _ = scanner_for(library, engine)
    scanner.scan_paths([library])
    obama = library / "barack_obama"
    type_name(obama, "1.jpg", 1, "Barack Obama")
    scanner.scan_paths([library])
    assert names_of(obama, "1.jpg") == ["Barack Obama"]
    assert {r.file: r for r in rows(obama) if r.file == "2.jpg"}, "other photos still listed"

    # re-encode: JPEG re-saved at quality 80 (new bytes, new mtime)
    with Image.open(obama / "1.jpg") as img:
        img.save(obama / "1.jpg", quality=80)
    scanner.scan_paths([library])
    assert names_of(obama, "1.jpg") == ["Barack Obama"]

    # move to another folder (and rename)
    (library / "archive").mkdir()
    shutil.move(obama / "1.jpg", library / "archive" / "obama-2009.jpg")
    scanner.scan_paths([library])
    assert names_of(library / "archive", "obama-2009.jpg") == ["Barack Obama"]
    assert names_of(obama, "1.jpg") == []

    # model change: every photo is detected again; names belong to boxes and survive
    settings = with_roots(Settings(), [str(library)])
    settings.metadata.enabled = False
    other_model = FakeEngine(inner=engine, model_name="dlib_resnet_v1_retrained")
    assemble_scanner(settings, engine=other_model).scan_paths([library])
    assert other_model.detections > 0
    assert names_of(library / "archive", "obama-2009.jpg") == ["Barack Obama"]


def test_guesses_follow_a_typed_name(library, engine):
    scanner, _ = scanner_for(library, engine)
    scanner.scan_paths([library])
    type_name(library / "barack_obama", "1.jpg", 1, "Barack Obama")
    scanner.scan_paths([library])
    guesses = {r.file: r for r in parse_csv((library / "barack_obama" / "faces.csv").read_bytes())}
    text = (library / "barack_obama" / "faces.csv").read_text()
    assert text.count(",Barack Obama,") >= 2, text
    assert guesses["1.jpg"].name == "Barack Obama"
    biden = (library / "joe_biden" / "faces.csv").read_text()
    assert ",,Barack Obama," not in biden.split("\n")[1], "Biden's own face must not be guessed as Obama"


def test_deleted_row_stays_out_and_deleted_photo_rows_go(library, engine):
    scanner, _ = scanner_for(library, engine)
    scanner.scan_paths([library])
    obama = library / "barack_obama"
    lines = (obama / "faces.csv").read_text().split("\n")
    (obama / "faces.csv").write_text("\n".join(line for line in lines if not line.startswith("2.jpg,1,")))
    scanner.scan_paths([library])
    (obama / "3.jpg").unlink()
    scanner.scan_paths([library])
    files = [r.file for r in rows(obama)]
    assert "3.jpg" not in files
    assert ("2.jpg", 1) not in [(r.file, r.face_nr) for r in rows(obama) if r.box.x < 0.35], "rejected face came back"
    # a forced full rescan (--errors style: the photo changed) still keeps it rejected
    Path(obama / "2.jpg").touch()
    scanner.scan_paths([library])
    state = FolderStore(obama).load()
    assert any(f.rejected for f in state.photos["2.jpg"].faces)


def test_hostile_pickle_in_a_scanned_folder_is_rebuilt_and_names_survive(library, engine, tmp_path):
    scanner, _ = scanner_for(library, engine)
    scanner.scan_paths([library])
    obama = library / "barack_obama"
    type_name(obama, "1.jpg", 1, "Barack Obama")
    scanner.scan_paths([library])
    marker = tmp_path / "created-by-pickle"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (obama / "faces.pkl").write_bytes(pickle.dumps({"format": 1, "photos": Evil()}))
    scanner2, _ = scanner_for(library, engine)
    scanner2.scan_paths([library])
    assert not marker.exists()
    assert list(obama.glob("faces.pkl.bad-*"))
    assert names_of(obama, "1.jpg") == ["Barack Obama"]
    assert FolderStore(obama).load().photos["1.jpg"].faces[0].name == "Barack Obama"


def test_a_photo_moved_to_a_folder_processed_later_keeps_its_name(library, engine):
    """Whatever order the folders are processed in, a moved photo's faces and names follow it."""
    scanner, _ = scanner_for(library, engine)
    scanner.scan_paths([library])
    type_name(library / "barack_obama", "2.jpg", 1, "Barack Obama")
    scanner.scan_paths([library])
    (library / "zz-later").mkdir()
    shutil.move(library / "barack_obama" / "2.jpg", library / "zz-later" / "2.jpg")
    scanner2, counting = scanner_for(library, engine)
    scanner2.process_folders([library / "barack_obama", library / "zz-later"])
    assert names_of(library / "zz-later", "2.jpg") == ["Barack Obama"]
    assert counting.detections == 0, "a moved photo is not decoded again"


def test_a_folder_whose_work_fails_unexpectedly_costs_that_folder_only(library, engine, monkeypatch):
    """Whatever one folder's input makes go wrong, the scan (and so the daemon's catch-up) goes on
    with the others and says which folder failed (issue 13, rule 4)."""
    original = FolderStore.transaction

    def failing(store, *args, **kwargs):
        if store.folder.name == "joe_biden":
            raise ValueError("a bug met hostile input")
        return original(store, *args, **kwargs)

    monkeypatch.setattr(FolderStore, "transaction", failing)
    scanner, _ = scanner_for(library, engine)
    report = scanner.scan_paths([library])
    assert rows(library / "barack_obama") and (library / "mixed" / "faces.csv").is_file()
    assert not (library / "joe_biden" / "faces.csv").exists()
    assert [msg for where, msg in report.errors if where.endswith("joe_biden")] == [
        "failed: ValueError: a bug met hostile input"]
