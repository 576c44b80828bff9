"""faces.csv: tolerant reading of whatever an editor saved, canonical writing.

Reading accepts what spreadsheets and editors do to a CSV: a BOM, ``;`` or tab separators,
decimal commas, CRLF, quoting of every field, reordered or dropped trailing empty columns, a
Windows-1252 file. Writing always produces the canonical form from SPEC.md: UTF-8, ``,``, LF,
required columns first, boxes with 4 decimals.
"""

from __future__ import annotations

import csv
import io
import logging
import unicodedata
from dataclasses import dataclass

from ..errors import SidecarError
from ..model import IGNORE, Box

REQUIRED_COLUMNS = ("file", "face_nr", "x", "y", "w", "h", "name", "guess", "distance")
EXTRA_COLUMNS = ("cluster", "rev")
COLUMNS = REQUIRED_COLUMNS + EXTRA_COLUMNS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CsvRow:
    """One row as read from disk; ``rev`` is None when the column is missing or unreadable."""

    line: int
    file: str
    face_nr: int
    box: Box
    name: str
    rev: int | None


def normalize_name(raw: str) -> str:
    """The form names are compared and stored in: NFC, whitespace collapsed, ``-ignore-`` exact."""
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if name.lower() in (IGNORE, "ignore"):
        return IGNORE
    return name


def _decode(data: bytes, source: str) -> str:
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


def _check_file_name(value: str, line: int, source: str) -> str:
    """A row names a photo in *this* folder: a plain file name, never a path.

    The name is kept exactly as written (not NFC-normalized): ``Zoë.jpg`` in NFC and in NFD are two
    different files on Linux, and may sit side by side (one copied from a Mac).
    """
    name = value.strip()
    bad = not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
    if bad:
        raise SidecarError(f"{source} line {line}: file {value!r} is not a file name in this folder")
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


def _number(value: str, column: str, line: int, source: str) -> float:
    text = value.strip().replace(",", ".")
    try:
        return float(text)
    except ValueError:
        raise SidecarError(f"{source} line {line}: column {column} must be a number, got {value!r}") from None


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


def parse_csv(data: bytes, source: str = "faces.csv") -> list[CsvRow]:
    """Rows of a faces.csv as saved by any editor; SidecarError naming the line if malformed."""
    text = _decode(data, source)
    if not text.strip():
        return []
    first_line = text.splitlines()[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first_line))
    try:
        table = list(reader)
    except csv.Error as exc:
        raise SidecarError(f"{source} line {reader.line_num}: {exc}") from None
    index = _header_index(table[0], source)
    rows = []
    for line, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        rows.append(_parse_row(cells, index, line, source))
    return rows


def _parse_row(cells: list[str], index: dict[str, int], line: int, source: str) -> CsvRow:
    def cell(column: str) -> str:
        i = index.get(column)
        return cells[i] if i is not None and i < len(cells) else ""

    face_nr = _number(cell("face_nr"), "face_nr", line, source)
    if face_nr != int(face_nr) or face_nr < 1:
        raise SidecarError(f"{source} line {line}: face_nr must be a whole number from 1, got {cell('face_nr')!r}")
    coords = [_number(cell(c), c, line, source) for c in ("x", "y", "w", "h")]
    if not all(-0.01 <= v <= 1.01 for v in coords):
        raise SidecarError(f"{source} line {line}: x, y, w, h must be fractions between 0 and 1")
    _check_swallowed_rows(cell("name"), line, source)
    rev_text = cell("rev").strip()
    try:
        rev = int(float(rev_text.replace(",", "."))) if rev_text else None
    except ValueError:
        rev = None
    return CsvRow(
        line=line,
        file=_check_file_name(cell("file"), line, source),
        face_nr=int(face_nr),
        box=Box(*coords).rounded(),
        name=normalize_name(cell("name")),
        rev=rev,
    )


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
            r.file, r.face_nr, f"{b.x:.4f}", f"{b.y:.4f}", f"{b.w:.4f}", f"{b.h:.4f}",
            r.name, r.guess, "" if r.distance is None else f"{r.distance:.4f}", r.cluster, r.rev,
        ])
    return out.getvalue().encode("utf-8")
