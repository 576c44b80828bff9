"""``facesidecar name IMAGE FACE_NR NAME``: confirm (or clear, or ignore) one face's name."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..model import IGNORE
from ..naming_commands import library_settings, name_face, roots_for_photos
from .common import scanner_for, settings_from


def run(args: argparse.Namespace) -> int:
    image = Path(args.image)
    settings = library_settings(settings_from(args), roots_for_photos([image]))
    with scanner_for(settings) as scanner:
        named = name_face(scanner, image, args.face_nr, args.name)
    where = f"{named.path} face {named.face_nr}"
    if named.old == named.new:
        print(f"{where}: already {named.new or 'without a name'}")
    elif not named.new:
        print(f"{where}: name {named.old!r} cleared")
    elif named.new == IGNORE:
        print(f"{where}: ignored" + (f" (was {named.old!r})" if named.old else ""))
    else:
        print(f"{where}: {named.new}" + (f" (was {named.old!r})" if named.old else ""))
    return 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "name", parents=[parent], help="set the name of one face (as typing it into faces.csv would)",
        description="Confirm NAME for face FACE_NR (1-based, left to right, as in faces.csv) of IMAGE. "
        f"An empty NAME (\"\") clears the name; {IGNORE} marks the face as not a face / do not name. "
        "The name goes into faces.csv and the photo's metadata, and guesses everywhere are updated.",
    )
    parser.add_argument("image", metavar="IMAGE", help="the photo (already scanned)")
    parser.add_argument("face_nr", metavar="FACE_NR", type=int, help="the face's number in faces.csv")
    parser.add_argument("name", metavar="NAME", help=f'the person\'s name; "" to clear, {IGNORE} to ignore; a name '
                        'starting with "-" goes after "--" (facesidecar name IMG 2 -- -Minus)')
    parser.set_defaults(func=run)
    _take_ignore_as_a_name(parser)


def _take_ignore_as_a_name(parser: argparse.ArgumentParser) -> None:
    """Let ``facesidecar name IMG 2 -ignore-`` work: argparse would take ``-ignore-`` for an option."""
    parse_optional = parser._parse_optional

    def positional_ignore(arg: str):
        return None if arg == IGNORE else parse_optional(arg)

    parser._parse_optional = positional_ignore
