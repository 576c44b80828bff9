"""``facesidecar export NAME [-o FILE]``: GDPR access, everything held about a person as JSON."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from ..compose import mirror_adapter
from ..errors import FacesidecarError
from ..gdpr import check_person, export_person
from .common import settings_from
from .db import library_roots
from .person_match import did_you_mean, library_people, match_person, mention_similar, resolve_names


def holds_anything(data: dict) -> bool:
    database = data.get("database") or {}
    return bool(data["faces"] or data["earlier_names"] or data["pending_rows"]
                or any(rows for key, rows in database.items() if key != "error"))


def run(args: argparse.Namespace) -> int:
    settings = library_roots(settings_from(args), args.paths)
    match = match_person(check_person(args.name), library_people(settings))
    names = resolve_names(match, "export", args.yes)
    if len(names) > 1:
        raise FacesidecarError("export one person at a time: give the exact name ("
                               + " or ".join(f"facesidecar export {shlex.quote(n)}" for n in names) + ")")
    mirror = mirror_adapter(settings)
    try:
        data = export_person(settings.root_paths(), names[0], settings.exclude, mirror)
    finally:
        if mirror is not None:
            mirror.close()
    if not holds_anything(data):
        print(f"nothing is held about {names[0]!r}; {did_you_mean(match, 'export')}", file=sys.stderr)
        return 1
    mention_similar(match, "export")
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"
    # a file name that is not UTF-8 (surrogate escapes) becomes a \udcXX escape: valid JSON, read back the same
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if args.output and args.output != "-":
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        print(f"{len(data['faces'])} faces of {data['person']!r} exported to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "export", parents=[parent], help="GDPR access: everything held about a person, as JSON",
        description="Write everything facesidecar holds about NAME as JSON: every face confirmed or guessed as "
        "them (photo, box, encodings, times, name history), earlier names, pending rows and the database rows. "
        "NAME is matched exactly; if nobody has exactly that name, a name equal without case and accents is "
        "offered and used after a confirmation (--yes). Exit status 1 when nothing is held about the person.",
    )
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--yes", action="store_true",
                        help="when NAME is not stored exactly but matches a name without case and accents "
                        "(zoe: Zoë), export that one without asking")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (mode 0600) instead of stdout")
    parser.add_argument("--root", dest="paths", action="append", default=[], metavar="PATH",
                        help="the library below PATH instead of the configured roots (repeatable)")
    parser.set_defaults(func=run)
