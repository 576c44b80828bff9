"""pipeline.update: a folder transaction's common tail. A change made in it is saved with the folder's
guesses brought up to date and handed to the mirror once the sidecars are saved; a failing change
is reported, not raised, and leaves the sidecars and the mirror untouched. Coloured squares are the
faces (tests/fake_engine.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesidecar.compose import assemble_scanner
from facesidecar.engines.source import EngineSource
from facesidecar.errors import SidecarError
from facesidecar.guessing import Guesser
from facesidecar.liveclusters import LiveClusters
from facesidecar.model import FolderState
from facesidecar.pipeline.update import FolderUpdater
from facesidecar.store.folder import FolderStore, Transaction
from facesidecar.store.merge import set_name

from ..photos import ALICE, ALICE2, make_photo
from ..scanlibrary import settings_for

pytestmark = pytest.mark.usefixtures("no_settle")


class MirrorQueue:
    """The mirror port as the updater uses it: records the folders queued and the state handed over."""

    def __init__(self) -> None:
        self.queued: list[tuple[Path, FolderState | None]] = []

    def folder_changed(self, folder: Path, state: FolderState | None = None) -> None:
        self.queued.append((folder, state))


@pytest.fixture
def folder(tmp_path, fake_engine) -> Path:
    """A scanned folder with two photos of the same (unnamed) person."""
    folder = tmp_path / "photos" / "a"
    make_photo(folder / "1.png", (ALICE, 40))
    make_photo(folder / "2.png", (ALICE2, 40))
    assemble_scanner(settings_for(folder.parent, 1, folder.parent.parent / "state"), engine=fake_engine).scan_paths([folder.parent])
    return folder


def updater_for(folder: Path, engine, mirror: MirrorQueue, metadata=None) -> FolderUpdater:
    settings = settings_for(folder.parent, 1, folder.parent.parent / "state")
    engines = EngineSource(settings, engine)
    clusters = LiveClusters(settings, engines)
    return FolderUpdater(settings, clusters, Guesser(settings, engines, clusters), metadata=metadata, mirror=mirror)


def name_first_face(file: str, name: str):
    def change(txn: Transaction) -> None:
        photo = txn.state.photos[file]
        named = set_name(photo, photo.faces[0], name, "test", txn.now)
        txn.changes.append(named)
    return change


def test_a_name_set_in_the_change_is_saved_guessed_from_and_mirrored(folder, fake_engine):
    mirror = MirrorQueue()
    report = updater_for(folder, fake_engine, mirror).update_folder(folder, name_first_face("1.png", "Alice"))
    assert report.errors == [] and report.names_changed == 1
    saved = FolderStore(folder).load()
    assert saved.photos["1.png"].faces[0].name == "Alice"
    assert saved.photos["2.png"].faces[0].guess == "Alice", "the folder's guesses follow the new name"
    [(queued, state)] = mirror.queued
    assert queued == folder and state.photos["1.png"].faces[0].name == "Alice", "the mirror gets the state written"


def test_a_failing_change_is_reported_and_changes_nothing(folder, fake_engine):
    before = (folder / "faces.csv").read_bytes()
    mirror = MirrorQueue()

    def change(txn: Transaction) -> None:
        name_first_face("1.png", "Alice")(txn)
        raise SidecarError(f"{folder / '1.png'}: no face 3")

    report = updater_for(folder, fake_engine, mirror).update_folder(folder, change)
    assert report.errors == [(str(folder), f"{folder / '1.png'}: no face 3")]
    assert (folder / "faces.csv").read_bytes() == before and FolderStore(folder).load().photos["1.png"].faces[0].name == ""
    assert mirror.queued == []


def test_a_folder_that_cannot_be_opened_is_an_error_of_that_folder(tmp_path, fake_engine):
    missing = tmp_path / "photos" / "gone"
    mirror = MirrorQueue()
    report = updater_for(missing, fake_engine, mirror).update_folder(missing)
    [(where, message)] = report.errors
    assert where == str(missing) and str(missing) in message
    assert mirror.queued == []


def test_a_metadata_writer_is_not_used_while_metadata_is_disabled(folder, fake_engine):
    updater = updater_for(folder, fake_engine, MirrorQueue(), metadata=object())
    assert updater.metadata is None
    assert not updater.metadata_pending(FolderStore(folder).load().photos)
