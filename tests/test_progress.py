"""Progress: counts, rate and time left from an injected clock; log lines at a sane rate."""

from __future__ import annotations

import logging
from pathlib import Path

from facesidecar.progress import LogLines, Progress, duration


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_counts_rate_and_time_left():
    clock = Clock()
    progress = Progress("catch-up", clock=clock)
    progress.checking(3)
    for _ in range(3):
        progress.checked()
    assert progress.snapshot().line() == "catch-up: checking folders, 3/3 done"
    progress.planned(2, 100)
    progress.folder(Path("/srv/photos/2019"))
    for _ in range(11):
        progress.photo()
        clock.now += 2
    snapshot = progress.snapshot()
    assert snapshot.photos_done == 11 and snapshot.folder == "/srv/photos/2019"
    assert abs(snapshot.rate - 10 / 22) < 1e-9
    assert snapshot.line() == "catch-up: 0/2 folders, 11/100 photos, 0.5 photos/s, about 3 min left"
    progress.folder_done()
    progress.done()
    assert progress.snapshot().line().startswith("catch-up: 1/2 folders, 11/100 photos, done in ")


def test_a_plan_made_again_after_a_pause_keeps_what_was_done():
    progress = Progress("catch-up", clock=Clock())
    progress.planned(5, 10)
    for _ in range(4):
        progress.photo()
    progress.planned(5, 6)  # the same work planned again: 6 photos are still to do
    snapshot = progress.snapshot()
    assert (snapshot.photos_done, snapshot.photos_total) == (4, 10)


def test_durations_read_well():
    assert [duration(s) for s in (4, 89, 600, 5400, 11100)] == ["4 s", "89 s", "10 min", "1 h 30 min", "3 h 05 min"]


def test_log_lines_at_most_every_interval(caplog):
    clock = Clock()
    logger = logging.getLogger("facesidecar.test.progress")
    progress = Progress("scan", [LogLines(logger, interval=30, clock=clock)], clock=clock)
    with caplog.at_level(logging.INFO, logger=logger.name):
        progress.checking(1)
        progress.checked()
        progress.planned(1, 100)
        for _ in range(100):
            clock.now += 1
            progress.photo()
        progress.done()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "scan: 1 folders to bring up to date, 100 photos to scan"
    assert len(lines) == 1 + 3 + 1, lines  # the plan, one line per 30 s of 100 s, the end
    assert "photos/s" in lines[1] and "left" in lines[1]
    assert "done in" in lines[-1]
