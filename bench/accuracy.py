"""How far a user can trust the guesses: verification accuracy and the naming protocol.

(a) **Verification**: every pair of ``pairs.csv``, largest face of each photo, "same" when the
    distance is within the model's threshold (a photo without a face counts as "different").
(b) **The protocol a user follows**: copy the photos, ``facesidecar scan``, type each person's
    name into ``faces.csv`` for the largest face of their photo 1 only (the file is edited as a
    person would: read, change one cell, save), ``facesidecar scan`` again, then count

    * on each person's other photos (largest face): right guesses, wrong guesses, no guess
      -> precision and recall (recall over all the other photos, a photo without a face is a miss);
    * the same on the derived copies in ``variants/`` (reported apart: they are easy);
    * guesses on the no-face photos (must be 0);
    * names guessed in group photos for people not in ``identities_present`` (where it is stated).

The scans run through the real command line (``facesidecar.cli.main.main``) with metadata writing
switched off (this measures naming, not exiftool), so the numbers are what a user gets.

    .venv/bin/python bench/accuracy.py [--faces DIR] [--work DIR] [--margin M] [--threshold T]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.accuracy import DEFAULT_FACES, protocol, report, verification  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES)
    parser.add_argument("--work", type=Path, help="keep the copied library here (default: a temporary folder)")
    parser.add_argument("--margin", type=float)
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--skip-verification", action="store_true")
    parser.add_argument("--skip-protocol", action="store_true")
    args = parser.parse_args(argv)
    ver = None if args.skip_verification else verification(args.faces)
    if ver is not None:
        print(report(ver, None), flush=True)
    proto = None
    if not args.skip_protocol:
        if args.work:
            args.work.mkdir(parents=True, exist_ok=True)
            proto = protocol(args.faces, args.work, args.margin, args.threshold)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                proto = protocol(args.faces, Path(tmp), args.margin, args.threshold)
        print(report(None, proto))
    return 0


if __name__ == "__main__":
    sys.exit(main())
