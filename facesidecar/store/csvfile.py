"""faces.csv: tolerant reading of whatever an editor saved, canonical writing.

Reading accepts what spreadsheets and editors do to a CSV: a BOM, ``;`` or tab separators,
decimal commas, CRLF, quoting of every field, reordered or dropped trailing empty columns, a
Windows-1252 file. Writing always produces the canonical form from SPEC.md: UTF-8, ``,``, LF,
required columns first, boxes with 4 decimals.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
from dataclasses import dataclass, field

from ..errors import SidecarError
from ..model import Box
from ..names import NameRuleError, canonical_name, clean_name, shown
from .cells import file_from_cell, file_to_cell, from_cell, to_cell

REQUIRED_COLUMNS = ("file", "face_nr", "x", "y", "w", "h", "name", "guess", "distance")
EXTRA_COLUMNS = ("cluster", "rev")
COLUMNS = REQUIRED_COLUMNS + EXTRA_COLUMNS
MAX_FACE_NR = 100_000
MAX_REV = 2**31
"""Larger numbers in these columns are not a count of faces or of writes but a hostile or broken cell."""

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One row as read from disk; ``rev`` is None when the column is missing or unreadable."""

    line: int
    file: str
    face_nr: int
    box: Box
    name: str
    rev: int | None


normalize_name = canonical_name
"""The form names are compared in (kept here for the modules that compare names read from faces.csv)."""


def _decode(data: bytes, source: str) -> str:
    """The text of a save: UTF-8 (with or without BOM), UTF-16 with a BOM (a spreadsheet's "Unicode
    text"), else Windows-1252 (a spreadsheet's default "CSV" on Windows)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode("utf-16")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise SidecarError(
                f"{source}: not UTF-8 (byte {exc.start}); save it as 'CSV UTF-8' in your spreadsheet"
            ) from None
        log.warning("%s is not UTF-8; read it as Windows-1252 (save as 'CSV UTF-8' to avoid this)", source)
        return text


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _file_name(value: str) -> str:
    """A row names a photo in *this* folder: any file name the file system allows, never a path.

    The name is kept exactly as written (not NFC-normalized, not trimmed): ``Zoë.jpg`` in NFC and
    in NFD are two different files on Linux, and may sit side by side (one copied from a Mac);
    `` a.jpg`` and ``a\\b.jpg`` are file names too.
    """
    name = file_from_cell(value)
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise RowError(f"file {shown(name)!r} is not a file name in this folder")
    return name


def _check_swallowed_rows(name: str, line: int, source: str) -> None:
    """A quote typed at the start of a name and never closed makes the rest of the file one name:
    the rows after it (and the edits in them) would vanish into a garbage name. Refuse the file."""
    later_lines = name.splitlines()[1:]
    if any(max(text.count(d) for d in ",;\t") >= 5 for text in later_lines):
        raise SidecarError(
            f"{source} line {line}: the name starts with a quote (\") that is never closed, so the rest"
            " of the file reads as one name; remove the quote (or close it) and save again"
        )


def _number(value: str, column: str) -> float:
    """A finite number as a spreadsheet may have written it (decimal comma, spaces); never ``inf``,
    ``nan``, ``1e400`` or Python's ``1_000``."""
    text = value.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or "_" in text:
        raise RowError(f"column {column} must be a number, got {shown(value[:40])!r}")
    return number


def _rev(value: str) -> int | None:
    """The generation a row was written at; None when missing or not a plausible one (then the
    merge decides without it, as for a file whose rev column was dropped)."""
    try:
        rev = _number(value, "rev") if value.strip() else None
    except RowError:
        return None
    return int(rev) if rev is not None and rev == int(rev) and 0 <= rev <= MAX_REV else None


def _header_index(header: list[str], source: str) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen and name:
            raise SidecarError(f"{source} line 1: column {name!r} appears twice")
        seen[name] = i
    missing = [c for c in ("file", "face_nr", "x", "y", "w", "h", "name") if c not in seen]
    if missing:
        raise SidecarError(f"{source} line 1: missing column(s) {', '.join(missing)}; the header must start with {','.join(REQUIRED_COLUMNS)}")
    return seen


class RowError(ValueError):
    """A cell that makes its row unusable; the row is left out, the rest of the file counts."""


@dataclass(frozen=True)
class RowProblem:
    """A row left out of a save: where it is, which photo it names (None if that is unreadable), why."""

    line: int
    file: str | None
    message: str


@dataclass
class CsvRead:
    """What a faces.csv holds: the usable rows and the rows left out."""

    rows: list[CsvRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def read_csv(data: bytes, source: str = "faces.csv") -> CsvRead:
    """The rows of a faces.csv as saved by any editor.

    A bad cell (not a number, ``inf``, ``nan``, a name with a control character, a path instead of
    a file name) costs its row only: it is reported in ``problems`` naming file and line, every
    other row counts. SidecarError when the file as a whole cannot be read (encoding, header,
    quoting that swallows rows).
    """
    text = _decode(data, source)
    read = CsvRead()
    if not text.strip():
        return read
    first_line = text[:text.find("\n")] if "\n" in text else text
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first_line))
    try:
        index = _header_index(next(reader), source)
        positions = [index.get(column) for column in ROW_COLUMNS]
        line = reader.line_num + 1
        for cells in reader:
            if any(c.strip() for c in cells):
                _read_row(cells, positions, line, source, read)
            line = reader.line_num + 1
    except csv.Error as exc:
        raise SidecarError(f"{source} line {reader.line_num}: {exc}") from None
    return read


def parse_csv(data: bytes, source: str = "faces.csv") -> list[CsvRow]:
    """The usable rows of a faces.csv (see :func:`read_csv`)."""
    return read_csv(data, source).rows


ROW_COLUMNS = ("file", "face_nr", "x", "y", "w", "h", "name", "rev")
"""The columns a row is read from (guess, distance and cluster are the program's: never read back)."""


def _read_row(cells: list[str], positions: list[int | None], line: int, source: str, read: CsvRead) -> None:
    count = len(cells)
    values = [cells[i] if i is not None and i < count else "" for i in positions]
    file = None
    try:
        file = _file_name(values[0])
        read.rows.append(_parse_row(values, line, source, file))
    except (RowError, NameRuleError) as exc:
        read.problems.append(RowProblem(line, file, f"{source} line {line}: {exc}; the row was left out, fix it and save again"))


def _parse_row(values: list[str], line: int, source: str, file: str) -> CsvRow:
    """A row from its ``ROW_COLUMNS`` cells."""
    _, face_text, x, y, w, h, name_cell, rev_text = values
    face_nr = _number(face_text, "face_nr")
    if face_nr != int(face_nr) or not 1 <= face_nr <= MAX_FACE_NR:
        raise RowError(f"face_nr must be a whole number from 1 to {MAX_FACE_NR}, got {shown(face_text[:40])!r}")
    coords = (_number(x, "x"), _number(y, "y"), _number(w, "w"), _number(h, "h"))
    if not all(-0.01 <= v <= 1.01 for v in coords):
        raise RowError("x, y, w, h must be fractions between 0 and 1")
    raw_name = from_cell(name_cell)
    _check_swallowed_rows(raw_name, line, source)
    return CsvRow(line=line, file=file, face_nr=int(face_nr), box=Box(*coords).rounded(), name=clean_name(raw_name),
                  rev=_rev(rev_text))


@dataclass(frozen=True)
class OutRow:
    """One row as facesidecar writes it."""

    file: str
    face_nr: int
    box: Box
    name: str
    guess: str
    distance: float | None
    cluster: str
    rev: int


def format_csv(rows: list[OutRow]) -> bytes:
    """The canonical faces.csv bytes for ``rows`` (sorted by file, then face_nr)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in sorted(rows, key=lambda r: (r.file, r.face_nr)):
        b = r.box
        writer.writerow([
            file_to_cell(r.file), r.face_nr, f"{b.x:.4f}", f"{b.y:.4f}", f"{b.w:.4f}", f"{b.h:.4f}",
            to_cell(r.name), to_cell(r.guess), "" if r.distance is None else f"{r.distance:.4f}",
            to_cell(r.cluster), r.rev,
        ])
    return out.getvalue().encode("utf-8")
