"""Edit survival, quick variant: 20 seeded rounds of bench/edit_survival.py against the real daemon.

A person saves faces.csv with real editors' habits (in place, temp+rename, slow truncate-then-write,
LibreOffice, WebDAV PUT, a stale copy, an in-place save landing in the file a killed daemon's swap
moved aside, an in-place save whose first bytes come after the daemon's settle time) while
``facesidecar watch`` rewrites it, new photos arrive, ``facesidecar name`` sets names and the daemon
is killed with SIGKILL at random moments. The long run (1 000 rounds) is ``bench/edit_survival.py``.
The stalled save meets a running daemon by chance there; the second test makes it meet one always. The daemon analyses photos in its worker processes,
as it does by default (issue 18: edit survival holds with workers).
"""

from __future__ import annotations

import random

import pytest

from tests.support import edit_survival

from .helpers import cli, put_photo, wait_for_catch_up, write_config
from .test_leftovers import pkl_names, temp_files, wait_for_name, with_name


@pytest.mark.slow
@pytest.mark.usefixtures("worker_pool")
def test_no_saved_edit_is_lost_while_the_daemon_is_killed(tmp_path, shared_faces, capsys):
    figures = edit_survival.run(rounds=20, seed=7, photos=6, kill_rate=0.5, round_seconds=1.0,
                                work=tmp_path, log=lambda line: print(line), cover=("aside", "stall"))
    with capsys.disabled():
        print(f"\nedit survival: {figures.line()}")
    assert figures.rounds == 20 and figures.edits >= 20
    assert figures.kills >= 3, "the round plan must kill the daemon a few times"
    assert figures.by_editor.get("aside", 0) >= 1, "a save must land in a moved-aside file (issue 20)"
    assert figures.by_editor.get("stall", 0) >= 1, "a save must stall after truncating faces.csv (issue 20)"
    assert not figures.lost, "\n".join(figures.lost_details)


@pytest.mark.slow
def test_a_save_stalled_after_truncating_faces_csv_reaches_the_running_daemon(tmp_path, shared_faces):
    """Issue 20, seed 3 round 351: an in-place save truncated faces.csv and its first bytes came only
    after the daemon's settle time (an HTTP PUT from a slow link, an editor on a loaded machine). The
    daemon took the empty file for the save, swapped its own file in and deleted the one the editor
    then wrote into: the name never arrived. It must, in faces.csv and faces.pkl."""
    root = tmp_path / "photos"
    folder = root / "a"
    put_photo(folder / "1.jpg")
    config = write_config(tmp_path / "config.toml", root, metadata=False)
    assert cli("scan", root, config=config).returncode == 0
    runner = edit_survival.DaemonRunner(tmp_path, config)
    try:
        runner.start()
        wait_for_catch_up(tmp_path / "state")
        saved = with_name((folder / "faces.csv").read_bytes(), "Stalled Stan")
        edit_survival.save_slow(folder / "faces.csv", saved, random.Random(1), first_pause=2.5)
        wait_for_name(folder, "Stalled Stan", timeout=60.0)
    finally:
        runner.stop()
        runner.kill()
    assert pkl_names(folder) == ["Stalled Stan"] and temp_files(folder) == []
