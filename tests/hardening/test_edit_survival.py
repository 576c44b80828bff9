"""Edit survival, quick variant: 20 seeded rounds of bench/edit_survival.py against the real daemon.

A person saves faces.csv with real editors' habits (in place, temp+rename, slow truncate-then-write,
LibreOffice, WebDAV PUT, a stale copy, an in-place save landing in the file a killed daemon's swap
moved aside, an in-place save whose first bytes come after the daemon's settle time) while ``facesidecar watch`` rewrites it, new photos arrive,
``facesidecar name`` sets names and the daemon is killed with SIGKILL at random moments. The long
run (1 000 rounds) is ``bench/edit_survival.py``. The daemon analyses photos in its worker processes,
as it does by default (issue 18: edit survival holds with workers).
"""

from __future__ import annotations

import pytest

from tests.support import edit_survival


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
