"""Property-based fuzzing of the faces.csv reader and the three-way merge (issue 13, rule 4).

Whatever a person, a spreadsheet or a broken disk leaves in faces.csv: random edits, random
spreadsheet dialects (delimiter, quoting, BOM, CRLF, UTF-16, Windows-1252, decimal commas, dropped
empty columns), bad cells and random bytes. The reader and the merge never raise anything but a
clean refusal of the whole file (SidecarError) or of single rows (problems naming file and line),
and never lose the edit of a valid row. The examples database (.hypothesis/) stays out of git; the
``ci`` profile in tests/conftest.py keeps the example count modest (HYPOTHESIS_PROFILE=thorough
for a long run).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from facesidecar.errors import SidecarError
from facesidecar.model import IGNORE, PhotoState
from facesidecar.names import NameRuleError, clean_name
from facesidecar.store.cells import file_from_cell, file_to_cell, from_cell
from facesidecar.store.csvfile import COLUMNS, OutRow, format_csv, parse_csv, read_csv
from facesidecar.store.folder import FolderStore

from .helpers import face

pytestmark = pytest.mark.usefixtures("no_settle")
FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

TRICKY = ["=", "+", "-", "@", "'", "\t", "\r", "\n", "\x00", "\x1b", "\u200c", "\u200d", "\u202e", ",", ";", '"',
          "|", "%", "%41", "\\", " ", "\ufeff", "\udcff", "ignore", IGNORE, "=HYPERLINK(\"http://x\")", "1e400", "é"]
typed_text = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=6)), max_size=6).map("".join)
"""What a person may type into a cell: anything, with the characters that matter more often."""

file_names = st.binary(min_size=1, max_size=24).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")).map(os.fsdecode)
"""Any file name Linux allows, as Python holds it (surrogate escapes for bytes that are not UTF-8)."""

BAD_CELLS = {
    "face_nr": ["inf", "nan", "1e400", "99999999999999999999999", "0", "-1", "1.5", "one", "1\x00", ""],
    "x": ["inf", "-inf", "nan", "NaN", "1e400", "9" * 400, "1_0", "7", "\x00", "0.1.2"],
    "name": ["E\x00ve", "\x1b[31mEve", "Eve\u202e", "x" * 201],
    "file": ["../x.jpg", "/etc/passwd", "a/b.jpg", "..", ""],
}


# -- cells -------------------------------------------------------------------------------------------
@given(file_names)
def test_every_file_name_round_trips_through_its_cell(name):
    cell = file_to_cell(name)
    cell.encode("utf-8")  # no surrogates left: faces.csv stays UTF-8
    assert file_from_cell(cell) == name


@given(typed_text)
def test_every_accepted_name_round_trips_through_faces_csv(text):
    try:
        name = clean_name(text)
    except NameRuleError:
        return
    data = format_csv([OutRow("a.jpg", 1, face(0.1).box, name, name, None, name, 1)])
    (row,) = parse_csv(data)
    assert row.name == name


# -- random bytes --------------------------------------------------------------------------------------
HEADER = ",".join(COLUMNS).encode() + b"\n"


@given(st.binary(max_size=400), st.booleans())
def test_random_bytes_are_read_or_refused_never_a_crash(data, with_header):
    try:
        read = read_csv(HEADER + data if with_header else data, "f/faces.csv")
    except SidecarError as exc:
        assert str(exc).startswith("f/faces.csv")
        return
    for problem in read.problems:
        assert problem.message.startswith(f"f/faces.csv line {problem.line}: ")


# -- edits in spreadsheet dialects, through the real folder transaction ---------------------------------
@dataclass(frozen=True)
class Dialect:
    delimiter: str
    quote_all: bool
    crlf: bool
    bom: bool
    encoding: str
    decimal_comma: bool
    drop_trailing_empty: bool

    def encode(self, table: list[list[str]]) -> bytes:
        """``table`` saved in this dialect (a cell with a carriage return is quoted, as spreadsheets
        do; Python's writer leaves it bare when lines end in LF)."""
        out = io.StringIO(newline="")
        quote_all = self.quote_all or any("\r" in cell for row in table for cell in row)
        writer = csv.writer(out, delimiter=self.delimiter, lineterminator="\r\n" if self.crlf else "\n",
                            quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
        for row in table:
            cells = [self._number(c) if i in (2, 3, 4, 5) else c for i, c in enumerate(row)]
            while self.drop_trailing_empty and cells and cells[-1] == "":
                cells.pop()
            writer.writerow(cells)
        text = out.getvalue()
        if self.encoding == "cp1252":
            return text.encode("cp1252")
        if self.encoding == "utf-16":
            return text.encode("utf-16")
        return (b"\xef\xbb\xbf" if self.bom else b"") + text.encode("utf-8")

    def _number(self, cell: str) -> str:
        return cell.replace(".", ",") if self.decimal_comma else cell


dialects = st.builds(
    Dialect, delimiter=st.sampled_from([",", ";", "\t"]), quote_all=st.booleans(), crlf=st.booleans(),
    bom=st.booleans(), encoding=st.sampled_from(["utf-8", "utf-8", "utf-16", "cp1252"]),
    decimal_comma=st.booleans(), drop_trailing_empty=st.booleans(),
).filter(lambda d: not (d.decimal_comma and d.delimiter == ","))


@st.composite
def folders(draw):
    """File names -> names of their faces (1 to 3 faces each, some named)."""
    files = draw(st.lists(file_names, min_size=1, max_size=4, unique=True))
    name = st.one_of(st.just(""), st.sampled_from(["Anna", "Bob", IGNORE, "=Sum", "-x", "@y", "'t Hooft"]))
    return {file: draw(st.lists(name, min_size=1, max_size=3)) for file in files}


@st.composite
def edits(draw, rows: int):
    """Row index -> (column, typed cell): a new name, or a bad cell of any column."""
    chosen = draw(st.lists(st.integers(0, rows - 1), unique=True, max_size=rows))
    result = {}
    for index in chosen:
        if draw(st.booleans()):
            result[index] = ("name", draw(typed_text))
        else:
            column = draw(st.sampled_from(sorted(BAD_CELLS)))
            result[index] = (column, draw(st.sampled_from(BAD_CELLS[column])))
    return result


def build_folder(layout: dict[str, list[str]]) -> FolderStore:
    """A folder whose faces.csv facesidecar wrote, face ids ``<file>#<n>`` (n left to right)."""
    store = FolderStore(Path(tempfile.mkdtemp(dir=os.environ["FSC_FUZZ_DIR"])))
    with store.transaction() as txn:
        for file, names in layout.items():
            faces = [face(0.05 + 0.3 * i, name, fid=f"{file}#{i}") for i, name in enumerate(names)]
            txn.state.photos[file] = PhotoState(file=file, faces=faces)
    return store


def face_id_of(row: list[str]) -> str:
    """The face a canonical row describes (see :func:`build_folder`)."""
    return f"{file_from_cell(row[0])}#{round((float(row[2]) - 0.05) / 0.3)}"


def expected_after(cell: str, column: str) -> str | None:
    """The name the row's face has after the save, or None when the row is rejected."""
    if column != "name":
        return None
    try:
        return clean_name(from_cell(cell))
    except NameRuleError:
        return None


@pytest.fixture
def fuzz_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FSC_FUZZ_DIR", str(tmp_path))


@FIXTURES_OK
@given(layout=folders(), dialect=dialects, data=st.data())
def test_edits_in_any_dialect_land_and_bad_rows_cost_only_themselves(fuzz_dir, layout, dialect, data):
    store = build_folder(layout)
    table = list(csv.reader(io.StringIO(store.csv_path.read_text(encoding="utf-8"), newline="")))
    body = table[1:]
    identities = [face_id_of(row) for row in body]
    plan = data.draw(edits(len(body)))
    for index, (column, cell) in plan.items():
        body[index][COLUMNS.index(column)] = cell
    try:
        saved = dialect.encode(table)
    except UnicodeEncodeError:
        assume(False)  # this text has no Windows-1252 form: no spreadsheet would save it so
    if dialect.encoding == "cp1252":
        assume(_read_as_cp1252(saved))
    before = {f.face_id: f.name for _, f in store.load().faces()}
    store.csv_path.write_bytes(saved)
    with store.transaction() as txn:
        problems = list(txn.csv_problems)
    state = store.load()
    faces = {f.face_id: f for _, f in state.faces()}
    bad = 0
    for index, face_id in enumerate(identities):
        column, cell = plan.get(index, ("", ""))
        after = expected_after(cell, column) if index in plan else before[face_id]
        if after is None:
            bad += 1
            after = before[face_id]
        assert faces[face_id].visible, f"row {index + 2} ({column}={cell!r}) lost its face"
        assert faces[face_id].name == after, f"row {index + 2} ({column}={cell!r})"
    assert len(problems) == (bad + 1 if bad else 0), problems
    assert len(state.csv_problems) == len(problems)
    rows = parse_csv(store.csv_path.read_bytes())
    assert sorted((r.file, r.name) for r in rows) == sorted((p.file, f.name) for p, f in state.faces())


def _read_as_cp1252(data: bytes) -> bool:
    """Whether the reader takes these Windows-1252 bytes for Windows-1252: bytes that happen to be
    valid UTF-8 (``Ã©`` is the UTF-8 of ``é``) are read as UTF-8, the one guess the reader makes."""
    try:
        return data.decode("utf-8") == data.decode("cp1252")
    except UnicodeDecodeError:
        return True


@FIXTURES_OK
@given(layout=folders(), data=st.data())
def test_random_byte_damage_never_crashes_and_faces_csv_matches_the_state(fuzz_dir, layout, data):
    store = build_folder(layout)
    saved = bytearray(store.csv_path.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(saved)))
        chunk = data.draw(st.binary(min_size=0, max_size=6))
        cut = data.draw(st.integers(0, 4))
        saved[at:at + cut] = chunk
    store.csv_path.write_bytes(bytes(saved))
    with store.transaction():
        pass
    state = store.load()
    rows = parse_csv(store.csv_path.read_bytes())
    assert sorted((r.file, r.name) for r in rows) == sorted((p.file, f.name) for p, f in state.faces() if f.visible)
