"""``facesidecar export NAME [-o FILE]``: GDPR access, everything held about a person as JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..compose import mirror_adapter
from ..gdpr import export_person
from .common import settings_from
from .db import library_roots


def run(args: argparse.Namespace) -> int:
    settings = library_roots(settings_from(args), args.paths)
    mirror = mirror_adapter(settings)
    try:
        data = export_person(settings.root_paths(), args.name, settings.exclude, mirror)
    finally:
        if mirror is not None:
            mirror.close()
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"
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
        "them (photo, box, encodings, times, name history), earlier names, pending rows and the database rows.",
    )
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (mode 0600) instead of stdout")
    parser.add_argument("--root", dest="paths", action="append", default=[], metavar="PATH",
                        help="the library below PATH instead of the configured roots (repeatable)")
    parser.set_defaults(func=run)
