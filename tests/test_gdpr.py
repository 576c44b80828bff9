"""GDPR erasure and access against a real MariaDB and, when exiftool is there, the photos' metadata:
``forget`` leaves no trace in sidecars, photos or tables, and the faces are not guessed again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from facesidecar.adapters.exiftool.record import claim_names, claimed, files_of, new_record
from facesidecar.adapters.mysql.mirror import Mirror
from facesidecar.compose import assemble_scanner
from facesidecar.gdpr import ERASURE_LOG, export_person, forget_person, forget_photo, name_sha256, without_names
from facesidecar.model import encoding_to_plain
from facesidecar.scan import Scanner
from facesidecar.store.folder import FolderStore
from facesidecar.store.merge import set_name
from tests.dbhelpers import (  # noqa: F401 - fixtures
    PEOPLE,
    all_table_bytes,
    mariadb_server_fixture,
    mysql_db_fixture,
    query,
    scan_settings,
)
from tests.fake_engine import COLOUR_MODEL, FakeEngine
from tests.photos import make_photo

NAME = "Zoë Ålander"
OTHER = "Bob"
HAS_EXIFTOOL = shutil.which("exiftool") is not None


def metadata_writer(settings):
    """The real exiftool adapter when exiftool is installed (then metadata is checked too)."""
    if not HAS_EXIFTOOL:
        return None
    from facesidecar.adapters.exiftool.process import ExifTool
    from facesidecar.adapters.exiftool.writer import MetadataWriter

    return MetadataWriter(ExifTool(), settings.metadata)


def build(tmp_path: Path, mysql) -> tuple[Path, Scanner]:
    root = tmp_path / "photos"
    make_photo(root / "a" / "one.png", PEOPLE["red"], PEOPLE["green"])
    make_photo(root / "a" / "two.png", PEOPLE["red"])
    make_photo(root / "b" / "three.png", PEOPLE["blue"], PEOPLE["red"])
    make_photo(root / "b" / "four.png", PEOPLE["gold"])
    make_photo(root / "b" / "tagged.png", PEOPLE["red"])
    if HAS_EXIFTOOL:  # another tool already put the person into this photo's metadata
        subprocess.run(["exiftool", "-q", "-overwrite_original", f"-XMP-iptcExt:PersonInImage={NAME}",
                        f"-XMP-dc:Subject={NAME}", str(root / "b" / "tagged.png")], check=True)
    settings = scan_settings(root, mysql, metadata=HAS_EXIFTOOL)
    settings.metadata.import_existing = False
    mirror = Mirror(mysql, outbox_dir=settings.state_path()) if mysql is not None else None
    scanner = assemble_scanner(settings, engine=FakeEngine(), metadata=metadata_writer(settings), mirror=mirror)
    scanner.scan_paths([root])
    return root, scanner


def name(scanner: Scanner, photo: Path, face_nr: int, who: str) -> None:
    def change(txn):
        state = txn.state.photos[photo.name]
        named = set_name(state, state.visible_faces[face_nr - 1], who, "cli", txn.now)
        if named:
            txn.changes.append(named)

    scanner.update_folder(photo.parent, change)
    scanner.refresh()
    if scanner.mirror is not None:
        scanner.mirror.flush()


def sidecar_bytes(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("faces.*"))}


def exiftool_text(photo: Path) -> str:
    return subprocess.run(["exiftool", "-a", "-G1", "-s", "-struct", str(photo)], check=True,
                          capture_output=True, text=True).stdout


def person_encodings(root: Path, who: str) -> list[bytes]:
    found = []
    for pkl in root.rglob("faces.pkl"):
        for _, face in FolderStore(pkl.parent).load().faces():
            if who in (face.name, face.guess):
                found += [encoding_to_plain(v) for v in face.encodings.values()]
    return found


@pytest.fixture
def named_library(tmp_path, mysql_db):
    root, scanner = build(tmp_path, mysql_db)
    name(scanner, root / "a" / "one.png", 1, NAME)
    name(scanner, root / "a" / "one.png", 2, OTHER)
    name(scanner, root / "b" / "tagged.png", 1, NAME)
    yield root, scanner
    scanner.close()


def test_a_record_forgets_names_without_a_writer():
    """What the writer recorded (claims included) loses the names when no photo can be cleaned now."""
    record = new_record({"photo": {"XMP-dc:Subject": ["Jack", "Jill"], "regions": ["Jack"]}})
    purged = without_names(claim_names(record, {"Jack"}), {"Jack"})
    assert files_of(purged) == {"photo": {"XMP-dc:Subject": ["Jill"], "regions": []}}
    assert claimed(purged) == [] and "Jack" not in str(purged)


class TestForget:
    def test_leaves_no_trace(self, named_library, mysql_db):
        root, scanner = named_library
        encodings = person_encodings(root, NAME)
        assert len(encodings) == 4  # two confirmed, two guessed red faces
        needle = NAME.encode("utf-8")
        assert any(needle in data for data in sidecar_bytes(root).values())
        assert needle in all_table_bytes(mysql_db)
        if HAS_EXIFTOOL:
            assert NAME in exiftool_text(root / "a" / "one.png")
        csv_before = (root / "a" / "faces.csv").read_bytes()
        # set-aside copies of broken sidecars (store/folder.py) hold the person too
        shutil.copy(root / "a" / "faces.pkl", root / "a" / "faces.pkl.bad-20260101-000000")
        shutil.copy(root / "b" / "faces.csv", root / "b" / "faces.csv.bad-20260101-000000")
        thumbs = scanner.settings.state_path() / "thumbs" / "ab"
        thumbs.mkdir(parents=True)
        (thumbs / "ab12.jpg").write_bytes(b"a face")

        report = forget_person(scanner, scanner.settings.root_paths(), NAME, state_dir=scanner.settings.state_path())
        assert not report.errors and not report.leftovers
        totals = report.totals()
        assert (totals["confirmed"], totals["guessed"], totals["encodings"], totals["set_aside"]) == (2, 2, 4, 2)
        assert not (root / "a" / "faces.pkl.bad-20260101-000000").exists()
        assert report.thumbnails == 1 and not thumbs.exists()
        assert OTHER.encode() in (root / "a" / "faces.csv").read_bytes()
        assert report.database["faces"] == 4 and report.database["people"] == 1

        self.assert_no_trace(root, mysql_db, encodings)
        if HAS_EXIFTOOL:
            assert OTHER in exiftool_text(root / "a" / "one.png")
        assert OTHER.encode() in (root / "a" / "faces.csv").read_bytes()
        assert (OTHER,) in query(mysql_db, "SELECT name FROM people")

        # rescans (also of changed photos) neither encode nor guess those faces again
        for photo in ("one.png", "two.png"):
            path = root / "a" / photo
            os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
        make_photo(root / "b" / "new.png", PEOPLE["green"])
        scanner.scan_paths([root])
        self.assert_no_trace(root, mysql_db, encodings)
        forgotten = [f for _, f in FolderStore(root / "a").load().faces() if f.forgotten]
        assert len(forgotten) == 2 and all(not f.encodings and not f.guess for f in forgotten)

        # a stale copy of faces.csv saved by an editor does not bring the name back
        (root / "a" / "faces.csv").write_bytes(csv_before)
        os.utime(root / "a" / "faces.csv", (1, 1))
        scanner.scan_paths([root])
        self.assert_no_trace(root, mysql_db, encodings)

        # idempotent: the second time there is nothing to find
        again = forget_person(scanner, scanner.settings.root_paths(), NAME, state_dir=scanner.settings.state_path())
        assert not again.found

        log_text = (scanner.settings.state_path() / ERASURE_LOG).read_text()
        entries = [json.loads(line) for line in log_text.splitlines()]
        assert len(entries) == 1 and entries[0]["subject_sha256"] == name_sha256(NAME)
        assert entries[0]["erased"]["encodings"] == 4
        assert NAME not in log_text
        outbox = (scanner.settings.state_path() / "mirror-outbox.sqlite3").read_bytes()
        assert needle not in outbox and not any(e in outbox for e in encodings)

    @staticmethod
    def assert_no_trace(root: Path, mysql, encodings: list[bytes]) -> None:
        needle = NAME.encode("utf-8")
        for path, data in sidecar_bytes(root).items():
            assert needle not in data, path
            for blob in encodings:
                assert blob not in data, f"{path} still holds an encoding of the person"
        tables = all_table_bytes(mysql)
        assert needle not in tables
        assert not any(blob in tables for blob in encodings)
        if HAS_EXIFTOOL:
            for photo in root.rglob("*.png"):
                assert NAME not in exiftool_text(photo), photo
                assert needle not in photo.read_bytes(), photo

    def test_dry_run_lists_and_changes_nothing(self, named_library, mysql_db):
        root, scanner = named_library
        before = sidecar_bytes(root)
        tables = all_table_bytes(mysql_db)
        report = forget_person(scanner, scanner.settings.root_paths(), NAME, dry_run=True)
        assert report.found and report.dry_run
        listed = sorted((f.folder.name, x.file, x.how) for f in report.folders for x in f.faces)
        assert listed == [("a", "one.png", "confirmed"), ("a", "two.png", "guessed"),
                          ("b", "tagged.png", "confirmed"), ("b", "three.png", "guessed")]
        assert report.database["faces"] == 4
        assert sidecar_bytes(root) == before
        assert all_table_bytes(mysql_db) == tables
        assert not (scanner.settings.state_path() / ERASURE_LOG).exists()

    def test_unknown_name_says_nothing_found(self, named_library):
        root, scanner = named_library
        before = sidecar_bytes(root)
        report = forget_person(scanner, scanner.settings.root_paths(), "Nobody Here")
        assert not report.found and sidecar_bytes(root) == before

    def test_database_down_queues_the_erasure(self, named_library, mysql_db):
        root, scanner = named_library
        encodings = person_encodings(root, NAME)
        real_port = mysql_db.port
        mysql_db.port = 1  # nobody listens there
        scanner.mirror._drop_connection()
        report = forget_person(scanner, scanner.settings.root_paths(), NAME)
        assert report.database == {"queued": 1}
        assert any("not reachable" in item for item in report.leftovers)
        outbox = (scanner.settings.state_path() / "mirror-outbox.sqlite3").read_bytes()
        assert NAME.encode() not in outbox
        mysql_db.port = real_port
        assert not scanner.mirror.flush(force=True).unreachable
        TestForget.assert_no_trace(root, mysql_db, encodings)

    def test_forget_photo(self, named_library, mysql_db):
        root, scanner = named_library
        photo = root / "a" / "one.png"
        ids = {f.face_id for f in FolderStore(photo.parent).load().photos["one.png"].faces}
        report = forget_photo(scanner, photo, state_dir=scanner.settings.state_path())
        assert report.totals()["confirmed"] == 2 and not report.errors
        state = FolderStore(photo.parent).load().photos["one.png"]
        assert all(f.forgotten and not f.encodings and not f.name for f in state.faces)
        assert "one.png" not in (root / "a" / "faces.csv").read_text()
        if HAS_EXIFTOOL:
            text = exiftool_text(photo)
            assert NAME not in text and OTHER not in text
        rows = query(mysql_db, "SELECT face_id FROM faces")
        assert not ids & {r[0] for r in rows}
        assert not forget_photo(scanner, photo).found


class TestExport:
    def test_everything_about_the_person(self, named_library, mysql_db):
        root, scanner = named_library
        data = export_person(scanner.settings.root_paths(), NAME, scanner.settings.exclude, scanner.mirror)
        json.dumps(data)
        assert data["person"] == NAME
        faces = sorted((f["file"], f["how"]) for f in data["faces"])
        assert faces == [("one.png", "confirmed"), ("tagged.png", "confirmed"), ("three.png", "guessed"),
                         ("two.png", "guessed")]
        red = FakeEngine().vector_of(PEOPLE["red"])
        for face in data["faces"]:
            assert set(face["box"]) == {"x", "y", "w", "h"}
            assert face["encodings"][COLOUR_MODEL]["values"] == pytest.approx(list(red))
            assert face["photo"]["sha256"]
        assert face["photo"]["scanned_at"]
        db = data["database"]
        assert [p["name"] for p in db["people"]] == [NAME]
        assert len(db["faces"]) == 4 and len(db["encodings"]) == 4
        assert OTHER not in json.dumps(db)

    def test_without_database(self, tmp_path):
        root, scanner = build(tmp_path, None)
        name(scanner, root / "a" / "one.png", 1, NAME)
        data = export_person(scanner.settings.root_paths(), NAME, scanner.settings.exclude)
        assert len(data["faces"]) == 4 and "database" not in data
        report = forget_person(scanner, scanner.settings.root_paths(), NAME)
        assert report.found and not report.errors
        assert export_person(scanner.settings.root_paths(), NAME, scanner.settings.exclude)["faces"] == []
        scanner.close()
