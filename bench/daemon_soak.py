"""Daemon soak: a big library, a steady stream of changes, the daemon's memory measured all along.

    .venv/bin/python bench/daemon_soak.py --files 100000 --events 10000

Builds a library of ``--files`` photos in folders of 100 (tiny JPEGs, already indexed: each
folder's faces.pkl/faces.csv say they were scanned, with one face and a 128-d encoding per photo,
one in ten named), starts the real ``facesidecar watch`` on it with ``daemon.memory_limit_mb``,
waits for its start-up catch-up, then sends a steady stream of events to a few "hot" folders:
new photos with real faces (copied in with temp+rename, as uploads do), typed names in
faces.csv, deleted photos. Every batch waits until the daemon has processed it (faces.csv shows
every photo on disk and every typed name). RSS (psutil, the daemon's process) is sampled twice a
second; the start and the end of the curve are printed. Fails (exit 1) if RSS ever passes the
limit, or grows by more than ``--max-growth`` between the first and the last tenth of the events.

Per-change cost: every event's time until its folder shows it (event to folder job done,
``p50_job_s``/``p95_job_s``: debounce and settle times included, and the wait behind the batch's
other events: use ``--batch 1`` for the cost of one change alone), and the time from SIGTERM to the
daemon's exit at the end (``stop_s``). The library is built without clusters, so the daemon also
recomputes every cluster in the background between jobs, as after a reset.

    .venv/bin/python bench/daemon_soak.py --files 100000 --events 300 --batch 1 --faces-share 1.0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.daemon_soak import STOP_LIMIT, run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--hot", type=int, default=20, help="folders that receive the events")
    parser.add_argument("--batch", type=int, default=40, help="events sent before waiting for the daemon")
    parser.add_argument("--limit-mb", type=int, default=1500, help="daemon.memory_limit_mb")
    parser.add_argument("--max-growth", type=float, default=40.0, help="MB of RSS growth that fails the run")
    parser.add_argument("--metadata", action="store_true", help="let the daemon write names into photos")
    parser.add_argument("--faces-share", type=float, default=1.0,
                        help="share of the generated photos that hold a face (what guessing and clustering work on)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work in this (new) folder and keep it")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True)
    result = run(args.files, args.events, args.hot, args.batch, args.limit_mb, args.metadata, args.seed,
                 args.max_growth, args.keep, faces_share=args.faces_share)
    print(result.line())
    print("RSS curve: " + result.curve(8))
    ok = result.peak < result.limit_mb and result.growth <= args.max_growth and result.stop_seconds < STOP_LIMIT
    faces = round(result.files * args.faces_share)
    print(f"RESULT files={result.files} faces~{faces} events={result.events} batch={args.batch} "
          f"p50_job_s={result.job_quantile(0.5):.2f} p95_job_s={result.job_quantile(0.95):.2f} "
          f"stop_s={result.stop_seconds:.2f} rss_start_mb={result.tenth('first'):.0f} "
          f"rss_end_mb={result.tenth('last'):.0f} peak_mb={result.peak:.0f} limit_mb={result.limit_mb} "
          f"{'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
