"""naming_commands: the naming commands' work functions, on generated photos with a fake engine.

Photos and engine: ``tests.photos.make_photo`` and ``tests.fake_engine.FakeEngine`` (a "face" is a
solid colored square; colors that differ a little are the same person).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from facesidecar.compose import assemble_scanner
from facesidecar.config import Settings, with_roots
from facesidecar.errors import FacesidecarError
from facesidecar.model import IGNORE
from facesidecar.naming_commands import (
    confirm_guesses,
    enroll,
    list_clusters,
    match_photos,
    name_cluster,
    name_face,
    people_counts,
    rename_person,
    sidecar_folders,
)
from facesidecar.scan import Scanner
from facesidecar.store.csvfile import parse_csv

from .csvedit import rows, type_name
from .fake_engine import FakeEngine
from .photos import ALICE2, ALICE3, BOB, BOB2, CAROL, CAROL2, make_photo, naming_library

pytestmark = pytest.mark.usefixtures("no_settle")


@pytest.fixture
def root(tmp_path) -> Path:
    return naming_library(tmp_path / "photos")


def new_scanner(root: Path, engine: FakeEngine | None = None) -> Scanner:
    settings = with_roots(Settings(), [str(root)])
    settings.metadata.enabled = False
    return assemble_scanner(settings, engine=engine or FakeEngine())


@pytest.fixture
def scanner(root) -> Scanner:
    scanner = new_scanner(root)
    scanner.scan_paths([root])
    return scanner


def folders(scanner: Scanner) -> list[Path]:
    return sidecar_folders(scanner.settings.root_paths(), [])


class TestName:
    def test_name_sets_the_name_and_guesses_follow_everywhere(self, scanner, root):
        named = name_face(scanner, root / "a" / "alice1.png", 1, "Alice")
        assert (named.old, named.new, named.face_nr) == ("", "Alice", 1)
        assert rows(root / "a")[("alice1.png", 1)]["name"] == "Alice"
        assert rows(root / "a")[("both.png", 1)]["guess"] == "Alice"
        assert rows(root / "b")[("alice2.png", 1)]["guess"] == "Alice"
        assert rows(root / "b")[("carol.png", 1)]["guess"] == ""

    def test_a_cli_name_is_a_person_edit_like_the_csv(self, scanner, root):
        name_face(scanner, root / "a" / "alice1.png", 1, "Alice")
        state_rows = parse_csv((root / "a" / "faces.csv").read_bytes())
        assert [r.name for r in state_rows if r.file == "alice1.png"] == ["Alice"]
        scanner2 = new_scanner(root)
        scanner2.scan_paths([root])
        assert rows(root / "a")[("alice1.png", 1)]["name"] == "Alice"

    def test_clear_and_ignore(self, scanner, root):
        name_face(scanner, root / "a" / "alice1.png", 1, "Alice")
        cleared = name_face(scanner, root / "a" / "alice1.png", 1, "")
        assert (cleared.old, cleared.new) == ("Alice", "")
        assert rows(root / "a")[("alice1.png", 1)]["name"] == ""
        assert rows(root / "b")[("alice2.png", 1)]["guess"] == ""
        name_face(scanner, root / "a" / "alice1.png", 1, "ignore")
        assert rows(root / "a")[("alice1.png", 1)]["name"] == IGNORE
        assert rows(root / "a")[("both.png", 1)]["guess"] == ""

    def test_names_are_normalised_and_checked(self, scanner, root):
        assert name_face(scanner, root / "a" / "alice1.png", 1, "  Alice   Smith ").new == "Alice Smith"
        with pytest.raises(FacesidecarError, match="cannot contain the control character U\\+001B"):
            name_face(scanner, root / "a" / "alice1.png", 1, "Alice\x1b[8m")

    def test_clear_errors(self, scanner, root):
        with pytest.raises(FacesidecarError, match="no photo .*nope.png"):
            name_face(scanner, root / "a" / "nope.png", 1, "X")
        with pytest.raises(FacesidecarError, match="both.png has 2 faces, face 3 does not exist"):
            name_face(scanner, root / "a" / "both.png", 3, "X")
        with pytest.raises(FacesidecarError, match="face 0 does not exist"):
            name_face(scanner, root / "a" / "both.png", 0, "X")
        make_photo(root / "a" / "new.png", (BOB, 40))
        with pytest.raises(FacesidecarError, match="not been scanned yet: run 'facesidecar scan"):
            name_face(scanner, root / "a" / "new.png", 1, "Bob")
        (root / "a" / "empty.png").write_bytes((root / "a" / "new.png").read_bytes())
        Image.new("RGB", (50, 50)).save(root / "a" / "blank.png")
        scanner.scan_paths([root / "a"])
        with pytest.raises(FacesidecarError, match="blank.png has no faces"):
            name_face(scanner, root / "a" / "blank.png", 1, "X")

    def test_error_leaves_the_folder_untouched(self, scanner, root):
        before = (root / "a" / "faces.csv").read_bytes()
        with pytest.raises(FacesidecarError):
            name_face(scanner, root / "a" / "both.png", 5, "X")
        assert (root / "a" / "faces.csv").read_bytes() == before


class TestConfirmedNamesBelongToPeople:
    def test_scans_and_refresh_never_change_a_confirmed_name(self, scanner, root):
        # Alice is confirmed twice; then a person insists the Alice-like face in both.png is "Eve".
        name_face(scanner, root / "a" / "alice1.png", 1, "Alice")
        name_face(scanner, root / "b" / "alice2.png", 1, "Alice")
        assert rows(root / "a")[("both.png", 1)]["guess"] == "Alice"
        name_face(scanner, root / "a" / "both.png", 1, "Eve")
        # the model would say Alice: neither a refresh, nor a rescan, nor a changed photo undoes Eve
        scanner.refresh()
        fresh = new_scanner(root)
        fresh.scan_paths([root])
        make_photo(root / "a" / "both.png", (ALICE2, 41), (BOB2, 60))
        fresh.scan_paths([root])
        fresh.refresh()
        assert rows(root / "a")[("both.png", 1)]["name"] == "Eve"
        assert rows(root / "a")[("both.png", 1)]["guess"] == ""
        assert rows(root / "a")[("alice1.png", 1)]["name"] == "Alice"

    def test_guesses_never_become_names_without_a_person(self, scanner, root):
        name_face(scanner, root / "a" / "alice1.png", 1, "Alice")
        for _ in range(2):
            scanner.scan_paths([root])
            scanner.refresh()
        guessed = [r for f in ("a", "b") for r in rows(root / f).values() if r["guess"]]
        assert guessed and all(r["name"] == "" for r in guessed)

    def test_name_cluster_only_guesses(self, scanner, root):
        dave = next(c for c in list_clusters(folders(scanner)) if str(root / "b" / "dave1.png") in c.photos)
        name_cluster(scanner, folders(scanner), dave.id, "Dave")
        assert all(r["name"] == "" for r in rows(root / "b").values())


class TestConfirm:
    def test_confirm_takes_guesses_with_filters(self, scanner, root):
        name_face(scanner, root / "a" / "alice1.png", 1, "Alice")
        name_face(scanner, root / "a" / "bob1.png", 1, "Bob")
        preview = confirm_guesses(scanner, folders(scanner), dry_run=True)
        assert {(n.file, n.new) for n in preview} == {("both.png", "Alice"), ("both.png", "Bob"), ("alice2.png", "Alice")}
        assert rows(root / "a")[("both.png", 1)]["name"] == ""
        done = confirm_guesses(scanner, folders(scanner), name="Bob")
        assert [(n.file, n.face_nr, n.new) for n in done] == [("both.png", 2, "Bob")]
        assert rows(root / "a")[("both.png", 2)]["name"] == "Bob"
        assert rows(root / "a")[("both.png", 1)]["name"] == ""
        far = float(rows(root / "b")[("alice2.png", 1)]["distance"])
        near = float(rows(root / "a")[("both.png", 1)]["distance"])
        assert near < far
        done = confirm_guesses(scanner, folders(scanner), max_distance=(near + far) / 2)
        assert [n.file for n in done] == ["both.png"]
        assert rows(root / "b")[("alice2.png", 1)]["name"] == ""
        assert confirm_guesses(scanner, [root / "b"])[0].file == "alice2.png"
        assert rows(root / "b")[("alice2.png", 1)]["name"] == "Alice"


class TestRename:
    def test_rename_everywhere(self, scanner, root):
        name_face(scanner, root / "a" / "alice1.png", 1, "Alice")
        name_face(scanner, root / "b" / "alice2.png", 1, "Alice")
        done = rename_person(scanner, folders(scanner), "Alice", "Alice Smith")
        assert {n.file for n in done} == {"alice1.png", "alice2.png"}
        assert rows(root / "a")[("alice1.png", 1)]["name"] == "Alice Smith"
        assert rows(root / "b")[("alice2.png", 1)]["name"] == "Alice Smith"
        assert rows(root / "a")[("both.png", 1)]["guess"] == "Alice Smith"
        assert "Alice" not in {p.name for p in people_counts(folders(scanner))}

    def test_rename_takes_a_name_typed_into_the_csv_but_not_merged_yet(self, scanner, root):
        type_name(root / "b", "carol.png", 1, "Carol")
        rename_person(scanner, folders(scanner), "Carol", "Caroline")
        assert rows(root / "b")[("carol.png", 1)]["name"] == "Caroline"

    def test_rename_into_an_existing_person_merges(self, scanner, root):
        name_face(scanner, root / "a" / "alice1.png", 1, "Alice")
        name_face(scanner, root / "b" / "alice2.png", 1, "Ali")
        rename_person(scanner, folders(scanner), "Ali", "Alice")
        assert [p.confirmed for p in people_counts(folders(scanner)) if p.name == "Alice"] == [2]

    def test_rename_errors(self, scanner):
        with pytest.raises(FacesidecarError, match="nobody is named 'Zed'"):
            rename_person(scanner, folders(scanner), "Zed", "Zoe")
        with pytest.raises(FacesidecarError, match="not a person"):
            rename_person(scanner, folders(scanner), IGNORE, "Zoe")
        with pytest.raises(FacesidecarError, match="must not be empty"):
            rename_person(scanner, folders(scanner), "Zed", "")


class TestPeopleAndClusters:
    def test_people_counts(self, scanner, root):
        name_face(scanner, root / "a" / "alice1.png", 1, "Alice")
        name_face(scanner, root / "a" / "bob1.png", 1, "Bob")
        name_face(scanner, root / "b" / "carol.png", 2, IGNORE)
        people = {p.name: p.to_json() for p in people_counts(folders(scanner))}
        assert people == {
            "Alice": {"name": "Alice", "confirmed": 1, "guessed": 2, "photos": 1},
            "Bob": {"name": "Bob", "confirmed": 1, "guessed": 1, "photos": 1},
        }

    def test_clusters_list_unnamed_groups(self, scanner, root):
        clusters = list_clusters(folders(scanner))
        by_photos = {frozenset(Path(p).name for p in c.photos): c for c in clusters}
        assert {"dave1.png", "dave2.png"} in [set(k) for k in by_photos]
        assert all(c.size >= 2 and not c.named for c in clusters)
        assert clusters == sorted(clusters, key=lambda c: -c.size)
        assert set(clusters[0].to_json()) == {"id", "size", "named", "photos", "samples"}

    def test_name_cluster_guesses_survive_refresh_and_rescan(self, scanner, root):
        dave = next(c for c in list_clusters(folders(scanner)) if str(root / "b" / "dave1.png") in c.photos)
        assert name_cluster(scanner, folders(scanner), dave.id, "Dave") == 2
        for file in ("dave1.png", "dave2.png"):
            row = rows(root / "b")[(file, 1)]
            assert (row["guess"], row["cluster"], row["name"], row["distance"]) == ("Dave", "Dave", "", "")
        scanner.refresh()
        fresh = new_scanner(root)
        fresh.scan_paths([root])
        assert rows(root / "b")[("dave2.png", 1)]["guess"] == "Dave"
        # naming one face for real: the other keeps the guess, now with a distance
        name_face(fresh, root / "b" / "dave1.png", 1, "Dave")
        row = rows(root / "b")[("dave2.png", 1)]
        assert row["guess"] == "Dave" and float(row["distance"]) < 0.6
        assert [c.id for c in list_clusters(folders(fresh)) if c.named] == []

    def test_name_cluster_errors(self, scanner):
        with pytest.raises(FacesidecarError, match="no cluster 'u99'"):
            name_cluster(scanner, folders(scanner), "u99", "X")
        with pytest.raises(FacesidecarError, match="looks like a cluster id"):
            name_cluster(scanner, folders(scanner), "u1", "u2")


class TestMatch:
    def test_match_says_who_and_writes_nothing(self, scanner, root, tmp_path):
        name_face(scanner, root / "a" / "alice1.png", 1, "Alice")
        name_face(scanner, root / "a" / "bob1.png", 1, "Bob")
        probe = make_photo(tmp_path / "elsewhere" / "party.png", (BOB2, 50), (CAROL, 50), (ALICE3, 50))
        before = {p: p.read_bytes() for p in root.rglob("*")if p.is_file()}
        [result] = match_photos(scanner, [probe])
        assert [(m.face_nr, m.name) for m in result.faces] == [(1, "Bob"), (2, ""), (3, "Alice")]
        assert result.faces[0].distance < 0.6 and result.faces[1].distance is None
        assert sorted(p.name for p in probe.parent.iterdir()) == ["party.png"]
        assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before

    def test_match_reports_unreadable_photos(self, scanner, tmp_path):
        broken = tmp_path / "broken.jpg"
        broken.write_bytes(b"nope!")
        [missing, bad] = match_photos(scanner, [tmp_path / "nope.png", broken])
        assert "no photo" in missing.error and bad.error and not bad.faces


class TestEnroll:
    def test_enroll_scans_first_and_names_the_largest_face(self, tmp_path):
        people = tmp_path / "photos" / "enroll" / "carol"
        make_photo(people / "1.png", (CAROL2, 30), (CAROL, 60))
        make_photo(people / "2.png", (CAROL2, 50))
        make_photo(tmp_path / "photos" / "b" / "x.png", (CAROL, 40))
        engine = FakeEngine()
        scanner = new_scanner(tmp_path / "photos", engine)
        outcome = enroll(scanner, "Carol", [people])
        assert [(n.file, n.face_nr) for n in outcome.named] == [("1.png", 2), ("2.png", 1)]
        assert rows(people)[("1.png", 2)]["name"] == "Carol"
        assert rows(people)[("1.png", 1)]["name"] == ""
        assert rows(people)[("1.png", 1)]["guess"] == "Carol"
        again = enroll(scanner, "Carol", [people / "1.png"])
        assert again.unchanged == [people / "1.png"] and not again.named

    def test_enroll_keeps_other_names_unless_forced(self, scanner, root):
        name_face(scanner, root / "a" / "bob1.png", 1, "Bob")
        outcome = enroll(scanner, "Robert", [root / "a" / "bob1.png", root / "a" / "alice1.png"])
        assert [n.file for n in outcome.named] == ["alice1.png"]
        assert "already named 'Bob'" in outcome.failed[0][1]
        assert rows(root / "a")[("bob1.png", 1)]["name"] == "Bob"
        forced = enroll(scanner, "Robert", [root / "a" / "bob1.png"], force=True)
        assert forced.named[0].old == "Bob"
        assert rows(root / "a")[("bob1.png", 1)]["name"] == "Robert"

    def test_enroll_failures(self, scanner, root, tmp_path):
        Image.new("RGB", (50, 50)).save(root / "a" / "blank.png")
        shutil.copy(root / "a" / "bob1.png", root / "a" / "copy.png")
        (root / "a" / "broken.png").write_bytes(b"\x89PNG broken")
        outcome = enroll(scanner, "X", [root / "a" / "blank.png", root / "a" / "broken.png"])
        assert [why for _, why in outcome.failed][0] == "no face found"
        assert outcome.failed[1][0].name == "broken.png"
        with pytest.raises(FacesidecarError, match="no photos in"):
            enroll(scanner, "X", [tmp_path])
        with pytest.raises(FacesidecarError, match="no photo"):
            enroll(scanner, "X", [root / "nope.jpg"])
