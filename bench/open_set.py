"""Open-set naming (issue 14): do strangers and look-alikes stay without a name?

The naming test of bench/accuracy.py names *every* identity, so it never meets a stranger. Here
each fold names only about half of the identities of tests/data/faces; everything else is a
stranger, as in a real library where most faces belong to people nobody named:

1. Copy the identity, group and no-face photos and scan them once with the real engine (its
   answers are kept in a cache folder by the decoded pixels' hash: a second run, or the slow test
   after the bench, detects nothing again).
2. Per fold and per count of confirmed faces (1 and 3): copy the scanned library (photos as hard
   links, sidecars as files), type each named person's name into ``faces.csv`` for the largest face
   of their first 1 (or 3) photos, as a person does, scan again through the real scanner, read
   ``guess`` from the sidecars.
3. Judge each guess by the ground truth of labels.csv (no face is labelled by looking at it):

   * right: the largest face of a named person's other photo got that person's name;
   * false: any other name there, any name on a stranger's photo or a no-face photo, a name in a
     group photo whose ``identities_present`` does not list it, the same name twice in one photo;
   * unjudged (counted apart): names on the smaller faces of identity photos and in group photos
     whose people the source does not state, a listed person's name in a group photo (we cannot
     tell which face is theirs).

   precision = right / (right + false); recall = right / the named people's other photos.

The curves: the same folds through ``Gallery`` with a sweep of the threshold, for the old rule
(nearest person within the threshold and ``margin`` ahead of the second), the seed system's plain
1-NN rule (no margin) and the open-set rule, side by side in one run.

    .venv/bin/python bench/open_set.py [--faces DIR] [--cache DIR] [--work DIR] [--folds 5]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.open_set import DEFAULT_FACES, FOLDS, report, run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES)
    parser.add_argument("--cache", type=Path, help="keep the engine's answers here across runs (default: temporary)")
    parser.add_argument("--work", type=Path, help="keep the fold libraries here (default: temporary)")
    parser.add_argument("--folds", type=int, default=FOLDS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp) / "work"
        cache = args.cache or Path(tmp) / "cache"
        if args.work and work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        started = time.monotonic()
        results = run(args.faces, work, cache, args.folds)
        print(report(results))
        print(f"\n{time.monotonic() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
