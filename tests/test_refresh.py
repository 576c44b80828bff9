"""refresh: a change updates the clusters and guesses of the faces it touches, and only their folders;
the result equals a full recomputation. Coloured squares are the faces (tests/photos.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesidecar.cli.main import main
from facesidecar.compose import assemble_scanner
from facesidecar.config import Settings, with_roots
from facesidecar.liveclusters import clusters_marker
from facesidecar.scan import Scanner
from facesidecar.store.folder import FolderStore

from .csvedit import type_name
from .fake_engine import FakeEngine
from .photos import BLUE, BLUE2, GREEN, GREEN2, GREEN3, RED, RED2, SLOTS, draw_faces

pytestmark = pytest.mark.usefixtures("no_settle")


@pytest.fixture
def root(tmp_path) -> Path:
    root = tmp_path / "photos"
    for album, colours in {"greens": [[GREEN, None], [GREEN2, RED]], "blues": [[BLUE], [BLUE2]],
                           "reds": [[RED2]], "alone": [[None, None, (200, 200, 20)]]}.items():
        (root / album).mkdir(parents=True)
        for i, squares in enumerate(colours):
            draw_faces(*squares, layout=SLOTS).save(root / album / f"{i}.jpg", quality=95)
    return root


def scanner_of(root: Path) -> Scanner:
    settings = with_roots(Settings(), [str(root)])
    settings.metadata.enabled = False
    settings.state_dir = str(root.parent / "state")
    return assemble_scanner(settings, engine=FakeEngine(scale=255, threshold=0.3))


def clusters(root: Path) -> dict[tuple[str, str, int], str]:
    """(album, photo, face number) -> cluster label, as the sidecars say."""
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for name, photo in FolderStore(folder).load().photos.items():
            for n, face in enumerate(photo.visible_faces, 1):
                found[folder.name, name, n] = face.cluster
    return found


def pkl_bytes(root: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in root.glob("*/faces.pkl")}


def test_a_new_face_rewrites_only_the_folders_of_its_cluster(root):
    scanner = scanner_of(root)
    scanner.scan_paths([root])
    before = clusters(root)
    assert before["greens", "0.jpg", 1] == before["greens", "1.jpg", 1] != ""
    assert before["blues", "0.jpg", 1] == before["blues", "1.jpg", 1] != before["greens", "0.jpg", 1]
    assert before["greens", "1.jpg", 2] == before["reds", "0.jpg", 1] != ""
    written = pkl_bytes(root)
    (root / "new").mkdir()
    draw_faces(GREEN3, layout=SLOTS).save(root / "new" / "0.jpg", quality=95)
    scanner.scan_paths([root / "new"])
    after = clusters(root)
    assert after["new", "0.jpg", 1] == after["greens", "0.jpg", 1] == after["greens", "1.jpg", 1]
    unchanged = {k for k, v in pkl_bytes(root).items() if written.get(k) == v}
    assert {"blues", "reds", "alone"} <= unchanged, "folders the new face cannot touch are not written"
    assert_equal_to_full_recomputation(root)


def test_a_named_face_leaves_its_cluster_and_the_rest_splits(tmp_path):
    root = tmp_path / "photos"
    chain = {"left": (0, 200, 0), "middle": (100, 200, 0), "right": (200, 200, 0)}  # 0.39 apart, ends 0.78
    for album, colour in chain.items():
        (root / album).mkdir(parents=True)
        draw_faces(colour, layout=SLOTS).save(root / album / "0.jpg", quality=95)
    scanner = scanner_of(root)
    scanner.scan_paths([root])
    assert len(set(clusters(root).values())) == 1, "the middle face links both ends"
    type_name(root / "middle", "0.jpg", 1, "Greta")
    scanner.process_folders([root / "middle"], csv_only=True)
    assert set(clusters(root).values()) == {""}, "a named face is in no cluster; the ends alone are none"
    assert_equal_to_full_recomputation(root)


def test_reset_makes_the_next_scan_recompute_every_cluster(root, capsys):
    scanner = scanner_of(root)
    scanner.scan_paths([root])
    before = clusters(root)
    settings = scanner.settings
    assert clusters_marker(settings).is_file()
    config = root.parent / "config.toml"
    config.write_text(f'state_dir = "{settings.state_dir}"\n[[roots]]\npath = "{root}"\n', encoding="utf-8")
    assert main(["reset", "--guesses", "--config", str(config), str(root)]) == 0
    assert not clusters_marker(settings).exists()
    assert set(clusters(root).values()) == {""}
    scanner_of(root).scan_paths([root])
    assert clusters(root) == before


def assert_equal_to_full_recomputation(root: Path) -> None:
    """A fresh scanner's full recomputation finds nothing to change."""
    stored = pkl_bytes(root)
    report = scanner_of(root).refresher.recluster()
    assert not report.errors
    assert pkl_bytes(root) == stored
