"""liveclusters.LiveClusters: a full recomputation groups look-alike unnamed faces and records what it
was computed with (a change of settings asks for another, an unwritable state folder does not make it
start over and over); a folder written gets its faces' clusters (named faces none); a face that
joins the library is noted as stale. Coloured squares are the faces (tests/fake_engine.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from facesidecar.compose import assemble_scanner
from facesidecar.engines.source import EngineSource
from facesidecar.liveclusters import LiveClusters, clusters_marker
from facesidecar.store.folder import FolderStore
from facesidecar.store.merge import set_name

from .photos import ALICE, ALICE2, BOB, CAROL, make_photo
from .scanlibrary import settings_for

pytestmark = pytest.mark.usefixtures("no_settle")


@pytest.fixture
def root(tmp_path, fake_engine) -> Path:
    """A scanned library: two look-alike faces (one person) and one face unlike them."""
    root = tmp_path / "photos"
    make_photo(root / "a" / "1.png", (ALICE, 40))
    make_photo(root / "a" / "2.png", (ALICE2, 40))
    make_photo(root / "a" / "3.png", (BOB, 40))
    assemble_scanner(settings_for(root, 1, tmp_path / "scan-state"), engine=fake_engine).scan_paths([root])
    return root


def recompute(clusters: LiveClusters) -> None:
    clusters.start()
    clusters.begin_full()
    while clusters.step_full():
        pass


def clusters_by_file(clusters: LiveClusters, folder: Path) -> dict[str, str]:
    state = FolderStore(folder).load()
    return {photo.file: clusters.label(face.face_id) for photo, face in state.faces()}


def test_a_full_recomputation_groups_look_alikes_and_records_its_settings(root, tmp_path, fake_engine):
    settings = settings_for(root, 1, tmp_path / "fresh-state")
    clusters = LiveClusters(settings, EngineSource(settings, fake_engine))
    assert clusters.full_needed(), "no marker: never computed with this state folder"
    recompute(clusters)
    labels = clusters_by_file(clusters, root / "a")
    assert labels["1.png"] and labels["1.png"] == labels["2.png"] and labels["3.png"] != labels["1.png"]
    assert clusters_marker(settings).is_file() and not clusters.full_needed()
    settings.engine.cluster_threshold = 0.3
    assert clusters.full_needed(), "clusters computed with another threshold are recomputed"


def test_an_unwritable_state_folder_does_not_restart_the_recomputation(root, tmp_path, fake_engine, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the state folder should be")
    settings = settings_for(root, 1, blocked)
    clusters = LiveClusters(settings, EngineSource(settings, fake_engine))
    with caplog.at_level(logging.WARNING, logger="facesidecar.liveclusters"):
        recompute(clusters)
    assert not clusters.full_needed(), "this process already recomputed"
    assert str(clusters_marker(settings)) in caplog.text and "state_dir" in caplog.text


def test_a_written_folder_gets_its_clusters_and_named_faces_none(root, tmp_path, fake_engine):
    settings = settings_for(root, 1, tmp_path / "fresh-state")
    clusters = LiveClusters(settings, EngineSource(settings, fake_engine))
    recompute(clusters)
    state = FolderStore(root / "a").load()
    photo = state.photos["1.png"]
    set_name(photo, photo.faces[0], "Alice", "test", 0.0)
    clusters.stale |= {face.face_id for _, face in state.faces()}
    clusters.label_folder(state)
    assert state.photos["1.png"].faces[0].cluster == ""
    assert state.photos["2.png"].faces[0].cluster == clusters.label(state.photos["2.png"].faces[0].face_id) != ""
    assert clusters.stale == set(), "a folder being written is no longer stale"


def test_a_face_that_joins_the_library_is_stale(root, tmp_path, fake_engine):
    settings = settings_for(root, 1, tmp_path / "fresh-state")
    clusters = LiveClusters(settings, EngineSource(settings, fake_engine))
    recompute(clusters)
    clusters.stale.clear()
    make_photo(root / "b" / "1.png", (CAROL, 40))
    assemble_scanner(settings_for(root, 1, tmp_path / "scan-state"), engine=fake_engine).scan_paths([root / "b"])
    joined = {face.face_id for _, face in FolderStore(root / "b").load().faces()}
    clusters.library.set_folder(root / "b", FolderStore(root / "b").load())
    clusters.follow_changes()
    assert joined and joined <= clusters.stale
