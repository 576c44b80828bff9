"""The exiftool adapter against the real exiftool: what we write is read back by exiftool itself."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from facesidecar.adapters.exiftool import commit as crash_safe
from facesidecar.adapters.exiftool.process import ExifTool
from facesidecar.adapters.exiftool.writer import MetadataWriter
from facesidecar.config import MetadataSettings
from facesidecar.errors import MetadataError
from facesidecar.model import Box, PersonRegion
from facesidecar.store.folder import folder_lock

from ...photos import make_raw

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")

ALICE = PersonRegion("Alice", Box(0.1, 0.2, 0.2, 0.25))
BOB = PersonRegion("Smith, John", Box(0.6, 0.1, 0.15, 0.2))
ZOE = PersonRegion("Zoë Ñúñez", Box(0.3, 0.6, 0.1, 0.15))
BRUCE = PersonRegion("李小龍", Box(0.75, 0.6, 0.12, 0.18))
NASTY = PersonRegion('O\'Brien "Bob" {x}, [y] | z', Box(0.45, 0.35, 0.1, 0.1))
JOINED = PersonRegion("مهر\u200cآسا 👩\u200d👧", Box(0.05, 0.75, 0.1, 0.1))
"""Joiners (ZWNJ in Persian names, ZWJ in emoji sequences) must survive every write and read (issue 13, rule 6)."""
STORED = (300, 200)


@pytest.fixture
def writer(exiftool):
    return MetadataWriter(exiftool, MetadataSettings())


def make_photo(path: Path, orientation: int = 1, size: tuple[int, int] = STORED, fmt: str | None = None) -> Path:
    """A photo with noise pixels and an EXIF orientation (``size`` is the stored size)."""
    if path.suffix.lower() in (".heic", ".heif"):
        import pillow_heif

        pillow_heif.register_heif_opener()
    pixels = np.random.default_rng(7).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, fmt, exif=exif)
    return path


def run_exiftool(*args: str) -> None:
    subprocess.run(["exiftool", "-q", "-overwrite_original", *args], check=True)


def exiftool_json(path: Path) -> dict:
    """What a person running plain exiftool sees (default UTF-8 decoding, print conversion)."""
    out = subprocess.run(["exiftool", "-j", "-struct", "-G1", "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject",
                          "-XMP-iptcExt:PersonInImage", "-XMP-mwg-rs:RegionInfo", "-IPTC:Keywords",
                          "-IPTC:CodedCharacterSet", str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def region_names(data: dict) -> list[str]:
    return [r.get("Name") for r in as_list(data.get("XMP-mwg-rs:RegionInfo", {}).get("RegionList"))]


def ours(record: dict) -> dict:
    """The part of a sync record about the photo file itself."""
    return record["files"]["photo"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def close(a: Box, b: Box, tol: float = 0.01) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(a.to_plain(), b.to_plain(), strict=True))


# -- writing ------------------------------------------------------------------------------------
def test_every_tag_written(writer, tmp_path):
    photo = make_photo(tmp_path / "a.jpg")
    record = writer.sync(photo, [ALICE, BOB], 1, STORED, {})
    data = exiftool_json(photo)
    assert data["XMP-dc:Subject"] == ["Alice", "Smith, John"]
    assert data["XMP-lr:HierarchicalSubject"] == ["People|Alice", "People|Smith, John"]
    assert data["XMP-iptcExt:PersonInImage"] == ["Alice", "Smith, John"]
    assert "IPTC:Keywords" not in data  # the photo had no IPTC: none is added
    info = data["XMP-mwg-rs:RegionInfo"]
    assert info["AppliedToDimensions"] == {"W": 300, "H": 200, "Unit": "pixel"}
    first = info["RegionList"][0]
    assert first["Name"] == "Alice" and first["Type"] == "Face"
    assert first["Area"] == {"X": 0.2, "Y": 0.325, "W": 0.2, "H": 0.25, "Unit": "normalized"}
    assert json.loads(json.dumps(record)) == record  # plain data only
    assert ours(record)["regions"] == ["Alice", "Smith, John"]


def test_iptc_only_where_present_and_utf8(writer, tmp_path):
    photo = make_photo(tmp_path / "a.jpg")
    run_exiftool("-IPTC:Keywords=Holiday", str(photo))
    writer.sync(photo, [ZOE, BRUCE], 1, STORED, {})
    data = exiftool_json(photo)
    assert data["IPTC:Keywords"] == ["Holiday", "Zoë Ñúñez", "李小龍"]
    assert data["IPTC:CodedCharacterSet"] == "UTF8"
    assert data["XMP-dc:Subject"] == ["Zoë Ñúñez", "李小龍"]
    assert region_names(data) == ["Zoë Ñúñez", "李小龍"]


def test_iptc_digest_stays_current(writer, tmp_path):
    """Lightroom/Photoshop warn "XMP may be out of sync" when IPTCDigest no longer matches IPTC."""
    photo = make_photo(tmp_path / "a.jpg")
    run_exiftool("-IPTC:Keywords=Holiday", "-Photoshop:IPTCDigest=new", str(photo))
    record = writer.sync(photo, [ZOE], 1, STORED, {})
    for _ in range(2):
        out = subprocess.run(["exiftool", "-s3", "-IPTCDigest", "-CurrentIPTCDigest", str(photo)],
                             capture_output=True, text=True, check=True).stdout.split()
        assert len(out) == 2 and out[0] == out[1]
        record = writer.sync(photo, [], 1, STORED, record)


def test_latin1_iptc_is_reencoded_not_garbled(writer, tmp_path):
    photo = make_photo(tmp_path / "a.jpg")
    run_exiftool("-IPTC:Keywords=Café", "-IPTC:Caption-Abstract=Crème brûlée", str(photo))  # Latin-1, no charset
    record = writer.sync(photo, [BRUCE], 1, STORED, {})
    data = exiftool_json(photo)
    assert data["IPTC:Keywords"] == ["Café", "李小龍"] and data["IPTC:CodedCharacterSet"] == "UTF8"
    out = subprocess.run(["exiftool", "-s3", "-IPTC:Caption-Abstract", str(photo)], capture_output=True, text=True)
    assert out.stdout.strip() == "Crème brûlée"
    writer.sync(photo, [], 1, STORED, record)
    assert as_list(exiftool_json(photo)["IPTC:Keywords"]) == ["Café"]


def test_hierarchy_prefix_and_switches(exiftool, tmp_path):
    photo = make_photo(tmp_path / "a.jpg")
    MetadataWriter(exiftool, MetadataSettings(hierarchy_prefix="Family|Friends")).sync(photo, [ALICE], 1, STORED, {})
    assert exiftool_json(photo)["XMP-lr:HierarchicalSubject"] == ["Family|Friends|Alice"]

    only_regions = make_photo(tmp_path / "b.jpg")
    MetadataWriter(exiftool, MetadataSettings(keywords=False)).sync(only_regions, [ALICE], 1, STORED, {})
    data = exiftool_json(only_regions)
    assert "XMP-dc:Subject" not in data and region_names(data) == ["Alice"]

    only_keywords = make_photo(tmp_path / "c.jpg")
    MetadataWriter(exiftool, MetadataSettings(regions=False)).sync(only_keywords, [ALICE], 1, STORED, {})
    data = exiftool_json(only_keywords)
    assert data["XMP-dc:Subject"] == ["Alice"] and "XMP-mwg-rs:RegionInfo" not in data


def test_awkward_names_round_trip(writer, tmp_path):
    photo = make_photo(tmp_path / "a.jpg")
    run_exiftool("-IPTC:Keywords=x", str(photo))
    people = [BOB, ZOE, BRUCE, NASTY, JOINED]
    record = writer.sync(photo, people, 1, STORED, {})
    data = exiftool_json(photo)
    names = [p.name for p in people]
    for tag in ("XMP-dc:Subject", "XMP-iptcExt:PersonInImage"):
        assert data[tag] == names
    assert data["IPTC:Keywords"] == ["x", *names]
    assert region_names(data) == names
    assert [p.name for p in writer.read_people(photo, 1, STORED)] == names
    before = sha(photo)
    writer.sync(photo, people, 1, STORED, record)
    assert sha(photo) == before


# -- orientation --------------------------------------------------------------------------------
def displayed_box_via_pillow(photo: Path, area: dict) -> Box:
    """Paint an MWG area on the stored pixels of ``photo`` and let Pillow rotate it for display."""
    with Image.open(photo) as image:
        width, height = image.size
        exif = image.getexif()
    mask = np.zeros((height, width), dtype=np.uint8)
    left, top = round((area["X"] - area["W"] / 2) * width), round((area["Y"] - area["H"] / 2) * height)
    mask[top:top + round(area["H"] * height), left:left + round(area["W"] * width)] = 255
    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, "PNG", exif=exif)
    shown = np.asarray(ImageOps.exif_transpose(Image.open(buffer)))
    rows, cols = np.nonzero(shown > 127)
    dh, dw = shown.shape
    return Box(cols.min() / dw, rows.min() / dh, (cols.max() + 1 - cols.min()) / dw, (rows.max() + 1 - rows.min()) / dh)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_region_boxes_for_every_orientation(writer, tmp_path, orientation):
    photo = make_photo(tmp_path / f"o{orientation}.jpg", orientation)
    people = [ALICE, BOB]
    writer.sync(photo, people, orientation, STORED, {})
    read = writer.read_people(photo, orientation, STORED)
    assert [p.name for p in read] == [p.name for p in people]
    for got, want in zip(read, people, strict=True):
        assert close(got.box, want.box), (got, want)
    regions = exiftool_json(photo)["XMP-mwg-rs:RegionInfo"]["RegionList"]
    for region, want in zip(regions, people, strict=True):
        assert close(displayed_box_via_pillow(photo, region["Area"]), want.box), (region, want)


# -- withdrawal and idempotence -----------------------------------------------------------------
OTHER_REGION = ("-XMP-mwg-rs:RegionInfo={AppliedToDimensions={W=300,H=200,Unit=pixel},RegionList=[{Area={X=0.5,"
                "Y=0.5,W=0.1,H=0.1,Unit=normalized},Name=Other Person,Type=Face}]}")


def test_withdrawal_keeps_what_others_wrote(writer, tmp_path):
    photo = make_photo(tmp_path / "a.jpg")
    run_exiftool("-XMP-dc:Subject=Holiday", "-IPTC:Keywords=Holiday", "-XMP-lr:HierarchicalSubject=Places|Rome",
                 OTHER_REGION, str(photo))
    record = writer.sync(photo, [ALICE, BOB], 1, STORED, {})
    assert region_names(exiftool_json(photo)) == ["Other Person", "Alice", "Smith, John"]

    record = writer.sync(photo, [ALICE], 1, STORED, record)
    data = exiftool_json(photo)
    assert data["XMP-dc:Subject"] == ["Holiday", "Alice"]
    assert data["IPTC:Keywords"] == ["Holiday", "Alice"]
    assert data["XMP-lr:HierarchicalSubject"] == ["Places|Rome", "People|Alice"]
    assert as_list(data["XMP-iptcExt:PersonInImage"]) == ["Alice"]
    assert region_names(data) == ["Other Person", "Alice"]

    writer.sync(photo, [], 1, STORED, record)
    data = exiftool_json(photo)
    assert as_list(data.get("XMP-dc:Subject")) == ["Holiday"]
    assert as_list(data.get("IPTC:Keywords")) == ["Holiday"]
    assert as_list(data.get("XMP-lr:HierarchicalSubject")) == ["Places|Rome"]
    assert "XMP-iptcExt:PersonInImage" not in data
    assert region_names(data) == ["Other Person"]


def test_moved_box_replaces_our_region(writer, tmp_path):
    photo = make_photo(tmp_path / "a.jpg")
    record = writer.sync(photo, [ALICE], 1, STORED, {})
    moved = PersonRegion("Alice", Box(0.6, 0.6, 0.2, 0.2))
    writer.sync(photo, [moved], 1, STORED, record)
    (read,) = writer.read_people(photo, 1, STORED)
    assert close(read.box, moved.box)


def test_second_sync_writes_nothing(exiftool, tmp_path):
    writer = MetadataWriter(exiftool, MetadataSettings(preserve_mtime=True))
    photo = make_photo(tmp_path / "a.jpg")
    old = time.time() - 86400
    os.utime(photo, (old, old))
    before = photo.stat()
    record = writer.sync(photo, [ALICE, ZOE], 6, STORED, {})
    after = photo.stat()
    assert after.st_mtime_ns == before.st_mtime_ns  # preserve_mtime
    assert after.st_ino == before.st_ino
    digest = sha(photo)
    again = writer.sync(photo, [ALICE, ZOE], 6, STORED, record)
    assert again == record and sha(photo) == digest and photo.stat().st_mtime_ns == after.st_mtime_ns
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_mtime_changes_by_default(writer, tmp_path):
    """A file we changed is a changed file: catalogs (Immich, digiKam, PhotoPrism) rescan by mtime."""
    photo = make_photo(tmp_path / "a.jpg")
    os.utime(photo, (1, 1))
    writer.sync(photo, [ALICE], 1, STORED, {})
    assert photo.stat().st_mtime > 1


def test_hard_links_survive_and_symlinks_are_never_written_through(writer, tmp_path):
    photo = make_photo(tmp_path / "a.jpg")
    link = tmp_path / "hard.jpg"
    os.link(photo, link)
    writer.sync(link, [ALICE], 1, STORED, {})
    assert photo.stat().st_ino == link.stat().st_ino and photo.stat().st_nlink == 2
    assert as_list(exiftool_json(photo)["XMP-dc:Subject"]) == ["Alice"]
    symlink = tmp_path / "sym.jpg"
    symlink.symlink_to(photo.name)
    digest = sha(photo)
    with pytest.raises(MetadataError, match=r"sym\.jpg: is a symbolic link"):
        writer.sync(symlink, [BOB], 1, STORED, {})
    assert symlink.is_symlink() and sha(photo) == digest


# -- import ---------------------------------------------------------------------------------------
def test_import_digikam_and_mp_regions(writer, tmp_path):
    photo = make_photo(tmp_path / "a.jpg", orientation=6)
    run_exiftool(
        "-XMP-mwg-rs:RegionInfo={AppliedToDimensions={W=300,H=200,Unit=pixel},RegionList=["
        "{Area={X=0.25,Y=0.5,W=0.1,H=0.2,Unit=normalized},Name=Zoë Ñúñez,Type=Face},"
        "{Area={X=0.7,Y=0.3,W=0.1,H=0.1,Unit=normalized},Name=Ball,Type=Pet},"
        "{Area={X=0.7,Y=0.7,W=0.1,H=0.1,Unit=normalized},Type=Face}]}",
        "-XMP-MP:RegionInfoMP={Regions=[{PersonDisplayName=Smith|, John,Rectangle=0.6|, 0.1|, 0.2|, 0.3},"
        "{PersonDisplayName=Zoë Ñúñez,Rectangle=0.2|, 0.4|, 0.1|, 0.2}]}",
        str(photo),
    )
    people = writer.read_people(photo, 6, STORED)
    assert [p.name for p in people] == ["Zoë Ñúñez", "Smith, John"]  # the MP copy of Zoë counts once
    # stored centre (0.25, 0.5), 0.1 x 0.2 -> displayed (orientation 6: x = 1 - v, y = u)
    assert close(people[0].box, Box(0.4, 0.2, 0.2, 0.1))
    assert close(people[1].box, Box(0.6, 0.6, 0.3, 0.2))


def test_adopts_an_existing_region_of_the_same_person(writer, tmp_path):
    photo = make_photo(tmp_path / "a.jpg")
    run_exiftool("-XMP-mwg-rs:RegionInfo={AppliedToDimensions={W=300,H=200,Unit=pixel},RegionList=["
                 "{Area={X=0.21,Y=0.33,W=0.2,H=0.24,Unit=normalized},Name=Alice,Type=Face}]}", str(photo))
    record = writer.sync(photo, [ALICE], 1, STORED, {})
    assert region_names(exiftool_json(photo)) == ["Alice"]
    writer.sync(photo, [], 1, STORED, record)
    assert "XMP-mwg-rs:RegionInfo" not in exiftool_json(photo)


# -- formats ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["a.png", "a.tif", "a.heic"])
def test_other_formats(writer, tmp_path, name):
    photo = make_photo(tmp_path / name, orientation=1)
    record = writer.sync(photo, [ALICE, BRUCE], 1, STORED, {})
    assert [p.name for p in writer.read_people(photo, 1, STORED)] == ["Alice", "李小龍"]
    assert exiftool_json(photo)["XMP-dc:Subject"] == ["Alice", "李小龍"]
    if photo.suffix == ".heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
    with Image.open(photo) as image:
        image.load()
    digest = sha(photo)
    writer.sync(photo, [ALICE, BRUCE], 1, STORED, record)
    assert sha(photo) == digest


def test_raw_gets_a_sidecar_and_a_preview(writer, tmp_path):
    raw = make_raw(tmp_path / "r.arw", Image.new("RGB", (48, 64), "green"), 6)
    digest = sha(raw)
    preview = writer.raw_preview(raw)
    assert preview.startswith(b"\xff\xd8") and Image.open(io.BytesIO(preview)).size == (64, 48)
    record = writer.sync(raw, [ALICE], 6, (64, 48), {})
    sidecar = tmp_path / "r.arw.xmp"
    assert sha(raw) == digest and sidecar.is_file() and list(record["files"]) == ["IMG_1.CR2.xmp"]
    applied = exiftool_json(sidecar)["XMP-mwg-rs:RegionInfo"]["AppliedToDimensions"]
    assert applied == {"W": 128, "H": 96, "Unit": "pixel"}, "the RAW's own size, not its preview's"
    assert as_list(exiftool_json(sidecar)["XMP-dc:Subject"]) == ["Alice"]
    (read,) = writer.read_people(raw, 6, (64, 48))
    assert read.name == "Alice" and close(read.box, ALICE.box)
    writer.sync(raw, [ALICE, ZOE], 6, (64, 48), record)
    assert sha(raw) == digest and exiftool_json(sidecar)["XMP-dc:Subject"] == ["Alice", "Zoë Ñúñez"]


def test_raw_without_preview(writer, tmp_path):
    # a JPEG renamed .dng: exiftool reads it, but there is no embedded preview
    fake = make_photo(tmp_path / "fake.dng", fmt="JPEG")
    with pytest.raises(MetadataError, match="fake.dng.*no embedded JPEG preview"):
        writer.raw_preview(fake)


# -- failures ------------------------------------------------------------------------------------
def test_read_only_file_and_folder(writer, tmp_path):
    photo = make_photo(tmp_path / "a.jpg")
    digest = sha(photo)
    photo.chmod(0o444)
    with pytest.raises(MetadataError, match="a.jpg: the file is read-only"):
        writer.sync(photo, [ALICE], 1, STORED, {})
    assert sha(photo) == digest
    photo.chmod(0o644)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(MetadataError, match="folder .* is read-only"):
            writer.sync(photo, [ALICE], 1, STORED, {})
    finally:
        tmp_path.chmod(0o755)
    assert sha(photo) == digest


def test_broken_photo_is_left_alone(writer, tmp_path):
    photo = make_photo(tmp_path / "a.jpg")
    photo.write_bytes(photo.read_bytes()[:300])  # cut inside the header
    digest = sha(photo)
    with pytest.raises(MetadataError, match="a.jpg"):
        writer.sync(photo, [ALICE], 1, STORED, {})
    assert sha(photo) == digest
    assert [p.name for p in tmp_path.iterdir()] == ["a.jpg"]


def half_copy_then_die(commit: Path, target: Path) -> None:
    data = commit.read_bytes()
    with open(target, "r+b") as out:
        out.write(data[: len(data) // 2])
    raise KeyboardInterrupt  # the process dies in the middle of the copy


@pytest.mark.parametrize("finisher", ["sync", "folder"])
def test_interrupted_commit_is_finished(exiftool, tmp_path, monkeypatch, finisher):
    writer = MetadataWriter(exiftool, MetadataSettings(preserve_mtime=True))
    photo = make_photo(tmp_path / "a.jpg")
    os.utime(photo, ns=(10**18, 10**18))
    monkeypatch.setattr(crash_safe, "_copy_in_place", half_copy_then_die)
    with pytest.raises(KeyboardInterrupt):
        writer.sync(photo, [ALICE], 1, STORED, {})
    monkeypatch.undo()
    assert (tmp_path / ".a.jpg.facesidecar-commit").exists()
    if finisher == "folder":
        assert crash_safe.finish_interrupted_writes(tmp_path) == [photo]
    record = writer.sync(photo, [ALICE], 1, STORED, {})  # finishes the copy, then has nothing to do
    assert as_list(exiftool_json(photo)["XMP-dc:Subject"]) == ["Alice"] and ours(record)["regions"] == ["Alice"]
    assert photo.stat().st_mtime_ns == 10**18  # the original time, not the crash's
    with Image.open(photo) as image:
        image.load()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_a_write_in_progress_is_left_to_its_writer(writer, tmp_path, monkeypatch):
    """Another process's scan finishes the writes a crash left in the folder while ``facesidecar
    name`` writes a photo's names inside the folder's transaction: it waits for that transaction
    instead of taking the copy exiftool has just written for a crash's and removing it (issue 20,
    seed 1 round 814: the daemon's catch-up did that, the name command failed with 'exiftool did
    not store anything as asked' although faces.csv had the name)."""
    photo = make_photo(tmp_path / "a.jpg")
    run_exiftool_as_usual = MetadataWriter._run_exiftool
    other_scan: list[threading.Thread] = []

    def copy_written_then_other_scan_plans(self, plan, tmp, target):
        run_exiftool_as_usual(self, plan, tmp, target)
        # a thread stands for the other process: flock keeps separate opens of the folder apart
        other_scan.append(threading.Thread(target=crash_safe.finish_interrupted_writes, args=(tmp_path,)))
        other_scan[0].start()
        other_scan[0].join(timeout=1.0)  # enough to remove the copy; with the lock it waits instead

    monkeypatch.setattr(MetadataWriter, "_run_exiftool", copy_written_then_other_scan_plans)
    with folder_lock(tmp_path):  # every metadata write runs inside its folder's transaction
        record = writer.sync(photo, [ALICE], 1, STORED, {})
    other_scan[0].join()
    assert as_list(exiftool_json(photo)["XMP-dc:Subject"]) == ["Alice"] and ours(record)["regions"] == ["Alice"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_full_disk_leaves_photo_unchanged(writer, tmp_path, monkeypatch):
    photo = make_photo(tmp_path / "a.jpg")
    before, digest = photo.stat(), sha(photo)

    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(crash_safe.os, "posix_fallocate", no_space)
    with pytest.raises(MetadataError, match="a.jpg: no room to add the names"):
        writer.sync(photo, [ALICE], 1, STORED, {})
    assert sha(photo) == digest and photo.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_killed_exiftool_leaves_photo_whole_and_restarts(tmp_path):
    """Kill exiftool while it writes (its temp file exists): the photo is old or new, never half."""
    photo = make_photo(tmp_path / "big.tif", size=(2500, 2000))  # 15 MB: writing takes a while
    original = sha(photo)
    def copy_started() -> bool:  # exiftool's hidden copy has a random name: .big.tif.facesidecar-tmp-<hex>
        return any(tmp_path.glob(".big.tif.facesidecar-tmp*"))
    with ExifTool() as tool:
        writer = MetadataWriter(tool, MetadataSettings())
        tool.version()
        first_pid = tool.pid
        outcome: list[object] = []

        def run() -> None:
            try:
                outcome.append(writer.sync(photo, [ALICE], 1, (2500, 2000), {}))
            except MetadataError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 10
        while not copy_started() and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.0005)
        os.kill(first_pid, signal.SIGKILL)
        thread.join(timeout=30)
        assert not thread.is_alive()
        if isinstance(outcome[0], MetadataError):
            assert sha(photo) == original
            assert "big.tif" in str(outcome[0])
        record = writer.sync(photo, [ALICE], 1, (2500, 2000), {})  # a fresh exiftool does the job
        assert tool.pid not in (None, first_pid)
    assert ours(record)["regions"] == ["Alice"]
    assert as_list(exiftool_json(photo)["XMP-dc:Subject"]) == ["Alice"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tif"]
