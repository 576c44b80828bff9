"""traces: a name is found in whatever an editor saved (any of its encodings, NFC or NFD, spacing,
case, a name across a 1 MB piece boundary), and a name's lines are removed in the file's own
encoding with its BOM, leaving the other lines byte for byte."""

from __future__ import annotations

import unicodedata

import pytest

from facesidecar.traces import mentions, reader_encoding, without_lines_naming

NAME = "Zoë Müller"
PIECE = 1 << 20
"""mentions reads in pieces of 1 MB (its docstring)."""
ROWS = "file,face,name\r\nIMG_1.jpg,1,{}\r\nIMG_2.jpg,1,Bea\r\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252", "latin-1"])
def test_the_name_is_found_in_every_encoding_an_editor_may_save(encoding):
    assert mentions(ROWS.format(NAME).encode(encoding), NAME)
    assert not mentions(ROWS.format("Zoe Miller").encode(encoding), NAME)


def test_the_name_is_found_decomposed_spaced_otherwise_and_in_another_case():
    written = unicodedata.normalize("NFD", "ZOË\u00a0 MÜLLER")
    assert mentions(ROWS.format(written).encode("utf-8"), NAME)


def test_a_name_across_a_piece_boundary_is_found():
    data = b"x" * (PIECE - 4) + NAME.encode("utf-8") + b"\n"
    assert mentions(data, NAME)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
def test_the_lines_naming_someone_go_and_the_rest_stay_in_the_files_encoding(encoding):
    data = ROWS.format(NAME).encode(encoding)
    assert reader_encoding(data) == ("utf-16" if encoding == "utf-16" else encoding)
    cleaned = without_lines_naming(data, NAME.upper())
    assert cleaned == "file,face,name\r\nIMG_2.jpg,1,Bea\r\n".encode(encoding)
    assert not mentions(cleaned, NAME)


def test_bytes_neither_utf8_nor_cp1252_are_read_as_latin1():
    data = b"name\n\x81\x8d\x8f\x90\x9d Zo\xeb M\xfcller\n"  # bytes cp1252 leaves undefined
    assert reader_encoding(data) == "latin-1"
    assert without_lines_naming(data, NAME) == b"name\n"
