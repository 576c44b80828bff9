"""faces.csv: tolerant reading of what editors save, canonical writing."""

from __future__ import annotations

import pytest

from facesidecar.errors import SidecarError
from facesidecar.model import IGNORE, Box
from facesidecar.store.csvfile import COLUMNS, OutRow, format_csv, normalize_name, parse_csv

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


@pytest.mark.parametrize("bad_file", ["../x.jpg", "/etc/passwd", "sub/a.jpg", "..", "a\\b.jpg", ""])
def test_path_in_file_column_is_refused_with_line(bad_file):
    data = f"file,face_nr,x,y,w,h,name\nok.jpg,1,0.1,0.1,0.1,0.1,\n{bad_file},1,0.1,0.1,0.1,0.1,Eve\n".encode()
    with pytest.raises(SidecarError, match="line 3"):
        parse_csv(data, "faces.csv")


@pytest.mark.parametrize(
    "data,message",
    [
        (b"file,face_nr,x,y,w,name\n", "missing column"),
        (b"file,face_nr,x,y,w,h,name,name\n", "appears twice"),
        (b"file,face_nr,x,y,w,h,name\na.jpg,one,0.1,0.1,0.1,0.1,\n", "line 2: column face_nr"),
        (b"file,face_nr,x,y,w,h,name\na.jpg,1,7,0.1,0.1,0.1,\n", "line 2"),
        (b"\xff\xfe\x00\x81garbage", "not UTF-8"),
    ],
)
def test_malformed_files_name_the_problem(data, message):
    with pytest.raises(SidecarError, match=message):
        parse_csv(data, "faces.csv")


def test_empty_file_has_no_rows():
    assert parse_csv(b"") == []
    assert parse_csv(",".join(COLUMNS).encode() + b"\n") == []
