"""The MySQL/MariaDB mirror against a real MariaDB: equality with the sidecars after scans, edits
and moves, outages, shared gallery."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from facesidecar.adapters.mysql.mirror import Mirror
from facesidecar.cli.db import db_check, db_sync
from facesidecar.compose import assemble_scanner
from facesidecar.errors import MirrorError
from facesidecar.model import encoding_to_plain
from facesidecar.progress import Progress
from facesidecar.scan import Scanner
from facesidecar.store.folder import FolderStore
from facesidecar.store.merge import set_name
from tests.dbhelpers import (  # noqa: F401 - fixtures
    PEOPLE,
    PrivateMariaDB,
    Proxy,
    mariadb_server_fixture,
    mysql_db_fixture,
    query,
    scan_settings,
)
from tests.fake_engine import COLOUR_MODEL, FakeEngine
from tests.photos import make_photo


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def library(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    make_photo(root / "a" / "one.png", PEOPLE["red"], PEOPLE["green"])
    make_photo(root / "a" / "two.png", PEOPLE["red"])
    make_photo(root / "b" / "three.png", PEOPLE["blue"], PEOPLE["red"])
    return root


def scanner_with_mirror(root: Path, mysql, **kwargs) -> tuple[Scanner, Mirror]:
    settings = scan_settings(root, mysql)
    mirror = Mirror(mysql, outbox_dir=settings.state_path(), **kwargs)
    return assemble_scanner(settings, engine=FakeEngine(), mirror=mirror), mirror


def name_face(scanner: Scanner, photo: Path, face_nr: int, name: str) -> None:
    def change(txn):
        state = txn.state.photos[photo.name]
        face = state.visible_faces[face_nr - 1]
        change = set_name(state, face, name, "cli", txn.now)
        if change:
            txn.changes.append(change)

    scanner.update_folder(photo.parent, change)
    scanner.refresh()
    scanner.mirror.flush()


def assert_clean(scanner: Scanner, mirror: Mirror) -> None:
    result = db_check(scanner.settings, mirror)
    assert result.clean, result.differences[:10]
    assert result.pending == 0


class TestMirrorEqualsSidecars:
    def test_after_scan(self, tmp_path, mysql_db):
        root = library(tmp_path)
        scanner, mirror = scanner_with_mirror(root, mysql_db)
        scanner.scan_paths([root])
        assert_clean(scanner, mirror)
        assert query(mysql_db, "SELECT COUNT(*) FROM faces") == [(5,)]
        blobs = {bytes(b) for (b,) in query(mysql_db, "SELECT encoding FROM face_encodings")}
        assert encoding_to_plain(FakeEngine().vector_of(PEOPLE["red"])) in blobs
        dims = query(mysql_db, "SELECT DISTINCT model, dimension FROM face_encodings")
        assert dims == [(COLOUR_MODEL, len(FakeEngine().vector_of(PEOPLE["red"])))]
        state = FolderStore(root / "a").load()
        ids = {f.face_id for _, f in state.faces()}
        assert ids <= {fid for (fid,) in query(mysql_db, "SELECT face_id FROM faces")}
        scanner.close()

    def test_after_edits_and_moves_and_removals(self, tmp_path, mysql_db):
        root = library(tmp_path)
        scanner, mirror = scanner_with_mirror(root, mysql_db)
        scanner.scan_paths([root])
        name_face(scanner, root / "a" / "one.png", 1, "Zoë Ålander")
        assert_clean(scanner, mirror)
        people = query(mysql_db, "SELECT pe.name, n.kind FROM names n JOIN people pe ON pe.id = n.person_id "
                                 "ORDER BY n.kind, pe.name")
        assert ("Zoë Ålander", "confirmed") in people
        assert people.count(("Zoë Ålander", "guess")) == 2  # the other red faces are guessed

        # a person's edit of faces.csv, merged by the next scan
        csv = root / "a" / "faces.csv"
        lines = [line.split(",") for line in csv.read_text(encoding="utf-8").splitlines()]
        header = lines[0]
        row = next(r for r in lines[1:] if r[0] == "one.png" and r[1] == "2")
        row[header.index("name")] = "Bob"
        csv.write_text("\n".join(",".join(r) for r in lines) + "\n", encoding="utf-8")
        os.utime(csv, (1, 1))  # settled
        scanner.scan_paths([root])
        assert ("Bob",) in query(mysql_db, "SELECT name FROM people")
        assert_clean(scanner, mirror)

        # a move to another folder keeps the face ids; the database follows
        before = {f.face_id for f in FolderStore(root / "b").load().photos["three.png"].faces}
        shutil.move(root / "b" / "three.png", root / "a" / "moved.png")
        scanner.scan_paths([root])
        assert_clean(scanner, mirror)
        rows = query(mysql_db, "SELECT f.face_id, p.file FROM faces f JOIN photos p ON p.id = f.photo_id "
                               "WHERE p.file = 'moved.png'")
        assert {fid for fid, _ in rows} == before
        before = {f.face_id for f in FolderStore(root / "a").load().photos["two.png"].faces}
        shutil.move(root / "a" / "two.png", root / "b" / "back.png")  # into a folder processed later
        scanner.scan_paths([root])
        assert_clean(scanner, mirror)
        rows = query(mysql_db, "SELECT f.face_id FROM faces f JOIN photos p ON p.id = f.photo_id "
                               "WHERE p.file = 'back.png'")
        assert {fid for (fid,) in rows} == before
        shutil.move(root / "b" / "back.png", root / "a" / "two.png")
        scanner.scan_paths([root])

        # a removed photo and a removed folder vanish from the database
        (root / "a" / "one.png").unlink()
        shutil.rmtree(root / "b")
        scanner.scan_paths([root])
        db_sync(scanner.settings, mirror)
        assert_clean(scanner, mirror)
        assert sorted(query(mysql_db, "SELECT file FROM photos")) == [("moved.png",), ("two.png",)]
        assert query(mysql_db, "SELECT folder FROM folders") == [(str(root / "a"),)]
        assert query(mysql_db, "SELECT COUNT(*) FROM people") == [(0,)]
        scanner.close()

    def test_push_is_idempotent(self, tmp_path, mysql_db):
        root = library(tmp_path)
        scanner, mirror = scanner_with_mirror(root, mysql_db)
        scanner.scan_paths([root])
        stamps = query(mysql_db, "SELECT face_id, updated_at FROM faces ORDER BY face_id")
        for _ in range(2):
            db_sync(scanner.settings, mirror)
        assert query(mysql_db, "SELECT face_id, updated_at FROM faces ORDER BY face_id") == stamps
        assert_clean(scanner, mirror)
        scanner.close()


class TestOutage:
    def test_scanning_goes_on_and_the_outbox_catches_up(self, tmp_path, mysql_db, caplog):
        proxy = Proxy()
        proxy.start()
        mysql_db.port = proxy.port
        clock = Clock()
        root = library(tmp_path)
        scanner, mirror = scanner_with_mirror(root, mysql_db, clock=clock)
        try:
            scanner.scan_paths([root])
            assert_clean(scanner, mirror)

            proxy.stop()  # the server goes away mid-run: open connections die, new ones are refused
            caplog.set_level(logging.DEBUG, logger="facesidecar.adapters.mysql.mirror")
            make_photo(root / "c" / "four.png", PEOPLE["gold"], PEOPLE["blue"])
            report = scanner.scan_paths([root])
            assert report.scanned == 1 and not report.errors
            name_face(scanner, root / "a" / "two.png", 1, "Anna")
            assert len(mirror.outbox) >= 2
            clock.now += 1000
            make_photo(root / "c" / "five.png", PEOPLE["red"])
            scanner.scan_paths([root])
            warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(warnings) == 1, [r.getMessage() for r in warnings]
            assert "outbox" in warnings[0].getMessage()
            pending = len(mirror.outbox)
            assert pending >= 2

            # the outbox is durable: a new process sees the same folders waiting
            again = Mirror(mysql_db, outbox_dir=scanner.settings.state_path())
            assert len(again.outbox) == pending

            proxy.start()
            clock.now += 1000  # the back-off has passed
            scanner.scan_paths([root])
            assert len(mirror.outbox) == 0
            assert_clean(scanner, mirror)
            assert ("Anna",) in query(mysql_db, "SELECT name FROM people")
        finally:
            scanner.close()
            proxy.stop()

    def test_unreachable_server_never_raises(self, tmp_path, mysql_db):
        mysql_db.port = Proxy().port  # nobody listens there
        root = library(tmp_path)
        scanner, mirror = scanner_with_mirror(root, mysql_db)
        report = scanner.scan_paths([root])
        assert report.scanned == 3 and not report.errors
        assert len(mirror.outbox) == 2
        result = mirror.flush()
        assert result.unreachable and result.pending == 2
        with pytest.raises(MirrorError, match="cannot connect"):
            mirror.connection()
        scanner.close()

    def test_outbox_that_cannot_be_written_falls_back_to_memory(self, tmp_path, mysql_db, caplog):
        blocked = tmp_path / "blocked"
        blocked.write_text("not a folder")
        mirror = Mirror(mysql_db, outbox_dir=blocked)
        mirror.folder_changed(tmp_path / "x", None)
        mirror.folder_changed(tmp_path / "y", None)
        assert len(mirror.outbox) == 2
        assert sum("outbox" in r.getMessage() for r in caplog.records) == 1


class TestRealServerKilled:
    def test_kill_9_mid_scan_and_restart_loses_nothing(self, tmp_path, monkeypatch):
        if not PrivateMariaDB.available():
            pytest.skip("NO MARIADB BINARIES: mariadbd/mariadb-install-db missing; the kill -9 test did NOT run")
        server = PrivateMariaDB(tmp_path / "mariadb")
        server.install()
        server.start()
        monkeypatch.setenv("FACESIDECAR_TEST_EMPTY_PASSWORD", "")
        clock = Clock()
        root = library(tmp_path)
        try:
            mysql = server.settings()
            scanner, mirror = scanner_with_mirror(root, mysql, clock=clock)
            scanner.scan_paths([root])
            assert_clean(scanner, mirror)

            # the server is killed while the next scan runs (at its first photo)
            scanner.progress = Progress("scan", [lambda event, _: server.kill() if event == "photo" else None])
            make_photo(root / "c" / "four.png", PEOPLE["gold"], PEOPLE["blue"])
            make_photo(root / "c" / "five.png", PEOPLE["red"])
            report = scanner.scan_paths([root])
            assert report.scanned == 2 and not report.errors
            scanner.progress = Progress("scan")
            name_face(scanner, root / "a" / "one.png", 2, "Bob")
            assert len(mirror.outbox) >= 2

            server.start()
            clock.now += 1000
            scanner.scan_paths([root])
            assert len(mirror.outbox) == 0
            assert_clean(scanner, mirror)
            assert ("Bob",) in query_port(mysql, "SELECT name FROM people")
            scanner.close()
        finally:
            server.stop()


def query_port(mysql, sql: str) -> list[tuple]:
    import mysql.connector as connector

    conn = connector.connect(host=mysql.host, port=mysql.port, user="root", password="", database=mysql.database,
                             use_pure=True)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        conn.close()


class TestSharedGallery:
    def test_names_from_another_server_make_guesses(self, tmp_path, mysql_db):
        first = tmp_path / "one" / "photos"
        make_photo(first / "x" / "anna.png", PEOPLE["red"])
        scanner_one, _ = scanner_with_mirror(first, mysql_db)
        scanner_one.scan_paths([first])
        name_face(scanner_one, first / "x" / "anna.png", 1, "Anna")
        scanner_one.close()

        second = tmp_path / "two" / "photos"
        make_photo(second / "y" / "who.png", PEOPLE["red"], PEOPLE["blue"])
        alone, _ = scanner_with_mirror(second, mysql_db)
        alone.scan_paths([second])
        assert [f.guess for f in FolderStore(second / "y").load().photos["who.png"].visible_faces] == ["", ""]
        alone.close()

        mysql_db.shared_gallery = True
        shared, mirror = scanner_with_mirror(second, mysql_db)
        shared.scan_paths([second])
        faces = FolderStore(second / "y").load().photos["who.png"].visible_faces
        assert [f.guess for f in faces] == ["Anna", ""]
        assert [n for n, _ in mirror.confirmed_faces(COLOUR_MODEL)] == ["Anna"]
        assert mirror.confirmed_faces("other_model") == []
        shared.close()
