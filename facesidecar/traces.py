"""Finding a person's name in bytes that people's editors wrote, whatever the editor did to it.

A set-aside copy of faces.csv holds what a spreadsheet or text editor saved: UTF-8 with or without
a BOM, UTF-16 with or without one, Windows-1252 or Latin-1; the name composed or decomposed
(NFC/NFD), with doubled or non-breaking spaces, in another case. An erasure must find the name in
all of these, so text is compared in one folded form (NFKC, case-folded, white space collapsed)
after decoding the bytes every way an editor may have encoded them.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Iterator

EDITOR_ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be", "cp1252", "latin-1")
_BOMS = ((b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"), (b"\xef\xbb\xbf", "utf-8-sig"))


def folded(text: str) -> str:
    """``text`` in the form names are searched in: NFKC, case-folded, runs of white space as one space."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(text.split())


_CHUNK = 1 << 20


def _readings(data: bytes, encodings: tuple[str, ...]) -> Iterator[str]:
    """``data`` decoded in each of ``encodings`` (UTF-16 at both byte offsets), one at a time."""
    for encoding in encodings:
        yield data.decode(encoding, errors="replace")
        if encoding.startswith("utf-16"):
            yield data[1:].decode(encoding, errors="replace")


def mentions(data: bytes, name: str, encodings: tuple[str, ...] = EDITOR_ENCODINGS) -> bool:
    """Whether ``data`` holds ``name`` in any of ``encodings``, Unicode forms, spacing or case.

    Read in overlapping 1 MB pieces, so that a large file costs no more than a small one.
    """
    needle = folded(name)
    overlap = 8 * len(name) + 64
    for start in range(0, max(len(data), 1), _CHUNK):
        piece = data[start:start + _CHUNK + overlap]
        if any(needle in folded(text) for text in _readings(piece, encodings)):
            return True
    return False


def reader_encoding(data: bytes) -> str:
    """The encoding faces.csv's reader takes ``data`` to be in (store/csvfile.py), Latin-1 at worst."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    for encoding in ("utf-8", "cp1252"):
        with contextlib.suppress(UnicodeDecodeError):
            data.decode(encoding)
            return encoding
    return "latin-1"


def without_lines_naming(data: bytes, name: str) -> bytes:
    """``data`` without the lines that hold ``name``, decoded as the reader would and written back
    in the same encoding (a BOM kept). The caller checks :func:`mentions` again: a name spread over
    two lines, or in another encoding than the file's, is still there."""
    encoding = reader_encoding(data)
    needle = folded(name)
    lines = data.decode(encoding).splitlines(keepends=True)
    return "".join(line for line in lines if needle not in folded(line)).encode(encoding)
