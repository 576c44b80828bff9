"""The hostile-folder corpus (tests/hardening/hostile.py) through the real ``facesidecar scan`` and the
real daemon (issue 13): nothing outside the root changes or appears, the good photo next to every
hostile case is scanned and named, every bad item is reported once, memory stays bounded."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from facesidecar.store.csvfile import parse_csv

from ..csvedit import type_name
from .helpers import PYTHON, cli, wait_for_catch_up, write_config
from .hostile import GOOD_PHOTO, Corpus, HostileCase, all_cases

GOOD_NAME = "Hostile Tester"
RSS_BOUND_MB = 1200
MEASURE_RSS = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(f'PEAK_RSS_KB {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr); sys.exit(code)"
)

pytestmark = pytest.mark.slow


@dataclass
class Outcome:
    corpus: Corpus
    outside_before: dict
    outside_after: dict = field(default_factory=dict)
    scans: list[str] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    rows: dict[str, list] = field(default_factory=dict)
    """Case slug -> the rows of its faces.csv after the second scan (before the daemon changed anything)."""
    keywords: dict[str, str] = field(default_factory=dict)
    daemon_log: str = ""


def scan(outcome: Outcome, config: Path) -> str:
    result = cli("scan", outcome.corpus.root, config=config, prefix=(str(PYTHON), "-c", MEASURE_RSS))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    peak = re.search(r"PEAK_RSS_KB (\d+)", output)
    outcome.peak_rss_mb = max(outcome.peak_rss_mb, int(peak[1]) / 1024 if peak else 0.0)
    outcome.scans.append(output)
    return output


def photo_keywords(photo: Path) -> str:
    result = subprocess.run(["exiftool", "-j", "-XMP-dc:Subject", str(photo)], capture_output=True, text=True)
    data = json.loads(result.stdout or "[{}]")[0]
    return str(data.get("Subject", ""))


def run_daemon(outcome: Outcome, config: Path) -> None:
    """The real daemon over the corpus: its catch-up, then the cases' hostile changes while it runs."""
    from tests.support.edit_survival import DaemonRunner

    corpus = outcome.corpus
    runner = DaemonRunner(corpus.state, config)
    log = corpus.state / "daemon.log"
    try:
        runner.start()
        wait_for_catch_up(corpus.state, 120)
        live = [c for c in corpus.cases if c.during_daemon is not None]
        for case in live:
            case.during_daemon(corpus.folder(case), corpus)
        for case in live:
            wait_for_report(log, corpus, case, 60)
        time.sleep(2)  # let the daemon work through what the changes queued
    finally:
        runner.stop()
    outcome.daemon_log = log.read_text(errors="replace")


def reports(output: str, corpus: Corpus, case: HostileCase) -> list[str]:
    """The lines of ``output`` that report ``case``: they name its folder and say what it reports."""
    folder = re.compile(re.escape(str(corpus.folder(case))) + "[/:]")
    return [line for line in output.splitlines() if folder.search(line) and re.search(case.reported, line)]


def wait_for_report(log: Path, corpus: Corpus, case: HostileCase, seconds: float) -> None:
    """Until the daemon reported the case (the test below counts the reports)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and reports(log.read_text(errors="replace"), corpus, case):
            return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory, shared_faces) -> Outcome:
    corpus = Corpus(tmp_path_factory.mktemp("hostile")).build()
    config = write_config(corpus.base / "config.toml", corpus.root, state=corpus.state)
    corpus.state.mkdir(exist_ok=True)
    result = Outcome(corpus, corpus.outside_snapshot())
    scan(result, config)
    for case in corpus.cases:
        if case.named and (corpus.folder(case) / "faces.csv").is_file():
            type_name(corpus.folder(case), GOOD_PHOTO, 1, GOOD_NAME)  # a person names the good photo's face
    scan(result, config)
    for case in corpus.cases:
        folder = corpus.folder(case)
        csv = folder / "faces.csv"
        result.rows[case.slug] = parse_csv(csv.read_bytes()) if csv.is_file() and not csv.is_symlink() else []
        result.keywords[case.slug] = photo_keywords(folder / GOOD_PHOTO)
    run_daemon(result, config)
    result.outside_after = corpus.outside_snapshot()
    cases = sorted({c.name for c in corpus.cases})
    print(f"\nhostile folders: {len(cases)} cases tried; scan peak RSS {result.peak_rss_mb:.0f} MB")
    return result


def case_ids() -> list[HostileCase]:
    return all_cases()


def test_nothing_outside_the_root_was_changed_created_or_removed(outcome):
    before, after = outcome.outside_before, outcome.outside_after
    changed = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert not changed, f"outside the root: {changed}"


@pytest.mark.parametrize("case", case_ids(), ids=lambda c: c.slug)
def test_the_good_photo_next_to_the_case_was_scanned_and_named(outcome, case):
    rows = [r for r in outcome.rows[case.slug] if r.file == GOOD_PHOTO]
    assert rows, f"{case.name}: {GOOD_PHOTO} has no row in faces.csv"
    if case.named:
        assert [r.name for r in rows] == [GOOD_NAME]
        assert GOOD_NAME in outcome.keywords[case.slug], f"{case.name}: the name was not written into the photo"


@pytest.mark.parametrize("case", case_ids(), ids=lambda c: c.slug)
def test_every_bad_item_is_reported_once(outcome, case):
    in_scan, in_daemon = reports(outcome.scans[0], outcome.corpus, case), reports(outcome.daemon_log, outcome.corpus, case)
    if case.during_daemon is not None:
        assert len(in_daemon) == 1, f"{case.name}: {in_daemon}"
    elif case.reported:
        assert len(in_scan) == 1, f"{case.name}: {in_scan}"
        assert len(in_daemon) <= 1, f"{case.name}: {in_daemon}"
    else:
        folder = re.compile(re.escape(str(outcome.corpus.folder(case))) + "[/:]")
        said = [line for line in outcome.scans[0].splitlines() if folder.search(line)]
        assert not said, f"{case.name} should pass without a word: {said}"


def test_no_command_or_daemon_crashed(outcome):
    for output in [*outcome.scans, outcome.daemon_log]:
        assert "Traceback" not in output, output[-4000:]


def test_set_aside_copies_are_owner_only_regular_files(outcome):
    copies = list(outcome.corpus.root.rglob("*.bad-*"))
    assert copies, "the corpus holds a broken faces.pkl: it must have been set aside"
    for copy in copies:
        info = copy.lstat()
        assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600, copy


def test_peak_memory_stayed_bounded(outcome):
    assert 0 < outcome.peak_rss_mb < RSS_BOUND_MB, f"scan peaked at {outcome.peak_rss_mb:.0f} MB"
