"""The hostile-folder corpus (tests/hardening/hostile.py) through the real ``facesidecar scan``, each
case on its own, against a peer measured in the same run: the same good photos without the case.

    .venv/bin/python bench/hostile.py                  # every registered case
    .venv/bin/python bench/hostile.py --only fifo      # cases whose name contains "fifo"

For every case: a root holding the case's folder (a good photo plus the hostile item) next to a
sentinel tree, one ``facesidecar scan``, then the tree outside the root is compared entry by entry
(kind, mode, size, mtime, content, link target; new entries count too). The peer is a root with the
good photo only. Prints one line per case and ``RESULT cases tried, files written outside the roots
(must be 0), peak RSS of the worst case vs the peer``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests.hardening.helpers import PYTHON, write_config  # noqa: E402
from tests.hardening.hostile import Corpus, HostileCase, all_cases  # noqa: E402

MEASURE = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
           "print(f'PEAK_RSS_KB {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr); "
           "sys.exit(code)")


@dataclass
class Run:
    name: str
    outside_changes: int
    peak_mb: float
    exit_code: int
    crashed: bool


def scan_once(base: Path, cases: list[HostileCase], name: str) -> Run:
    corpus = Corpus(base).build(cases)
    config = write_config(base / "config.toml", corpus.root, state=corpus.state)
    before = corpus.outside_snapshot()
    command = [str(PYTHON), "-c", MEASURE, str(PYTHON), "-m", "facesidecar", "scan", "--config", str(config),
               str(corpus.root)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT, timeout=900)
    after = corpus.outside_snapshot()
    changed = sum(1 for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    peak = re.search(r"PEAK_RSS_KB (\d+)", result.stderr)
    return Run(name, changed, int(peak[1]) / 1024 if peak else 0.0, result.returncode, "Traceback" in result.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    args = parser.parse_args()
    cases = [c for c in all_cases() if args.only in c.name]
    with tempfile.TemporaryDirectory(prefix="facesidecar-hostile-") as work:
        harmless = HostileCase("peer: the good photo alone", lambda folder, corpus: None)
        peer = scan_once(Path(work) / "peer", [harmless], harmless.name)
        print(f"{peer.name:<55} outside changes {peer.outside_changes}  peak RSS {peer.peak_mb:6.0f} MB")
        runs = []
        for n, case in enumerate(cases):
            run = scan_once(Path(work) / f"case-{n}", [case], case.name)
            runs.append(run)
            flag = "" if run.exit_code == 0 and not run.crashed else f"  exit {run.exit_code}" + (" TRACEBACK" if run.crashed else "")
            print(f"{run.name:<55} outside changes {run.outside_changes}  peak RSS {run.peak_mb:6.0f} MB{flag}")
    worst = max(runs, key=lambda r: r.peak_mb) if runs else peer
    outside = sum(r.outside_changes for r in runs)
    print(f"RESULT {len(runs)} cases tried, {outside} files written outside the roots (must be 0), "
          f"peak RSS {worst.peak_mb:.0f} MB on the worst case ({worst.name}) vs {peer.peak_mb:.0f} MB for the peer")
    return 1 if outside or any(r.crashed or r.exit_code for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
