"""The reader of the Hubzilla faces add-on's faces.csv (facesidecar/hubzilla.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from facesidecar.hubzilla import AddonFormatError, is_addon_csv, latest_per_face, parse_addon_csv, photo_name
from facesidecar.store.csvfile import COLUMNS, format_csv

ADDON_COLUMNS = ["id", "file", "position", "face_nr", "name", "name_recognized", "time_named", "exif_date",
                 "detector", "model"]


def addon_csv(rows: list[list]) -> bytes:
    """A faces.csv as the add-on writes it: a pandas DataFrame with list positions, ``to_csv(index=False)``."""
    frame = pd.DataFrame(rows, columns=ADDON_COLUMNS)
    return frame.to_csv(index=False).encode("utf-8")


def row(file: str, position: list, face_nr: int, name: str, time_named: str = "", model: str = "Facenet512") -> list:
    return ["abcdefghijklmno", file, position, face_nr, name, "", time_named, "", "retinaface", model]


def test_the_header_tells_the_add_on_from_facesidecar():
    assert is_addon_csv(addon_csv([row("Photos/a.jpg", [10, 20, 30, 40], 1, "Anna")]))
    assert is_addon_csv(b"\xef\xbb\xbfid;file;position;face_nr;name\n".replace(b";", b","))
    assert not is_addon_csv(format_csv([]))
    assert not is_addon_csv(",".join(COLUMNS).encode())
    assert not is_addon_csv(b"")
    assert not is_addon_csv(b"\x80\x04\x95 a pickle, not a csv")


def test_css_margins_become_boxes_and_rows_without_a_name_or_face_are_left_out():
    data = addon_csv([
        row("Photos/2019/a.jpg", [10, 60, 20, 40], 1, "Anna", "2022-01-02T10:00:00+00:00"),
        row("Photos/2019/a.jpg", [50, 10, 25, 35], 2, ""),
        row("Photos/2019/b.jpg", [0], 0, ""),
        row("b.jpg", [5, 5, 5, 5], 1, "-ignore-"),
    ])
    names = parse_addon_csv(data)
    assert [(n.file, n.face_nr, n.name) for n in names] == [("a.jpg", 1, "Anna"), ("b.jpg", 1, "-ignore-")]
    anna = names[0]
    assert not anna.pixels and anna.line == 2
    assert anna.box(1000, 500).to_plain() == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert names[1].box(10, 10).to_plain() == pytest.approx([0.05, 0.05, 0.9, 0.9])


def test_pixel_positions_when_the_add_on_ran_without_css_positions():
    data = addon_csv([row("a.jpg", [100, 50, 200, 150], 1, "Anna"), row("a.jpg", [10, 10, 20, 20], 2, "Ben")])
    names = parse_addon_csv(data)
    assert all(n.pixels for n in names)
    assert names[0].box(1000, 500).to_plain() == pytest.approx([0.1, 0.1, 0.2, 0.3])
    assert names[1].box(1000, 500).to_plain() == pytest.approx([0.01, 0.02, 0.02, 0.04])


def test_one_name_per_face_the_latest_wins():
    names = parse_addon_csv(addon_csv([
        row("a.jpg", [10, 60, 20, 40], 1, "Old", "2021-01-01T00:00:00+00:00", model="VGG-Face"),
        row("a.jpg", [11, 59, 21, 39], 1, "New", "2023-05-01T00:00:00+00:00", model="Facenet512"),
        row("a.jpg", [60, 10, 20, 40], 2, "Ben", "2022-01-01T00:00:00+00:00"),
    ]))
    assert [(n.face_nr, n.name) for n in latest_per_face(names)] == [(1, "New"), (2, "Ben")]


def test_hostile_cells_are_read_as_text_and_paths_never_leave_the_folder():
    data = addon_csv([
        row("../../etc/passwd", [10, 60, 20, 40], 1, "=HYPERLINK(\"x\")"),
        row("Photos/..", [10, 60, 20, 40], 1, "Anna"),
        row("C:\\Users\\x\\b.jpg", [10, 60, 20, 40], 1, "Zoë\nNewline"),
        row("c.jpg", "not a position", 1, "Carl"),
    ])
    names = parse_addon_csv(data)
    assert [(n.file, n.name) for n in names] == [("passwd", "=HYPERLINK(\"x\")"), ("b.jpg", "Zoë\nNewline")]
    assert photo_name("a/b/..") == "" and photo_name("") == "" and photo_name("x/IMG 1.JPG") == "IMG 1.JPG"


def test_not_the_add_on_or_too_large_is_an_error_naming_the_file():
    with pytest.raises(AddonFormatError, match="somewhere/faces.csv"):
        parse_addon_csv(format_csv([]), "somewhere/faces.csv")
    huge = addon_csv([row("a.jpg", [1, 1, 1, 1], 1, "A")]) + b"x" * (64 * 1024 * 1024)
    with pytest.raises(AddonFormatError, match="too large"):
        parse_addon_csv(huge)
