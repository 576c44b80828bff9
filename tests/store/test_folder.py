"""Folder transactions: atomic writes, hostile pickles, broken CSVs, killed writers, racing saves."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from facesidecar.store import folder as folder_module
from facesidecar.store.csvfile import parse_csv
from facesidecar.store.folder import FolderStore
from facesidecar.store.pklfile import PlainDataUnpickler, loads_state

from .helpers import face, state_with

pytestmark = pytest.mark.usefixtures("no_settle")


def make_folder(tmp_path: Path, **photos) -> FolderStore:
    store = FolderStore(tmp_path)
    with store.transaction() as txn:
        txn.state.photos.update(state_with(**photos).photos)
    return store


def test_transaction_writes_both_sidecars_with_folder_permissions(tmp_path):
    os.chmod(tmp_path, 0o750)
    store = make_folder(tmp_path, a_jpg=[face(0.1, "Anna")])
    assert store.csv_path.read_text().splitlines()[1].startswith("a.jpg,1,0.1000")
    assert oct(store.csv_path.stat().st_mode & 0o777) == oct(0o640)
    assert store.load().photos["a.jpg"].faces[0].name == "Anna"
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


class Payload:
    """Pickles to a call of os.system: what an attacker would put into faces.pkl."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_set_aside_and_names_survive(tmp_path, caplog):
    store = make_folder(tmp_path, a_jpg=[face(0.1, "Anna")])
    (tmp_path / "a.jpg").write_bytes(b"photo")
    marker = tmp_path / "pwned"
    store.pkl_path.write_bytes(pickle.dumps({"format": 1, "photos": Payload(marker)}))
    with pytest.raises(pickle.UnpicklingError):
        loads_state(store.pkl_path.read_bytes())
    with store.transaction() as txn:
        assert txn.state.photos == {}
        assert [r.name for r in txn.unmatched] == ["Anna"]
    assert not marker.exists()
    assert list(tmp_path.glob("faces.pkl.bad-*"))
    assert "refused" in caplog.text
    assert "Anna" in store.csv_path.read_text()


@pytest.mark.parametrize("payload", [
    b"cos\nsystem\n(S'touch /tmp/x'\ntR.",
    pickle.dumps(Path("/etc")),
    b"\x80\x04\x95garbage",
    b"",
])
def test_unpickler_refuses_globals_and_garbage(payload):
    with pytest.raises(pickle.UnpicklingError):
        loads_state(payload)


def test_plain_data_passes_the_restricted_unpickler():
    data = pickle.dumps({"a": [1, 2.5, "x", b"\x00", None, True]})
    import io

    assert PlainDataUnpickler(io.BytesIO(data)).load()["a"][3] == b"\x00"


def test_broken_csv_is_kept_as_bad_file_and_rewritten(tmp_path, caplog):
    store = make_folder(tmp_path, a_jpg=[face(0.1, "Anna")])
    (tmp_path / "other.txt").write_text("untouched")
    store.csv_path.write_text("file,face_nr,x,y,w,h,name\n../etc/passwd,1,0.1,0.1,0.1,0.1,Eve\n")
    with store.transaction() as txn:
        assert "line 2" in txn.csv_problems[0]
    bad = list(tmp_path.glob("faces.csv.bad-*"))
    assert len(bad) == 1 and "Eve" in bad[0].read_text()
    assert "Anna" in store.csv_path.read_text()
    assert (tmp_path / "other.txt").read_text() == "untouched"


def test_save_that_lands_during_our_write_is_merged(tmp_path, monkeypatch):
    store = make_folder(tmp_path, a_jpg=[face(0.1), face(0.5)])
    original = folder_module.exchange_atomic
    calls = []

    def racing_exchange(path, data, **options):
        if not calls:  # a person saves an edit just before our swap
            text = path.read_text().replace("0.1000,,,,,1\n", "0.1000,Zoë,,,,1\n", 1)
            path.write_text(text)
        calls.append(1)
        return original(path, data, **options)

    monkeypatch.setattr(folder_module, "exchange_atomic", racing_exchange)
    with store.transaction() as txn:
        txn.state.photos["a.jpg"].visible_faces[1].name = "Bob"
    names = [r.name for r in parse_csv(store.csv_path.read_bytes())]
    assert names == ["Zoë", "Bob"]


@pytest.mark.parametrize("first_bytes", [0, 60], ids=["stalled-empty", "stalled-mid-row"])
def test_in_place_save_that_stalls_while_it_is_written_is_not_lost(tmp_path, monkeypatch, first_bytes):
    """Issue 20, seed 3 round 351: an editor saving in place truncates faces.csv (and writes a first
    piece), then nothing arrives for longer than the settle time (an HTTP PUT over a slow link, a
    loaded machine). A transaction running meanwhile must neither take the unfinished file for the
    person's save nor discard the file the editor is writing into: the edit that follows reaches
    faces.csv and faces.pkl. (Before the fix the empty bytes counted as the save merged, the swap
    found the same bytes in the inode it moved aside, took them as known and deleted that inode;
    the editor's save went into a file no longer in the folder.)"""
    store = make_folder(tmp_path, a_jpg=[face(0.1, "Anna")], b_jpg=[face(0.5, "Bob")])
    monkeypatch.setattr(folder_module, "SETTLE_SECONDS", 0.3)  # the stall below is longer
    saved = store.csv_path.read_bytes().replace(b",Anna,", b",Zo\xc3\xab,", 1)
    assert not saved[:first_bytes].endswith(b"\n")
    with store.csv_path.open("wb") as editor:  # truncated: the editor's bytes are still on their way
        editor.write(saved[:first_bytes])
        editor.flush()
        transaction = threading.Thread(target=_one_transaction, args=(store,))
        transaction.start()
        transaction.join(timeout=1.0)  # the stall: longer than the settle time
        editor.write(saved[first_bytes:])
    transaction.join()
    _one_transaction(store)  # the next event's transaction
    assert [r.name for r in parse_csv(store.csv_path.read_bytes())] == ["Zoë", "Bob"]
    assert [f.name for _, f in store.load().faces()] == ["Zoë", "Bob"]


def _one_transaction(store: FolderStore) -> None:
    with store.transaction():
        pass


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from pathlib import Path
    from facesidecar.store.folder import FolderStore
    from facesidecar.model import Box, Face, PhotoState
    store = FolderStore(Path(sys.argv[1]))
    i = 0
    print("ready", flush=True)
    while True:
        i += 1
        with store.transaction() as txn:
            photo = txn.state.photos.setdefault(f"{i % 50}.jpg", PhotoState(file=f"{i % 50}.jpg"))
            photo.faces = [Face(face_id=f"{i}-{k}", box=Box(0.01 * k, 0.1, 0.01, 0.01),
                                encodings={"m": np.random.rand(128).astype("float32")}) for k in range(20)]
""")


def test_kill_9_of_a_writer_leaves_parseable_sidecars_and_no_stuck_lock(tmp_path):
    make_folder(tmp_path, a_jpg=[face(0.1, "Anna")])
    for delay in (0.3, 0.5, 0.7, 0.9):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rows = parse_csv((tmp_path / "faces.csv").read_bytes())
        assert any(r.name == "Anna" for r in rows)
        state = loads_state((tmp_path / "faces.pkl").read_bytes())
        assert state.photos["a.jpg"].faces[0].name == "Anna"
    started = time.monotonic()
    with FolderStore(tmp_path).transaction():
        pass
    assert time.monotonic() - started < 5, "the lock of the killed writer was left behind"


def test_transaction_starts_from_an_unchanged_snapshot_and_rereads_a_changed_one(tmp_path):
    """The scan reads faces.pkl once per pass: its transaction starts from the plan's read while the
    file is the same, and reads it again once another writer replaced it."""
    store = make_folder(tmp_path, a_jpg=[face(0.1, "Anna")])
    snapshot = store.snapshot()
    with store.transaction(snapshot=snapshot) as txn:
        assert txn.state is snapshot.state
    stale = store.snapshot()
    with store.transaction() as txn:
        txn.state.photos["a.jpg"].faces[0].name = "Bea"
    with store.transaction(snapshot=stale) as txn:
        assert txn.state is not stale.state
        assert txn.state.photos["a.jpg"].faces[0].name == "Bea"
