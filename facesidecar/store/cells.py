"""How text cells of faces.csv are written so that spreadsheets show them and never run them.

faces.csv is opened in spreadsheets. A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return (or their full-width forms, which some spreadsheets take for the same) would be
evaluated as a formula: ``=HYPERLINK(...)`` in a name or a file name is a classic CSV injection.
Such a cell is written with a leading apostrophe, as OWASP suggests, and the apostrophe is taken
off again when faces.csv is read, so the name comes back as it was (``-ignore-`` is written as
``'-ignore-``). A cell that starts with an apostrophe followed by one of those characters (or by
another apostrophe) gets one more, so no text is ever changed by the round trip.

File names may hold anything the file system allows. ``file`` cells write the characters a
spreadsheet or a terminal cannot carry as ``%XX`` of the file name's bytes: control characters
(line breaks, escape sequences) and bytes that are not UTF-8 (which Python holds as surrogate
escapes). A ``%`` is written as ``%25`` only where it is followed by two hex digits, so common
names such as ``100%.jpg`` stay as they are and every name still reads back exactly.
"""

from __future__ import annotations

import re
import unicodedata

FORMULA_START = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
APOSTROPHE = "'"
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
_HEX = frozenset("0123456789abcdefABCDEF")


def to_cell(text: str) -> str:
    """``text`` as a faces.csv cell a spreadsheet shows as text."""
    if text[:1] in FORMULA_START or from_cell(text) != text:
        return APOSTROPHE + text
    return text


def from_cell(cell: str) -> str:
    """The text of a cell :func:`to_cell` wrote (a cell without the guard is taken as it is)."""
    if cell[:1] == APOSTROPHE and cell[1:2] and (cell[1] in FORMULA_START or cell[1] == APOSTROPHE):
        return cell[1:]
    return cell


def file_to_cell(file: str) -> str:
    """A file name (surrogate escapes for bytes that are not UTF-8) as a ``file`` cell."""
    out = []
    for i, char in enumerate(file):
        if _needs_escape(char):
            out.append("".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogateescape")))
        elif char == "%" and len(file) > i + 2 and file[i + 1] in _HEX and file[i + 2] in _HEX:
            out.append("%25")
        else:
            out.append(char)
    return to_cell("".join(out))


def file_from_cell(cell: str) -> str:
    """The file name a ``file`` cell stands for (the inverse of :func:`file_to_cell`)."""
    text = from_cell(cell)
    if "%" not in text:
        return text
    raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


def _needs_escape(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cs")
