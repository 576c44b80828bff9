"""Rule 8 of issue 13: after ``facesidecar forget NAME`` no file facesidecar owns or wrote holds the name.

Through the real command: a person named in faces.csv (and so guessed elsewhere, written into
the photos' keywords), marked "not this person" on another face, typed into set-aside copies of
faces.csv by editors in UTF-16, Windows-1252, decomposed Unicode, odd spacing and case, in the
Hubzilla add-on's file kept on import, in a refused faces.pkl, a writer's leftover save, the review page's thumbnails. Afterwards every file
below the root and the state folder is searched for the name in every such form.
"""

from __future__ import annotations

import itertools
import unicodedata
from pathlib import Path

import pytest

from facesidecar.store.folder import FolderStore
from tests.csvedit import type_name

from .helpers import cli, put_photo, write_config

pytestmark = pytest.mark.usefixtures("no_settle")

NAME = "Zoë Ålander"
KEPT = "Bob Keeper"


def spellings(name: str) -> set[bytes]:
    """``name`` as editors write it: encodings, Unicode forms, spacing, case."""
    found = set()
    for form, space, case in itertools.product(("NFC", "NFD"), (" ", "  ", "\xa0", "\t"),
                                              (str, str.upper, str.lower)):
        text = unicodedata.normalize(form, case(name).replace(" ", space))
        for encoding in ("utf-8", "utf-16-le", "utf-16-be", "cp1252", "latin-1"):
            try:
                found.add(text.encode(encoding))
            except UnicodeEncodeError:
                continue
    return found


def traces(*trees: Path, name: str = NAME) -> list[str]:
    needles = spellings(name)
    return sorted(f"{path}: {needle!r}" for tree in trees for path in tree.rglob("*")
                  if path.is_file() and not path.is_symlink()
                  for needle in needles if needle in path.read_bytes())


def csv_copy(*rows: str) -> str:
    return "file,face_nr,x,y,w,h,name\n" + "".join(f"{row}\n" for row in rows)


DATABASE_DOWN = '[mysql]\nenabled = true\nhost = "127.0.0.1"\nport = 9\nconnect_timeout = 1.0\n'
"""A mirror whose database cannot be reached: the erasure waits in the outbox in the state folder."""


@pytest.mark.slow
@pytest.mark.parametrize("database", ["none", "down"])
def test_forget_leaves_no_trace_of_the_person_in_any_file_facesidecar_owns(tmp_path, shared_faces, database):
    root, state = tmp_path / "photos", tmp_path / "state"
    folder = root / "family"
    for n in range(3):
        put_photo(folder / f"{n}.jpg", n)  # two of the same person, then someone else
    put_photo(folder / "other.jpg", 5)
    config = write_config(tmp_path / "config.toml", root, metadata=True, state=state)
    if database == "down":
        config.write_text(config.read_text() + DATABASE_DOWN)
    assert cli("scan", root, config=config).returncode == 0
    type_name(folder, "0.jpg", 1, NAME)
    type_name(folder, "other.jpg", 1, KEPT)
    assert cli("scan", root, config=config).returncode == 0
    with FolderStore(folder).transaction() as txn:  # the review page's "not this person"
        txn.state.photos["other.jpg"].faces[0].not_names.append(NAME)
    (folder / "faces.csv.bad-20261130-101010").write_bytes(
        b"\xff\xfe" + csv_copy(f"1.jpg,1,0.1,0.1,0.2,0.2,{unicodedata.normalize('NFD', NAME)}").encode("utf-16-le"))
    (folder / "faces.csv.bad-20261130-111111").write_bytes(
        csv_copy(f"2.jpg,1,0.1,0.1,0.2,0.2,{NAME.upper().replace(' ', '  ')}",
                 f"other.jpg,1,0.1,0.1,0.2,0.2,{KEPT}").encode("cp1252"))
    (folder / "faces.hubzilla.csv").write_text(f"id,name\n1,{NAME.lower()}\n2,{KEPT}\n")  # kept on import
    (folder / "faces.pkl.bad-20261130-121212").write_bytes(b"\x80\x04\x95" + NAME.encode() + b"broken")
    (folder / ".faces.csv.tmp-leftover").write_text(csv_copy(f"1.jpg,1,0.1,0.1,0.2,0.2,{NAME.replace(' ', chr(0xA0))}"))
    (state / "thumbs").mkdir(parents=True, exist_ok=True)
    (state / "thumbs" / "face.jpg").write_bytes(b"thumbnail of " + NAME.encode())
    assert traces(root, state), "the setup put the name in place"

    done = cli("forget", NAME, "--yes", config=config)

    if database == "down":
        assert done.returncode == 1 and "queued in the outbox" in done.stdout, done.stdout + done.stderr
        assert (state / "mirror-outbox.sqlite3").is_file()
    else:
        assert done.returncode == 0, done.stdout + done.stderr
    assert traces(root, state) == []
    kept = (folder / "faces.csv.bad-20261130-111111").read_bytes().decode("cp1252")
    assert KEPT in kept, "the other lines of a set-aside copy stay"
    assert KEPT in (folder / "faces.csv").read_text()
    assert all(face.not_names == [] for _, face in FolderStore(folder).load().faces())
