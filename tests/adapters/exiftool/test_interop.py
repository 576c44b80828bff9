"""What other photo tools read of what facesidecar writes, through scan, name, rename and forget.

Everything is read back the way the tools read it: with exiftool (what Immich, PhotoPrism and
Lightroom-style readers see; Immich's own orientation rule on top), and with libexiv2 plus
digiKam's rules (tests/exiv2read.py). A region must frame, on the photo as displayed, the very
box faces.csv holds, for every EXIF orientation and every format we write.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesidecar.compose import assemble_scanner, metadata_adapter
from facesidecar.config import EngineSettings, Settings, with_roots
from facesidecar.engines import get_engine
from facesidecar.gdpr import forget_person
from facesidecar.imaging import DecodedPhoto
from facesidecar.model import Box
from facesidecar.naming_commands import confirm_guesses, name_face, rename_person
from facesidecar.pipeline.detect import find_faces
from facesidecar.scan import Scanner

from ...conftest import TEST_DATA
from ...exiv2read import digikam_displayed_box, read_exiv2
from ...fake_engine import FakeEngine
from ...photos import (
    EMPTY_XMP,
    FORMATS,
    face_picture,
    immich_displayed_box,
    make_raw,
    noise_picture,
    save_oriented,
    stored_pixels,
)

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")

ORIENTATIONS = range(1, 9)
FACE = Box(0.2, 0.25, 0.3, 0.3)
"""Where the fixed-box engine finds the face of a generated photo (fractions, displayed)."""
OTHER_FACE = Box(0.6, 0.3, 0.25, 0.3)


pytestmark = pytest.mark.usefixtures("no_settle")


def library(tmp_path: Path, engine=None, **metadata) -> tuple[Path, Scanner]:
    root = tmp_path / "photos"
    root.mkdir(exist_ok=True)
    settings = with_roots(Settings(state_dir=str(tmp_path / "state")), [str(root)])
    for key, value in metadata.items():
        setattr(settings.metadata, key, value)
    return root, assemble_scanner(settings, engine=engine, metadata=metadata_adapter(settings))


@pytest.fixture
def make_library(tmp_path):
    scanners = []

    def make(engine=None, **metadata):
        root, scanner = library(tmp_path, engine, **metadata)
        scanners.append(scanner)
        return root, scanner

    yield make
    for scanner in scanners:
        scanner.close()


def exiftool_read(path: Path) -> dict:
    """What plain exiftool reports (numbers unconverted), as Immich's exiftool-vendored reads it."""
    out = subprocess.run(["exiftool", "-j", "-struct", "-G1", "-n", "-XMP:All", "-IPTC:Keywords", "-Orientation",
                          "-Composite:ImageSize", str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def csv_rows(folder: Path) -> dict[tuple[str, int], dict]:
    """faces.csv as {(file, face_nr): row}, read as a spreadsheet would."""
    with (folder / "faces.csv").open(newline="", encoding="utf-8") as handle:
        return {(r["file"], int(r["face_nr"])): r for r in csv.DictReader(handle)}


def csv_box(row: dict) -> Box:
    return Box(*(float(row[k]) for k in ("x", "y", "w", "h")))


def close(a: Box, b: Box, tol: float = 0.02) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(a.to_plain(), b.to_plain(), strict=True))


def regions(data: dict) -> list[dict]:
    return as_list(data.get("XMP-mwg-rs:RegionInfo", {}).get("RegionList"))


def mp_names(data: dict) -> list[str]:
    return [r.get("PersonDisplayName") for r in as_list(data.get("XMP-MP:RegionInfoMP", {}).get("Regions"))]


# -- every orientation, every format, the real detector ------------------------------------------
@pytest.fixture(scope="module")
def dlib_engine():
    return get_engine(EngineSettings())


@pytest.fixture(scope="module")
def portrait() -> Image.Image:
    return face_picture(TEST_DATA / "tom_cruise.jpg")


def reference_box(engine, picture: Image.Image) -> Box:
    """Where the detector finds the face on the upright picture: what every file must give back."""
    (face,) = find_faces(engine, DecodedPhoto(np.asarray(picture), *picture.size, 1, *picture.size), 20)
    return face.box


def write_oriented_set(folder: Path, suffix: str, picture: Image.Image) -> dict[str, tuple[int, tuple[int, int], Path]]:
    """One photo per orientation; per file: orientation, stored size, the file holding the metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for orientation in ORIENTATIONS:
        if suffix == ".arw":
            raw_size = stored_pixels(picture, orientation).size
            raw_size = (raw_size[0] * 2, raw_size[1] * 2)
            path = make_raw(folder / f"o{orientation}.arw", picture, orientation, raw_size)
            made[path.name] = (orientation, raw_size, path.with_name(path.name + ".xmp"))
            continue
        options = {"xmp": EMPTY_XMP} if suffix == ".heic" else {}
        path = save_oriented(picture, orientation, folder / f"o{orientation}{suffix}", **options)
        stored = picture.size[::-1] if orientation >= 5 else picture.size
        made[path.name] = (orientation, stored, path)
    return made


@pytest.mark.parametrize("suffix", [*FORMATS, ".arw"])
def test_regions_frame_the_detected_face_in_every_orientation(make_library, dlib_engine, portrait, suffix):
    root, scanner = make_library(dlib_engine)
    want = reference_box(dlib_engine, portrait)
    made = write_oriented_set(root / "set", suffix, portrait)
    scanner.scan_paths([root])
    name_face(scanner, root / "set" / "o1" f"{suffix}", 1, "Tom Cruise")
    confirm_guesses(scanner, [root / "set"], "Tom Cruise")
    rows = csv_rows(root / "set")
    for file, (orientation, stored, holder) in made.items():
        row = rows[(file, 1)]
        assert row["name"] == "Tom Cruise" and (file, 2) not in rows, (file, row)
        shown = csv_box(row)
        assert shown.iou(want) > 0.8, f"{file}: the detector did not see the photo upright ({shown} vs {want})"

        data = exiftool_read(holder)
        (region,) = regions(data)
        assert region["Name"] == "Tom Cruise" and region["Type"] == "Face"
        info = data["XMP-mwg-rs:RegionInfo"]["AppliedToDimensions"]
        assert (info["W"], info["H"]) == stored, f"{file}: AppliedToDimensions is not the stored size"
        photo = root / "set" / file
        assert exiftool_read(photo).get("IFD0:Orientation", 1) == orientation
        assert close(immich_displayed_box(region["Area"], orientation), shown), f"{file}: Immich would misplace it"

        seen = read_exiv2(holder, orientation_from=photo)
        assert seen.orientation == orientation
        ((name, rect),) = seen.mwg
        assert name == "Tom Cruise"
        assert close(digikam_displayed_box(rect, orientation, stored), shown), f"{file}: digiKam would misplace it"
        assert seen.tags == ["People/Tom Cruise"] and seen.values("Xmp.dc.subject") == ["Tom Cruise"]


@pytest.mark.parametrize("suffix", [".tif", ".jpg"])
@pytest.mark.parametrize("orientation", [3, 6, 7])
def test_a_region_in_a_turned_photo_is_imported_where_the_face_is(make_library, suffix, orientation):
    """digiKam wrote "Anna" at the face, in the stored frame: the import must land on the same face."""
    root, scanner = make_library(FakeEngine(boxes=[FACE, OTHER_FACE]))
    photo = save_oriented(noise_picture((300, 200)), orientation, root / f"a{suffix}")
    stored = (200, 300) if orientation >= 5 else (300, 200)
    run_exiftool(photo, f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={stored[0]},H={stored[1]},Unit=pixel}},"
                        f"RegionList=[{{Area={to_stored_area(FACE, orientation)},Name=Anna,Type=Face}}]}}")
    scanner.scan_paths([root])
    rows = csv_rows(root)
    assert [rows[(photo.name, n)]["name"] for n in (1, 2)] == ["Anna", ""] and (photo.name, 3) not in rows
    (region,) = regions(exiftool_read(photo))  # adopted, not doubled
    assert region["Name"] == "Anna"


def test_heic_xmp_and_libexiv2(make_library):
    """libexiv2 (0.28.9, what digiKam reads HEIC with) ignores the item offset exiftool uses for an
    XMP packet it adds to a HEIC that had none; a HEIC that already carries one is read fine.
    The README says so; when this test fails, libexiv2 has fixed it and the README can stop."""
    root, scanner = make_library(FakeEngine(boxes=[FACE]))
    save_oriented(noise_picture(), 6, root / "bare.heic")
    save_oriented(noise_picture(), 6, root / "packet.heic", xmp=EMPTY_XMP)
    scanner.scan_paths([root])
    for file in ("bare.heic", "packet.heic"):
        name_face(scanner, root / file, 1, "Alice")
        assert [r["Name"] for r in regions(exiftool_read(root / file))] == ["Alice"]
    assert read_exiv2(root / "bare.heic").mwg == []
    assert [n for n, _ in read_exiv2(root / "packet.heic").mwg] == ["Alice"]


# -- what the user had stays, what we wrote goes ---------------------------------------------------
def run_exiftool(path: Path, *args: str) -> None:
    subprocess.run(["exiftool", "-q", "-overwrite_original", *args, str(path)], check=True)


PET = "{Area={X=0.85,Y=0.85,W=0.1,H=0.1,Unit=normalized},Name=Rex,Type=Pet}"
UNNAMED = "{Area={X=0.1,Y=0.85,W=0.08,H=0.1,Unit=normalized},Type=Face}"


def users_photo(path: Path) -> Path:
    """A photo another tool worked on: keywords (one is the name of the person in it), digiKam
    tags, a hierarchical keyword, a pet region, an unnamed face region and a Windows Photo
    Gallery (MP) region naming the face at FACE "Jack"."""
    save_oriented(noise_picture(), 1, path)
    run_exiftool(path, "-XMP-dc:Subject=Jack", "-XMP-dc:Subject=Holiday", "-IPTC:Keywords=Jack",
                 "-IPTC:Keywords=Holiday", "-XMP-digiKam:TagsList=Places/Rome", "-XMP-lr:HierarchicalSubject=Places|Rome",
                 f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W=300,H=200,Unit=pixel}},RegionList=[{UNNAMED},{PET}]}}",
                 "-XMP-MP:RegionInfoMP={Regions=[{PersonDisplayName=Jack,Rectangle=0.2|, 0.25|, 0.3|, 0.3}]}")
    return path


def test_name_rename_clear_leave_the_users_metadata(make_library):
    root, scanner = make_library(FakeEngine(boxes=[FACE, OTHER_FACE]))
    photo = users_photo(root / "a.jpg")
    scanner.scan_paths([root])
    assert csv_rows(root)[("a.jpg", 1)]["name"] == "Jack"  # imported from the MP region
    name_face(scanner, photo, 2, "Jill")
    data = exiftool_read(photo)
    assert data["XMP-dc:Subject"] == ["Jack", "Holiday", "Jill"]
    assert data["XMP-digiKam:TagsList"] == ["Places/Rome", "People/Jack", "People/Jill"]
    assert [r.get("Name") for r in regions(data)] == ["Rex", "Jack", "Jill", None]  # named first: digiKam
    assert mp_names(data) == ["Jack"]

    rename_person(scanner, [root], "Jack", "John")
    data = exiftool_read(photo)
    assert mp_names(data) == ["John"], "the Windows region of the renamed person follows"
    assert [r.get("Name") for r in regions(data)] == ["Rex", "John", "Jill", None]
    assert sorted(data["XMP-dc:Subject"]) == ["Holiday", "Jack", "Jill", "John"], "the user's keyword Jack stays"
    assert sorted(data["XMP-lr:HierarchicalSubject"]) == ["People|Jill", "People|John", "Places|Rome"]
    seen = read_exiv2(photo)
    assert sorted(seen.tags) == ["People/Jill", "People/John", "Places/Rome"]
    assert [n for n, _ in seen.mp] == ["John"] and [n for n, _ in seen.mwg] == ["Rex", "John", "Jill", ""]

    name_face(scanner, photo, 1, "")
    name_face(scanner, photo, 2, "")
    data = exiftool_read(photo)
    assert data["XMP-dc:Subject"] == ["Jack", "Holiday"]
    assert data["IPTC:Keywords"] == ["Jack", "Holiday"]
    assert as_list(data["XMP-digiKam:TagsList"]) == ["Places/Rome"]
    assert as_list(data["XMP-lr:HierarchicalSubject"]) == ["Places|Rome"]
    assert "XMP-iptcExt:PersonInImage" not in data
    assert [r.get("Name") for r in regions(data)] == ["Rex", None]
    assert mp_names(data) == [], "a cleared name leaves the Windows region too (digiKam would bring it back)"
    assert read_exiv2(photo).tags == ["Places/Rome"]


def test_tags_list_keeps_the_photos_other_tags_visible(make_library):
    """digiKam and Immich read TagsList alone once it exists: the hierarchical keywords the photo
    had must be in it while facesidecar's names are, and it goes with the last name."""
    root, scanner = make_library(FakeEngine(boxes=[FACE]))
    photo = save_oriented(noise_picture(), 1, root / "a.jpg")
    run_exiftool(photo, "-XMP-lr:HierarchicalSubject=Places|Rome")
    scanner.scan_paths([root])
    name_face(scanner, photo, 1, "Alice")
    assert sorted(read_exiv2(photo).tags) == ["People/Alice", "Places/Rome"]
    name_face(scanner, photo, 1, "")
    data = exiftool_read(photo)
    assert "XMP-digiKam:TagsList" not in data and as_list(data["XMP-lr:HierarchicalSubject"]) == ["Places|Rome"]


def test_forget_takes_the_person_out_of_every_place(make_library):
    root, scanner = make_library(FakeEngine(boxes=[FACE, OTHER_FACE]))
    photo = users_photo(root / "a.jpg")
    scanner.scan_paths([root])
    name_face(scanner, photo, 2, "Jill")
    forget_person(scanner, [root], "Jack", state_dir=root.parent / "state")
    data = exiftool_read(photo)
    assert mp_names(data) == []
    assert "Jack" not in json.dumps(data)
    assert data["XMP-dc:Subject"] == ["Holiday", "Jill"]
    assert [r.get("Name") for r in regions(data)] == ["Rex", "Jill", None]


# -- RAW files and their sidecars -------------------------------------------------------------------
def lightroom_sidecar(path: Path, orientation: int, size: tuple[int, int] = (400, 300)) -> Path:
    """What Lightroom leaves next to a RAW file: develop settings, a keyword, a named face region."""
    area = to_stored_area(FACE, orientation)
    subprocess.run(["exiftool", "-q", "-o", str(path), "-XMP-crs:Exposure2012=+0.35", "-XMP-dc:Subject=Holiday",
                    f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={size[0]},H={size[1]},Unit=pixel}},"
                    f"RegionList=[{{Area={area},Name=Anna,Type=Face}}]}}"], check=True)
    return path


def to_stored_area(box: Box, orientation: int) -> str:
    from facesidecar.regions import to_mwg_area

    area = to_mwg_area(box, orientation)
    return "{" + ",".join(f"{k}={v}" for k, v in area.items()) + "}"


def test_lightroom_sidecar_is_the_one_read_and_written(make_library):
    root, scanner = make_library(FakeEngine(boxes=[FACE, OTHER_FACE]))
    raw = make_raw(root / "IMG_1.ARW", noise_picture((200, 150)), 6, raw_size=(300, 400))
    digest = raw.read_bytes()
    sidecar = lightroom_sidecar(root / "IMG_1.xmp", 6, (300, 400))
    scanner.scan_paths([root])
    assert csv_rows(root)[("IMG_1.ARW", 1)]["name"] == "Anna"
    name_face(scanner, raw, 2, "Ben")
    rename_person(scanner, [root], "Anna", "Anne")
    assert not (root / "IMG_1.ARW.xmp").exists(), "no second sidecar next to Lightroom's"
    data = exiftool_read(sidecar)
    assert sorted(data["XMP-dc:Subject"]) == ["Anne", "Ben", "Holiday"]
    assert sorted(r["Name"] for r in regions(data)) == ["Anne", "Ben"]
    assert data["XMP-mwg-rs:RegionInfo"]["AppliedToDimensions"] == {"W": 300, "H": 400, "Unit": "pixel"}
    for number in (1, 2):
        name_face(scanner, raw, number, "")
    data = exiftool_read(sidecar)
    assert as_list(data["XMP-dc:Subject"]) == ["Holiday"] and regions(data) == []
    assert data["XMP-crs:Exposure2012"] == "+0.35", "Lightroom's develop settings are intact"
    assert raw.read_bytes() == digest


@pytest.mark.parametrize(("convention", "created"), [("auto", "IMG_1.ARW.xmp"), ("IMG_1.CR2.xmp", "IMG_1.ARW.xmp"),
                                                     ("IMG_1.xmp", "IMG_1.xmp")])
def test_a_sidecar_we_created_goes_with_the_last_name(make_library, convention, created):
    root, scanner = make_library(FakeEngine(boxes=[FACE]), raw_sidecar=convention)
    raw = make_raw(root / "IMG_1.ARW", noise_picture((200, 150)), 8, raw_size=(300, 400))
    scanner.scan_paths([root])
    assert sorted(p.name for p in root.iterdir() if "xmp" in p.name.lower()) == []
    name_face(scanner, raw, 1, "Alice")
    assert sorted(p.name for p in root.iterdir() if "xmp" in p.name.lower()) == [created]
    data = exiftool_read(root / created)
    assert data["XMP-mwg-rs:RegionInfo"]["AppliedToDimensions"] == {"W": 300, "H": 400, "Unit": "pixel"}
    (region,) = regions(data)
    assert close(immich_displayed_box(region["Area"], 8), csv_box(csv_rows(root)[("IMG_1.ARW", 1)]))
    name_face(scanner, raw, 1, "")
    assert not (root / created).exists()


def test_a_created_sidecar_another_tool_wrote_into_stays(make_library):
    root, scanner = make_library(FakeEngine(boxes=[FACE]))
    raw = make_raw(root / "IMG_1.ARW", noise_picture((200, 150)), 1)
    scanner.scan_paths([root])
    name_face(scanner, raw, 1, "Alice")
    run_exiftool(root / "IMG_1.ARW.xmp", "-XMP-xmp:Rating=4")  # darktable rated it meanwhile
    name_face(scanner, raw, 1, "")
    data = exiftool_read(root / "IMG_1.ARW.xmp")
    assert data["XMP-xmp:Rating"] == 4 and "Alice" not in json.dumps(data)


def test_auto_follows_the_folders_habit(make_library):
    root, scanner = make_library(FakeEngine(boxes=[FACE]))
    for stem in ("IMG_1", "IMG_2", "IMG_3"):
        make_raw(root / f"{stem}.ARW", noise_picture((200, 150)), 1)
    lightroom_sidecar(root / "IMG_2.xmp", 1)
    save_oriented(noise_picture(), 1, root / "IMG_3.JPG")  # a RAW+JPEG pair: IMG_3.xmp would be ambiguous
    scanner.scan_paths([root])
    name_face(scanner, root / "IMG_1.ARW", 1, "Alice")
    name_face(scanner, root / "IMG_3.ARW", 1, "Alice")
    assert (root / "IMG_1.xmp").is_file() and not (root / "IMG_1.ARW.xmp").exists()
    assert (root / "IMG_3.ARW.xmp").is_file() and not (root / "IMG_3.xmp").exists()


def test_both_sidecars_are_read_and_written(make_library):
    """darktable's IMG_1.ARW.xmp and Lightroom's IMG_1.xmp side by side: each tool reads its own."""
    root, scanner = make_library(FakeEngine(boxes=[FACE, OTHER_FACE]))
    make_raw(root / "IMG_1.ARW", noise_picture((200, 150)), 1)
    lightroom_sidecar(root / "IMG_1.xmp", 1)
    darktable = root / "IMG_1.ARW.xmp"
    subprocess.run(["exiftool", "-q", "-o", str(darktable), "-XMP-darktable:XmpVersion=5",
                    "-XMP-mwg-rs:RegionInfo={RegionList=[{Area={X=0.725,Y=0.45,W=0.25,H=0.3,Unit=normalized},"
                    "Name=Carl,Type=Face}]}"], check=True)
    scanner.scan_paths([root])
    assert [csv_rows(root)[("IMG_1.ARW", n)]["name"] for n in (1, 2)] == ["Anna", "Carl"]
    rename_person(scanner, [root], "Carl", "Karl")
    for sidecar in (root / "IMG_1.xmp", darktable):
        assert sorted(r["Name"] for r in regions(exiftool_read(sidecar))) == ["Anna", "Karl"], sidecar.name


# -- catalog tools see the change; facesidecar does not rescan its own write -------------------------
def test_a_written_photo_is_a_changed_file_but_not_rescanned(make_library):
    engine = FakeEngine(boxes=[FACE])
    root, scanner = make_library(engine)
    photo = save_oriented(noise_picture(), 1, root / "a.jpg")
    raw = make_raw(root / "IMG_1.ARW", noise_picture((200, 150)), 1)
    old = time.time() - 86400
    for path in (photo, raw):
        os.utime(path, (old, old))
    scanner.scan_paths([root])
    detections = engine.detections
    name_face(scanner, photo, 1, "Alice")
    name_face(scanner, raw, 1, "Alice")
    assert photo.stat().st_mtime > old + 3600, "Immich, digiKam and PhotoPrism rescan by mtime"
    assert raw.stat().st_mtime == old
    report = scanner.scan_paths([root])
    assert report.scanned == 0 and engine.detections == detections


def test_preserve_mtime_keeps_the_old_time(make_library):
    root, scanner = make_library(FakeEngine(boxes=[FACE]), preserve_mtime=True)
    photo = save_oriented(noise_picture(), 1, root / "a.jpg")
    os.utime(photo, (1_000_000, 1_000_000))
    scanner.scan_paths([root])
    name_face(scanner, photo, 1, "Alice")
    assert photo.stat().st_mtime == 1_000_000
    assert exiftool_read(photo)["XMP-dc:Subject"] == "Alice" or exiftool_read(photo)["XMP-dc:Subject"] == ["Alice"]
