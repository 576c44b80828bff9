"""``facesidecar import-hubzilla`` on folders laid out as the Hubzilla faces add-on leaves them.

Each folder gets real group photos (tests/data/faces/group, whose face boxes are ground truth in
face_annotations.csv), a faces.csv written by pandas exactly as the add-on writes it, with the
boxes the way the add-on's detector draws them (taller and wider than dlib's), and a faces.pkl
that creates a marker file if anything ever unpickles it.
"""

from __future__ import annotations

import csv
import os
import pickle
import shutil
from pathlib import Path

import pandas as pd
import pytest

from facesidecar.cli.main import main
from facesidecar.model import IGNORE, Box
from facesidecar.store.csvfile import parse_csv
from facesidecar.store.folder import FolderStore

from .test_hubzilla import ADDON_COLUMNS

PHOTOS = {"group/13.jpg": "IMG_13.jpg", "group/16.jpg": "IMG_16.jpg", "group/14.jpg": "IMG_14.jpg"}


class Trap:
    """Unpickling this opens (creates) the marker file: proof that the pickle ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def annotated(shared_faces: Path, photo: str) -> list[tuple[int, int, int, int]]:
    with open(shared_faces / "face_annotations.csv", newline="") as handle:
        return [(int(r["x"]), int(r["y"]), int(r["w"]), int(r["h"]))
                for r in csv.DictReader(handle) if r["file"] == photo and r["kind"] == "box"]


def addon_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[float, float, float, float]:
    """How a retinaface-style detector frames the same face: more forehead and chin, a bit wider."""
    x, y, w, h = box
    x, y, w, h = x - 0.1 * w, y - 0.3 * h, 1.2 * w, 1.45 * h
    return max(x, 0), max(y, 0), min(w, width - x), min(h, height - y)


def css_position(box, width: int, height: int) -> list[int]:
    """The add-on's Finder.calculate_css_location: margins left, right, top, bottom in whole percent."""
    x, y, w, h = box
    return [round(x * 100 / width), round((width - x - w) * 100 / width),
            round(y * 100 / height), round((height - y - h) * 100 / height)]


def row(file: str, position: list, face_nr: int, name: str, time_named: str, model: str = "Facenet512") -> list:
    return ["zYxWvUtSrQpOnMl", f"Photos/Party/{file}", position, face_nr, name, "", time_named,
            "2019:07:01 12:00:00", "retinaface", model]


def name_of(i: int, photo: str) -> str:
    return f"Person {Path(photo).stem.split('/')[-1]}-{i}"


def make_addon_folder(folder: Path, shared_faces: Path, photos: list[str], marker: Path, pixels: bool = False) -> dict:
    """The folder with the add-on's files; returns {photo file: [(ground-truth box fraction, name)]}."""
    folder.mkdir(parents=True)
    rows, truth = [], {}
    for photo in photos:
        target = PHOTOS[photo]
        shutil.copy(shared_faces / photo, folder / target)
        from PIL import Image

        width, height = Image.open(folder / target).size
        truth[target] = []
        for i, box in enumerate(annotated(shared_faces, photo), start=1):
            framed = addon_box(box, width, height)
            position = [round(v) for v in framed] if pixels else css_position(framed, width, height)
            name = IGNORE if i == 2 else name_of(i, photo)
            rows.append(row(target, position, i, name, f"2023-0{i % 9 + 1}-01T10:00:00+00:00"))
            truth[target].append((Box(box[0] / width, box[1] / height, box[2] / width, box[3] / height), name))
        # the add-on's row of another model for face 1, renamed earlier: the later name wins
        rows.append(row(target, rows[-len(truth[target])][2], 1, "An Older Name", "2020-01-01T10:00:00+00:00", "VGG-Face"))
        rows.append(row(target, [0], 0, "", ""))  # "no face" marker of a detector
    first = PHOTOS[photos[0]]
    corner = [5, 5, 50, 50] if pixels else [2, 93, 88, 4]
    rows.append(row(first, corner, 99, "Nobody There", "2023-01-01T10:00:00+00:00"))
    rows.append(row("gone.jpg", [10, 60, 20, 40] if not pixels else [10, 10, 40, 40], 1, "Left Behind", "2023-01-01"))
    rows.append(row(first, rows[0][2], 1, "", ""))  # an unnamed duplicate row
    pd.DataFrame(rows, columns=ADDON_COLUMNS).to_csv(folder / "faces.csv", index=False)
    (folder / "faces.pkl").write_bytes(pickle.dumps(Trap(marker)))
    (folder / "faces_statistics.csv").write_text("model,detector\nFacenet512,retinaface\n")
    for name in ("faces.csv", "faces.pkl", "faces_statistics.csv"):
        os.utime(folder / name, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    return truth


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def library(tmp_path, shared_faces):
    root = tmp_path / "photos"
    marker = tmp_path / "UNPICKLED"
    truth = {**make_addon_folder(root / "party", shared_faces, ["group/13.jpg", "group/16.jpg"], marker),
             **make_addon_folder(root / "pixels", shared_faces, ["group/14.jpg"], marker, pixels=True)}
    config = tmp_path / "config.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n[[roots]]\npath = "{root}"\n[metadata]\nenabled = false\n')
    return root, marker, truth, config


def run(config: Path, capsys, *args: str) -> tuple[int, str]:
    """The command's exit status and output; it logs no error on the way."""
    status = main(["import-hubzilla", "--config", str(config), *args])
    captured = capsys.readouterr()
    assert "ERROR" not in captured.err, captured.err
    return status, captured.out


def names_on_faces(folder: Path, file: str, truth: list[tuple[Box, str]]) -> list[tuple[str, str]]:
    """(wanted name, the name of facesidecar's face that best covers the ground-truth box)."""
    faces = FolderStore(folder).load().photos[file].visible_faces
    return [(wanted, max(faces, key=lambda f: f.box.iou(box)).name) for box, wanted in truth]


def test_dry_run_shows_what_would_happen_and_changes_nothing(library, capsys):
    root, marker, _truth, config = library
    before = snapshot(root)
    status, out = run(config, capsys, str(root), "--dry-run")
    assert status == 0, out
    assert "IMG_13.jpg face 1: Person 13-1: would import" in out
    assert "Nobody There: no face found" in out and "gone.jpg face 1: Left Behind: no photo" in out
    assert "2 folders with the add-on's names: 16 names to import" in out and "(dry run: nothing written)" in out
    assert snapshot(root) == before
    assert not marker.exists()


def test_names_land_on_the_right_faces_and_the_add_on_files_stay(library, capsys):
    root, marker, truth, config = library
    originals = {folder: {n: ((root / folder / n).read_bytes(), (root / folder / n).stat().st_mtime_ns)
                          for n in ("faces.csv", "faces.pkl", "faces_statistics.csv")}
                 for folder in ("party", "pixels")}
    status, out = run(config, capsys, str(root))
    assert status == 0, out
    assert not marker.exists(), "the add-on's faces.pkl was unpickled"
    assert "2 folders with the add-on's names: 16 names imported, 0 already there, 4 unmatched" in out
    for folder, files in originals.items():
        kept = {"faces.csv": "faces.hubzilla.csv", "faces.pkl": "faces.hubzilla.pkl",
                "faces_statistics.csv": "faces_statistics.csv"}
        for name, (data, mtime) in files.items():
            copy = root / folder / kept[name]
            assert (copy.read_bytes(), copy.stat().st_mtime_ns) == (data, mtime), copy
        assert not list((root / folder).glob("*.bad-*"))
    for file, wanted in truth.items():
        folder = root / ("pixels" if file == "IMG_14.jpg" else "party")
        assert [got for _, got in names_on_faces(folder, file, wanted)] == [name for _, name in wanted], file
    rows = parse_csv((root / "party" / "faces.csv").read_bytes())
    assert {r.name for r in rows} >= {"Person 13-1", IGNORE, "Person 16-3"}
    assert "An Older Name" not in {r.name for r in rows}
    assert "IMG_13.jpg face 99: Nobody There: no face found" in out and "gone.jpg face 1: Left Behind: no photo" in out

    status, out = run(config, capsys, str(root))  # again: reads the kept copy, finds everything done
    assert status == 0 and "0 names imported, 16 already there" in out
    assert not marker.exists()


def test_a_face_named_since_keeps_its_name(library, capsys):
    root, _marker, truth, config = library
    shutil.rmtree(root / "pixels")  # (its add-on faces.pkl would be reported by every scan of the root)
    assert run(config, capsys, str(root / "party"))[0] == 0
    csv_path = root / "party" / "faces.csv"
    csv_path.write_text(csv_path.read_text().replace("Person 16-1", "Someone Else"))
    status, out = run(config, capsys, str(root / "party"))
    assert status == 0 and "Person 16-1: not imported (that face is already named 'Someone Else')" in out
    assert [got for _, got in names_on_faces(root / "party", "IMG_16.jpg", truth["IMG_16.jpg"])][0] == "Someone Else"


def test_a_scan_before_the_import_loses_nothing(library, capsys):
    root, marker, truth, config = library
    shutil.rmtree(root / "pixels")
    assert main(["scan", "--config", str(config), str(root / "party")]) == 0
    capsys.readouterr()
    assert list((root / "party").glob("faces.csv.bad-*")) and not marker.exists()
    status, out = run(config, capsys, str(root / "party"))
    assert status == 0 and "names from faces.csv.bad-" in out
    wanted = truth["IMG_13.jpg"]
    assert [got for _, got in names_on_faces(root / "party", "IMG_13.jpg", wanted)] == [name for _, name in wanted]
    assert not marker.exists()
