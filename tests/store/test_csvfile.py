"""faces.csv: tolerant reading of what editors save, canonical writing."""

from __future__ import annotations

import pytest

from facesidecar.errors import SidecarError
from facesidecar.model import IGNORE, Box
from facesidecar.store.csvfile import COLUMNS, OutRow, format_csv, normalize_name, parse_csv, read_csv

CANONICAL = (
    "file,face_nr,x,y,w,h,name,guess,distance,cluster,rev\n"
    "a.jpg,1,0.1000,0.2000,0.3000,0.4000,Anna,,,,3\n"
    "b b.jpg,1,0.5000,0.5000,0.1000,0.1000,,Bob,0.4100,u1,1\n"
)


def test_canonical_round_trip():
    rows = [
        OutRow("b b.jpg", 1, Box(0.5, 0.5, 0.1, 0.1), "", "Bob", 0.41, "u1", 1),
        OutRow("a.jpg", 1, Box(0.1, 0.2, 0.3, 0.4), "Anna", "", None, "", 3),
    ]
    data = format_csv(rows)
    assert data.decode() == CANONICAL
    parsed = parse_csv(data)
    assert [(r.file, r.face_nr, r.name, r.rev) for r in parsed] == [("a.jpg", 1, "Anna", 3), ("b b.jpg", 1, "", 1)]
    assert parsed[0].box == Box(0.1, 0.2, 0.3, 0.4)


def spreadsheet_variant(bom: bool, sep: str, crlf: bool, quote_all: bool, decimal_comma: bool) -> bytes:
    lines = []
    for line in CANONICAL.strip().split("\n"):
        cells = line.split(",")
        if decimal_comma:
            cells = [c.replace(".", ",") if c[:1].isdigit() and "." in c and not c.endswith("jpg") else c for c in cells]
        while cells and cells[-1] == "":
            cells.pop()
        if quote_all:
            cells = ['"' + c + '"' for c in cells]
        lines.append(sep.join(cells))
    text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("sep,decimal_comma", [(",", False), (";", True), (";", False), ("\t", False)])
@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("quote_all", [False, True])
def test_reads_what_spreadsheets_save(bom, sep, decimal_comma, crlf, quote_all):
    data = spreadsheet_variant(bom, sep, crlf, quote_all, decimal_comma)
    rows = parse_csv(data)
    assert [(r.file, r.name, r.rev) for r in rows] == [("a.jpg", "Anna", 3), ("b b.jpg", "", 1)]
    assert rows[0].box == Box(0.1, 0.2, 0.3, 0.4)


def test_reordered_columns_and_missing_extras():
    data = b"name,file,face_nr,h,w,y,x\nZo\xc3\xab,a.jpg,1,0.4,0.3,0.2,0.1\n"
    (row,) = parse_csv(data)
    assert row.name == "Zoë" and row.box == Box(0.1, 0.2, 0.3, 0.4) and row.rev is None


def test_windows_1252_is_read_with_warning(caplog):
    data = "file,face_nr,x,y,w,h,name\na.jpg,1,0.1,0.2,0.3,0.4,Zoë\n".encode("cp1252")
    (row,) = parse_csv(data, "x/faces.csv")
    assert row.name == "Zoë"
    assert "not UTF-8" in caplog.text


def test_names_are_normalized():
    assert normalize_name("  Zoe\u0308   Ñúñez \n") == "Zoë Ñúñez"
    assert normalize_name("-IGNORE-") == IGNORE
    assert normalize_name("ignore") == IGNORE


def test_names_with_commas_quotes_newlines_emoji_rtl_round_trip():
    names = ['Smith, John', 'Anna "Nan" Lee', "Line\nBreak", "😀 Emoji", "שלום עליכם", "李小龍"]
    rows = [OutRow(f"{i}.jpg", 1, Box(0.1, 0.1, 0.1, 0.1), n, "", None, "", 1) for i, n in enumerate(names)]
    parsed = parse_csv(format_csv(rows))
    assert [r.name for r in parsed] == [normalize_name(n) for n in names]


@pytest.mark.parametrize("bad_file", ["../x.jpg", "/etc/passwd", "sub/a.jpg", "..", ".", ""])
def test_path_in_file_column_costs_only_its_row(bad_file):
    data = f"file,face_nr,x,y,w,h,name\nok.jpg,1,0.1,0.1,0.1,0.1,Ann\n{bad_file},1,0.1,0.1,0.1,0.1,Eve\n".encode()
    read = read_csv(data, "faces.csv")
    assert [(r.file, r.name) for r in read.rows] == [("ok.jpg", "Ann")]
    (problem,) = read.problems
    assert problem.line == 3 and problem.file is None
    assert problem.message.startswith("faces.csv line 3: file ") and "not a file name" in problem.message


@pytest.mark.parametrize(
    "cells,message",
    [
        ("one,0.1,0.1,0.1,0.1,Eve", "column face_nr must be a number"),
        ("1,inf,0.1,0.1,0.1,Eve", "column x must be a number"),
        ("1,0.1,nan,0.1,0.1,Eve", "column y must be a number"),
        ("1,0.1,0.1,1e400,0.1,Eve", "column w must be a number"),
        ("1,0.1,0.1,0.1,-Infinity,Eve", "column h must be a number"),
        ("1,0.1,0.1,0.1,1_0,Eve", "column h must be a number"),
        ("99999999999999999999999999999999,0.1,0.1,0.1,0.1,Eve", "face_nr must be a whole number"),
        ("1.5,0.1,0.1,0.1,0.1,Eve", "face_nr must be a whole number"),
        ("1,7,0.1,0.1,0.1,Eve", "fractions between 0 and 1"),
        ("1,0.1,0.1,0.1,0.1,E\x00ve", "control character U+0000"),
        ("1,0.1,0.1,0.1,0.1,E\x1b[31mve", "control character U+001B"),
        ("1\x00,0.1,0.1,0.1,0.1,Eve", "column face_nr must be a number"),
    ],
)
def test_a_bad_cell_costs_only_its_row_and_names_file_and_line(cells, message):
    data = f"file,face_nr,x,y,w,h,name\nok.jpg,1,0.1,0.1,0.1,0.1,Ann\nbad.jpg,{cells}\nz.jpg,1,0.1,0.1,0.1,0.1,Zed\n"
    read = read_csv(data.encode(), "album/faces.csv")
    assert [(r.file, r.name) for r in read.rows] == [("ok.jpg", "Ann"), ("z.jpg", "Zed")]
    (problem,) = read.problems
    assert (problem.line, problem.file) == (3, "bad.jpg")
    assert problem.message.startswith("album/faces.csv line 3: ") and message in problem.message
    assert "\x00" not in problem.message and "\x1b" not in problem.message


@pytest.mark.parametrize("rev", ["inf", "nan", "1e400", "-3", "2.5", "99999999999999999999", "x"])
def test_an_unusable_rev_is_no_rev_and_the_row_counts(rev):
    data = f"file,face_nr,x,y,w,h,name,rev\na.jpg,1,0.1,0.1,0.1,0.1,Ann,{rev}\n".encode()
    (row,) = parse_csv(data)
    assert row.rev is None and row.name == "Ann"


def test_a_multi_line_row_is_reported_at_its_first_line():
    data = b'file,face_nr,x,y,w,h,name\n"two\nlines.jpg",x,0.1,0.1,0.1,0.1,Ann\n'
    assert read_csv(data).problems[0].line == 2


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_as_spreadsheets_save_unicode_text(encoding):
    text = "file\tface_nr\tx\ty\tw\th\tname\r\na.jpg\t1\t0,1\t0,2\t0,3\t0,4\tZoë\r\n"
    data = text.encode(encoding)
    if encoding != "utf-16":
        data = ("\ufeff").encode(encoding) + data
    (row,) = parse_csv(data)
    assert (row.file, row.name, row.box) == ("a.jpg", "Zoë", Box(0.1, 0.2, 0.3, 0.4))


@pytest.mark.parametrize(
    "data,message",
    [
        (b"file,face_nr,x,y,w,name\n", "missing column"),
        (b"file,face_nr,x,y,w,h,name,name\n", "appears twice"),
        (b"\xff\xfe\x00\x81garbage", "not UTF-8"),
    ],
)
def test_malformed_files_name_the_problem(data, message):
    with pytest.raises(SidecarError, match=message):
        parse_csv(data, "faces.csv")


def test_empty_file_has_no_rows():
    assert parse_csv(b"") == []
    assert parse_csv(",".join(COLUMNS).encode() + b"\n") == []
