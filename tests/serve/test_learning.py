"""learn -> recognize on real photos (tests/data/faces), and what the rest of facesidecar sees of it."""

from __future__ import annotations

import json

import pytest

from facesidecar.adapters.mysql.mirror import Mirror
from facesidecar.cli.main import main
from facesidecar.compose import assemble_scanner
from facesidecar.serve.app import close_app, create_app
from facesidecar.serve.learning import probability, score
from facesidecar.store.csvfile import parse_csv

from ..dbhelpers import mariadb_server_fixture, mysql_db_fixture, query  # noqa: F401 - fixtures
from .conftest import API_KEY, settings_for
from .nextcloud_client import NextcloudClient

KEY = [f"x-api-key: {API_KEY}"]
# identities with their photo numbers (labels.csv); the learned photo is the first one of each
COLIN, GEORGE, ARNOLD = "colin_powell", "george_w_bush", "arnold_schwarzenegger"


@pytest.fixture(scope="module")
def client(served) -> NextcloudClient:
    return NextcloudClient(served.url, API_KEY)


def photo(shared_faces, identity: str, number: int) -> tuple[str, str, str, bytes]:
    return ("file", f"{identity}-{number}.jpg", "image/jpeg", (shared_faces / identity / f"{number}.jpg").read_bytes())


def learn(client, shared_faces, person: str, identity: str, number: int, directory: str | None = None):
    fields = [("person", None, None, person.encode())]
    if directory is not None:
        fields.append(("directory", None, None, directory.encode()))
    return client.multipart("/learn", [*fields, photo(shared_faces, identity, number)], KEY)


def recognize(client, shared_faces, identity: str, number: int, directory: str | None = None):
    fields = [("directory", None, None, directory.encode())] if directory is not None else []
    reply = client.multipart("/recognize", [photo(shared_faces, identity, number), *fields], KEY)
    assert reply.status == 200, reply.body
    return reply.json()


def who(answer: dict) -> list:
    return [p["id"] for p in answer["persons"]]


def cli(served, capsys, *args: str) -> tuple[int, str]:
    status = main([args[0], "--config", str(served.config), *args[1:]])
    return status, capsys.readouterr().out


def test_learn_then_recognize_then_forget(served, client, shared_faces, capsys):
    learned = learn(client, shared_faces, "Colin Powell", COLIN, 1, directory="work")
    assert learned.status == 200, learned.body
    first = learned.json()
    assert (first["status"], first["person"], first["directory"], first["learned"]) == ("OK", "Colin Powell", "work", True)
    kept = served.root / "learned" / first["file"]
    assert kept.parent == served.root / "learned" / "work" / "Colin Powell" and kept.read_bytes() == photo(shared_faces, COLIN, 1)[3]
    rows = parse_csv((kept.parent / "faces.csv").read_bytes())
    assert [(r.file, r.name) for r in rows] == [(kept.name, "Colin Powell")]
    assert learn(client, shared_faces, "George W Bush", GEORGE, 1).json()["directory"] == "default"
    again = learn(client, shared_faces, "Colin Powell", COLIN, 1, directory="work").json()
    assert again["learned"] is False and again["file"] == first["file"]

    for number in (2, 4, 5):
        answer = recognize(client, shared_faces, COLIN, number)
        assert who(answer) == ["Colin Powell"], answer
        person = answer["persons"][0]
        assert person["score"] > 0.5 and person["probability"] > 0.5 and len(person["box"]) == 4
    for number in (2, 7):
        assert who(recognize(client, shared_faces, GEORGE, number)) == ["George W Bush"]
    for number in (2, 3):  # a stranger is nobody, not the nearest learned person
        stranger = recognize(client, shared_faces, ARNOLD, number)
        assert who(stranger) == [None] and stranger["persons"][0]["probability"] < 0.5
    # a directory holds only the people learned in it
    assert who(recognize(client, shared_faces, GEORGE, 2, directory="work")) == [None]
    assert who(recognize(client, shared_faces, COLIN, 2, directory="work")) == ["Colin Powell"]
    assert who(recognize(client, shared_faces, GEORGE, 2, directory="default")) == ["George W Bush"]
    missing = client.multipart("/recognize", [photo(shared_faces, COLIN, 2), ("directory", None, None, b"nobody-here")], KEY)
    assert missing.status == 404

    # the learned faces are ordinary confirmed faces for the rest of facesidecar
    status, out = cli(served, capsys, "people", "--json")
    assert status == 0 and {p["name"]: p["confirmed"] for p in json.loads(out)} == {"Colin Powell": 1, "George W Bush": 1}
    status, out = cli(served, capsys, "export", "Colin Powell")
    assert status == 0 and kept.name in out

    status, out = cli(served, capsys, "forget", "Colin Powell", "--dry-run")
    assert status == 0 and "would delete 1 photos" in out and kept.exists()
    status, out = cli(served, capsys, "forget", "Colin Powell")
    assert status == 0, out
    assert not kept.exists() and not kept.parent.exists()  # the portrait kept for learning goes too
    assert who(recognize(client, shared_faces, COLIN, 2)) == [None]
    assert who(recognize(client, shared_faces, COLIN, 2, directory="work")) == [None]
    assert who(recognize(client, shared_faces, GEORGE, 2)) == ["George W Bush"]
    status, out = cli(served, capsys, "people", "--json")
    assert [p["name"] for p in json.loads(out)] == ["George W Bush"]


def test_learn_needs_exactly_one_face_and_a_usable_name(served, client, shared_faces):
    two = client.multipart("/learn", [("person", None, None, b"Somebody"),
                                      ("file", "g.jpg", "image/jpeg", (served.root / "album" / "group16.jpg").read_bytes())], KEY)
    assert two.status == 422 and "found 3 faces" in two.json()["error"]
    none = client.multipart("/learn", [("person", None, None, b"Somebody"),
                                       ("file", "n.jpg", "image/jpeg", (shared_faces / "noface" / "1.jpg").read_bytes())], KEY)
    assert none.status == 422 and "found 0 faces" in none.json()["error"]
    for person in ("", "-ignore-", "a\x07b", "\u202eevil", "x" * 201):
        assert learn(client, shared_faces, person, ARNOLD, 1).status == 400, person
    # The one name rule (issue 13, rule 6): a name a spreadsheet would run is a name, kept as typed
    # (faces.csv guards the cell); the review page and the CLI take it alike.
    assert learn(client, shared_faces, "=HYPERLINK(1)", ARNOLD, 1).status == 200
    assert learn(client, shared_faces, "line\nbreak", ARNOLD, 1).status == 200  # white space becomes one space
    assert (served.root / "learned" / "default" / "line break").is_dir()
    for directory in ("../up", ".hidden", "a/b", "@eaDir"):
        assert learn(client, shared_faces, "Arnold", ARNOLD, 1, directory=directory).status == 400, directory
    assert not (served.root / "learned" / "default" / "Arnold").exists()
    assert not (served.root.parent / "up").exists()


def test_learning_does_not_follow_a_link_out_of_the_library(served, client, shared_faces, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (served.root / "learned" / "trap").symlink_to(outside)
    reply = learn(client, shared_faces, "Arnold", ARNOLD, 1, directory="trap")
    assert reply.status == 500 and "not a plain folder" in reply.json()["error"]
    assert list(outside.iterdir()) == []
    (served.root / "learned" / "trap").unlink()


def test_score_and_probability_follow_the_distance():
    assert score(0.0, 0.6) == 1.0 and score(0.6, 0.6) == 0.5 and score(1.5, 0.6) == 0.0 and score(None, 0.6) == 0.0
    assert probability(0.6, 0.6) == 0.5 and probability(0.3, 0.6) > 0.99 and probability(0.9, 0.6) < 0.01


@pytest.mark.mysql
def test_a_learned_face_reaches_the_database_mirror(tmp_path, shared_faces, mysql_db):
    root = tmp_path / "photos"
    root.mkdir()
    settings = settings_for(tmp_path, root, learn_folder="learned")
    settings.mysql = mysql_db
    scanner = assemble_scanner(settings, mirror=Mirror(mysql_db, outbox_dir=settings.state_path()))
    app = create_app(settings, scanner, API_KEY)
    try:
        reply = app.test_client().post("/learn", headers={"x-api-key": API_KEY}, data={
            "person": "George W Bush", "directory": "work",
            "file": ((shared_faces / GEORGE / "1.jpg").open("rb"), "g.jpg")})
        assert reply.status_code == 200, reply.json
        scanner.mirror.flush(force=True)
        rows = query(mysql_db, "SELECT p.name FROM names n JOIN people p ON p.id = n.person_id")
        assert rows == [("George W Bush",)]
    finally:
        close_app(app)
        scanner.close()
