"""Hostile cases of rules 4 and 6 of issue 13: file names of any bytes a file system allows, names
and file names a spreadsheet would run, and faces.csv cells that are no numbers (each costs its row)."""

from __future__ import annotations

import os
from pathlib import Path

from .helpers import put_photo
from .hostile import Corpus, register, write_bytes

HEADER = "file,face_nr,x,y,w,h,name,guess,distance,cluster,rev\n"


def _photos(folder: Path, names: list[str | bytes]) -> None:
    for n, name in enumerate(names):
        put_photo(folder / (os.fsdecode(name) if isinstance(name, bytes) else name), 1 + n % 4)


@register("file names a spreadsheet or a shell would misread", owner="names")
def formula_file_names(folder: Path, corpus: Corpus) -> None:
    """Scanned and written to faces.csv as text a spreadsheet shows (store/cells.py), without a word."""
    _photos(folder, ["=HYPERLINK(1).jpg", "-rf.jpg", "+1.jpg", "@SUM(1).jpg", "\tTab.jpg"])


@register("file names with spaces, backslashes and bytes that are not UTF-8", owner="names")
def odd_byte_file_names(folder: Path, corpus: Corpus) -> None:
    _photos(folder, [" leading.jpg", "trailing .jpg ", "back\\slash.jpg", b"caf\xe9.jpg", b"\xff\xfe.jpg", "100%41.jpg"])


@register("file name with a line break and an escape sequence", owner="names")
def line_break_file_name(folder: Path, corpus: Corpus) -> None:
    """Scanned and written to faces.csv (as ``two%0Alines%1B[2J.jpg``) without a word; only a name
    confirmed for it would be refused by the metadata writer (exiftool's argument lines)."""
    _photos(folder, ["two\nlines\x1b[2J.jpg"])


def _bad_cell_case(title: str, row: str, reported: str) -> None:
    @register(title, owner="names", reported=reported)
    def build(folder: Path, corpus: Corpus) -> None:
        write_bytes(folder / "faces.csv", (HEADER + row + "\n").encode())


_bad_cell_case("faces.csv cell inf", "good.jpg,1,inf,0.1,0.1,0.1,Eve,,,,1", r"line 2: column x must be a number, got 'inf'")
_bad_cell_case("faces.csv cell nan", "good.jpg,1,0.1,nan,0.1,0.1,Eve,,,,1", r"line 2: column y must be a number, got 'nan'")
_bad_cell_case("faces.csv cell 1e400", "good.jpg,1,0.1,0.1,1e400,0.1,Eve,,,,1", r"line 2: column w must be a number, got '1e400'")
_bad_cell_case("faces.csv huge face number", f"good.jpg,{10**40},0.1,0.1,0.1,0.1,Eve,,,,1", r"line 2: face_nr must be a whole number")
_bad_cell_case("faces.csv NUL byte in a name", "good.jpg,1,0.1,0.1,0.1,0.1,E\x00ve,,,,1", r"line 2: a name cannot contain the control character U\+0000")
