"""Edit survival: a person saves faces.csv the way real editors do while the real daemon rewrites it
and is killed with SIGKILL at random moments; every edit saved must end up in faces.csv and faces.pkl.

    .venv/bin/python bench/edit_survival.py --rounds 1000 --seed 1

Each round (seeded) the "person" reads faces.csv and checks that every edit saved so far is still
there, then saves one new name with one of these editors:

* ``inplace``    open with O_TRUNC and write at once (most small tools, ``echo >``);
* ``rename``     write a temporary file next to it and rename it over (gedit, vim without backupcopy);
* ``slow``       truncate, then write in pieces with pauses (a slow network mount, nano on a NAS);
* ``office``     LibreOffice: ``.~lock.faces.csv#`` lock file, BOM, ``;``, CRLF, every field quoted,
                 decimal commas, temp+rename;
* ``webdav``     HTTP PUT through a real WebDAV server (wsgidav + cheroot) in chunks;
* ``stale``      a copy of a file facesidecar wrote a few rounds ago, with one new name in it;
* ``stall``      truncate, then nothing for longer than the daemon's settle time, then the bytes in
                 pieces (an HTTP PUT from a slow link, an editor on a loaded machine: issue 20, seed 3);
* ``aside``      an in-place save that lands in the file the daemon's swap just moved aside
                 (``.faces.csv.tmp-<pid>-<id>``), the daemon killed while it waited for the save to
                 settle: faces.csv looks unchanged and only the leftover holds the edit (issue 20).

Meanwhile new photos arrive, ``facesidecar name`` sets names from the shell, and the daemon is
killed with SIGKILL at a random moment of the round (also during its start-up catch-up) and
restarted. At the end the daemon is stopped, one ``facesidecar scan`` runs (the next run), and
every face's name in faces.csv and faces.pkl is compared with the last name saved for it. An edit that
types into a row the very name facesidecar wrote with that row's rev, while the face has another name
now, is not checked: by the three-way rule such a row is untouched (a stale copy looks the same).
Prints ``rounds, edits, lost``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.edit_survival import run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--photos", type=int, default=8, help="photos in the folder at the start")
    parser.add_argument("--kill-rate", type=float, default=0.35, help="share of rounds with a SIGKILL")
    parser.add_argument("--round-seconds", type=float, default=1.2, help="longest pause after an edit")
    parser.add_argument("--metadata", action="store_true", help="let the daemon write names into the photos too")
    parser.add_argument("--no-webdav", action="store_true")
    parser.add_argument("--debug", action="store_true", help="the daemon logs at debug level (daemon.log)")
    parser.add_argument("--keep", type=Path, help="work in this (new) folder and keep it")
    parser.add_argument("--max-minutes", type=float, help="start no round after this long (then the final check); "
                                                           "the figures say how many rounds ran")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True)
    figures = run(args.rounds, args.seed, args.photos, args.metadata, args.kill_rate, args.round_seconds,
                  args.keep, not args.no_webdav, level="debug" if args.debug else "info",
                  max_seconds=args.max_minutes * 60 if args.max_minutes else None)
    print(figures.line())
    print("saves per editor: " + ", ".join(f"{k} {v}" for k, v in sorted(figures.by_editor.items())))
    for detail in figures.lost_details:
        print("lost:", detail)
    print(f"RESULT rounds={figures.rounds} edits={figures.edits} lost={len(figures.lost)} set_back={figures.set_back}")
    return 1 if figures.lost else 0


if __name__ == "__main__":
    sys.exit(main())
