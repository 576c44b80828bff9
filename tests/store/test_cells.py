"""store/cells.py: faces.csv cells no spreadsheet evaluates, file names of any bytes, both lossless."""

from __future__ import annotations

import os

import pytest

from facesidecar.model import IGNORE, Box
from facesidecar.store.cells import file_from_cell, file_to_cell, from_cell, to_cell
from facesidecar.store.csvfile import OutRow, format_csv, parse_csv


@pytest.mark.parametrize("text,cell", [
    ("Anna", "Anna"), (IGNORE, "'-ignore-"), ("=1+1", "'=1+1"), ("+49 30", "'+49 30"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("\uff1dcmd", "'\uff1dcmd"),
    ("'t Hooft", "'t Hooft"), ("'=x", "''=x"), ("''", "'''"), ("'", "'"), ("", ""),
])
def test_formula_cells_get_an_apostrophe_that_reading_takes_off(text, cell):
    assert to_cell(text) == cell
    assert from_cell(cell) == text


@pytest.mark.parametrize("raw", [
    b"plain.jpg", b" leading and trailing .jpg ", b"back\\slash.jpg", b"new\nline.jpg", b"cr\r.jpg",
    b"\tstarts with tab.jpg", b"-starts-with-dash.jpg", b"=HYPERLINK(1).jpg", b"@x.jpg", b"'=x.jpg",
    b"caf\xe9 latin1.jpg", b"\xff\xfe.jpg", b"100%.jpg", b"a%41.jpg", b"%%41%4.jpg", b"%C3%A9.jpg",
    b"\x1b[31mred.jpg", "Zoë 😀.jpg".encode(), b"\xc3",
])
def test_any_file_name_round_trips_through_its_cell(raw):
    name = os.fsdecode(raw)
    cell = file_to_cell(name)
    assert file_from_cell(cell) == name
    assert cell.encode("utf-8")  # no surrogates left: faces.csv is UTF-8
    assert not any(c in cell for c in "\n\r\x1b") and cell[:1] not in "=+-@\t\r"


def test_common_file_names_stay_readable():
    assert file_to_cell("100% fun.jpg") == "100% fun.jpg"
    assert file_to_cell("caf\udce9.jpg") == "caf%E9.jpg"
    assert file_to_cell("new\nline.jpg") == "new%0Aline.jpg"


def test_faces_csv_round_trips_every_odd_name_and_file():
    files = [os.fsdecode(b) for b in (b"-x.jpg", b"=1+1.jpg", b" sp .jpg", b"a\\b.jpg", b"\xff.jpg", b"n\nl.jpg")]
    names = [IGNORE, "=cmd|' /C calc'!A0", "+1", "@x", "'=y", "Ali\u200cReza"]
    rows = [OutRow(f, 1, Box(0.1, 0.1, 0.1, 0.1), n, n, None, n, 1) for f, n in zip(files, names, strict=True)]
    data = format_csv(rows)
    text = data.decode("utf-8")
    for line in text.splitlines()[1:]:
        assert all(cell[:1] not in "=+-@" for cell in line.split(",")[:1] + line.split(",")[6:8])
    assert sorted((r.file, r.name) for r in parse_csv(data)) == sorted(zip(files, names, strict=True))
