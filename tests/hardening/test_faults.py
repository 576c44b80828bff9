"""Faults: a writer killed between its two sidecars, a full disk, exiftool killed, MariaDB stopped,
a photo replaced while scanned, the daemon killed during its start-up catch-up.

After each: no file half-written, no name lost, and the next run repairs what is left.
"""

from __future__ import annotations

import threading
import time

import pytest

from facesidecar.store import folder as folder_module
from facesidecar.store.csvfile import parse_csv
from facesidecar.store.folder import FolderStore
from tests.store.helpers import face, state_with


@pytest.fixture(autouse=True)
def no_settle(monkeypatch):
    monkeypatch.setattr(folder_module, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(folder_module.read_settled, "__defaults__", ((), 0.0, 10.0))


class Killed(BaseException):
    """Stands for SIGKILL: the process ends right here, nothing after it runs."""


def set_name_in(data: bytes, row_index: int, name: str) -> bytes:
    lines = data.decode().split("\n")
    cells = lines[row_index].split(",")
    cells[6] = name
    lines[row_index] = ",".join(cells)
    return "\n".join(lines).encode()


def names(store: FolderStore) -> list[str]:
    return [r.name for r in parse_csv(store.csv_path.read_bytes())]


def revs_unknown_to_the_pkl(store: FolderStore) -> list[tuple[str, int, str]]:
    """Rows of faces.csv whose rev faces.pkl does not record with that name."""
    state = store.load()
    faces = {(photo.file, f.box.rounded()): f for photo, f in state.faces()}
    wrong = []
    for row in parse_csv(store.csv_path.read_bytes()):
        known = faces.get((row.file, row.box))
        if row.rev is not None and (known is None or row.rev not in known.name_history):
            wrong.append((row.file, row.rev, row.name))
    return wrong


@pytest.mark.parametrize("killed_at", [1, 2], ids=["first-sidecar", "second-sidecar"])
def test_writer_killed_between_its_two_sidecars_never_publishes_an_unrecorded_rev(tmp_path, monkeypatch, killed_at):
    """Found by bench/edit_survival.py: faces.csv went out with generation 2, the daemon was killed
    before faces.pkl recorded it, the next write handed out generation 2 again with other names,
    and a copy of the first generation-2 file, saved later, looked like edits of every row
    (it undid names set meanwhile). faces.pkl is now written first."""
    store = FolderStore(tmp_path)
    with store.transaction() as txn:
        txn.state.photos.update(state_with(a_jpg=[face(0.1)], b_jpg=[face(0.5)]).photos)
    store.csv_path.write_bytes(set_name_in(store.csv_path.read_bytes(), 1, "Nora"))  # the person names a.jpg
    writes = []
    real_write, real_exchange = folder_module.write_atomic, folder_module.exchange_atomic

    def counted(real):
        def write(path, data, **options):
            writes.append(path.name)
            if len(writes) == killed_at:
                raise Killed
            return real(path, data, **options)
        return write

    monkeypatch.setattr(folder_module, "write_atomic", counted(real_write))
    monkeypatch.setattr(folder_module, "exchange_atomic", counted(real_exchange))
    with pytest.raises(Killed):
        with store.transaction():
            pass
    monkeypatch.setattr(folder_module, "write_atomic", real_write)
    monkeypatch.setattr(folder_module, "exchange_atomic", real_exchange)
    assert revs_unknown_to_the_pkl(store) == []
    with store.transaction():  # the next run
        pass
    assert names(store) == ["Nora", ""]
    assert [f.name for _, f in store.load().faces()] == ["Nora", ""]


def test_a_rebuilt_pkl_does_not_hand_out_revs_already_on_disk(tmp_path):
    """faces.pkl set aside and rebuilt: the generations of faces.csv on disk stay used up."""
    store = FolderStore(tmp_path)
    with store.transaction() as txn:
        txn.state.photos.update(state_with(a_jpg=[face(0.1)]).photos)
    for name in ("Ann", "Bea", "Cleo"):
        store.csv_path.write_bytes(set_name_in(store.csv_path.read_bytes(), 1, name))
        with store.transaction():
            pass
    on_disk = max(r.rev for r in parse_csv(store.csv_path.read_bytes()))
    store.pkl_path.write_bytes(b"broken")
    with store.transaction() as txn:
        assert txn.state.csv_gen >= on_disk


def test_slow_in_place_save_racing_our_swap_is_waited_for_and_merged(tmp_path, monkeypatch):
    """Found by bench/edit_survival.py: a WebDAV PUT (wsgidav truncates faces.csv and writes the
    body as it arrives) was under way when the daemon swapped its new file in; the daemon read the
    swapped-out file at once, half written, and the rest of the PUT went into a deleted file."""
    monkeypatch.setattr(folder_module, "SETTLE_SECONDS", 0.4)
    store = FolderStore(tmp_path)
    with store.transaction() as txn:
        txn.state.photos.update(state_with(a_jpg=[face(0.1)], b_jpg=[face(0.5)]).photos)
    time.sleep(0.5)
    saved = set_name_in(store.csv_path.read_bytes(), 2, "Slow Sam")
    real_exchange = folder_module.exchange_atomic

    def save_in_pieces():
        with store.csv_path.open("wb") as handle:  # same inode: the one our swap moves away
            for start in range(0, len(saved), 40):
                handle.write(saved[start:start + 40])
                handle.flush()
                time.sleep(0.05)

    writer = threading.Thread(target=save_in_pieces)

    def racing_exchange(path, data, **options):
        if not writer.is_alive() and writer.ident is None:
            writer.start()
            time.sleep(0.06)  # the save has begun: truncated, first pieces written
        return real_exchange(path, data, **options)

    monkeypatch.setattr(folder_module, "exchange_atomic", racing_exchange)
    with store.transaction() as txn:
        txn.state.photos["a.jpg"].faces[0].name = "Quick Quinn"
    writer.join()
    with store.transaction():
        pass
    assert names(store) == ["Quick Quinn", "Slow Sam"]
