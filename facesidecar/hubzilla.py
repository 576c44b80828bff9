"""The Hubzilla "faces" add-on's faces.csv: recognised by its header, read as plain text. Pure.

The add-on (hubzilla/streams addons, ``faces/py/faces_worker.py``) keeps per folder a
``faces.csv`` written by ``pandas.DataFrame.to_csv(index=False)`` with the columns ``id, file,
position, face_nr, name, name_recognized, time_named, exif_date, detector, model, …`` and a
``faces.pkl`` that is a pickled pandas DataFrame. The pickle is never opened here: unpickling it
would run whatever code it names. Everything worth keeping — the names people typed — is in the
CSV.

``position`` is how the add-on's ``Finder.calculate_css_location`` stores a face: with its default
``css_position`` on, ``[left, right, top, bottom]`` margins in whole percent of the photo
(``[12, 30, 20, 55]`` is a face from 12 % to 70 % of the width and from 20 % to 45 % of the
height); with ``css_position`` off, ``[x, y, w, h]`` in pixels. A file is read as pixels when one
of its positions cannot be a set of margins (a value above 100, or opposite margins adding up to
100 or more). ``[0]`` and ``face_nr`` 0 mark "no face found". ``file`` is the photo's path in the
Hubzilla cloud (``Photos/2019/IMG_1.jpg``); the photo is the file of that name in the CSV's folder.
``name`` is what a person typed (``-ignore-`` included); ``name_recognized`` is the add-on's own
guess and is not a name anybody confirmed.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from .model import Box

ADDON_COLUMNS = ("id", "file", "position", "face_nr", "name")
"""Columns every faces.csv of the add-on has (facesidecar's own has ``x, y, w, h`` instead of ``position``)."""
MAX_BYTES = 64 * 1024 * 1024
"""A faces.csv larger than this is refused (it would be a hostile file, not a folder's faces)."""
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class AddonFormatError(ValueError):
    """The file looks like the add-on's but cannot be read; the message names the line."""


@dataclass(frozen=True)
class AddonName:
    """A name typed for one face in the add-on's faces.csv."""

    line: int
    file: str
    """The photo's file name in the CSV's folder (the last part of the add-on's ``file`` path)."""
    face_nr: int
    position: tuple[float, ...]
    name: str
    time_named: str
    pixels: bool = False
    """Whether ``position`` is ``[x, y, w, h]`` in pixels (css_position off) instead of margins."""

    def box(self, width: int, height: int) -> Box:
        """The face as fractions of the photo as displayed (``width`` x ``height`` pixels)."""
        if width <= 0 or height <= 0:
            return Box(0.0, 0.0, 0.0, 0.0)
        if self.pixels:
            x, y, w, h = self.position
            return _clipped(x / width, y / height, w / width, h / height)
        left, right, top, bottom = self.position
        return _clipped(left / 100, top / 100, (100 - left - right) / 100, (100 - top - bottom) / 100)


def _clipped(x: float, y: float, w: float, h: float) -> Box:
    x0, y0 = min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)
    x1, y1 = min(max(x + w, 0.0), 1.0), min(max(y + h, 0.0), 1.0)
    return Box(x0, y0, max(x1 - x0, 0.0), max(y1 - y0, 0.0))


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _header(text: str) -> list[str]:
    first = text.split("\n", 1)[0]
    try:
        cells = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        return []
    return [c.strip().lower() for c in cells]


def is_addon_csv(data: bytes) -> bool:
    """Whether ``data`` is a faces.csv written by the add-on (by its header, nothing else)."""
    names = _header(_decode(data[:4096]))
    return all(c in names for c in ADDON_COLUMNS) and "x" not in names


def parse_addon_csv(data: bytes, source: str = "faces.csv") -> list[AddonName]:
    """Every typed name of the add-on's faces.csv (rows without a name or a face are left out).

    AddonFormatError when the file is not the add-on's, too large, or its CSV is broken.
    """
    if len(data) > MAX_BYTES:
        raise AddonFormatError(f"{source}: {len(data):,} bytes is too large for a folder's faces.csv")
    if not is_addon_csv(data):
        raise AddonFormatError(f"{source}: not a faces.csv of the Hubzilla faces add-on (its header lacks "
                               f"{', '.join(ADDON_COLUMNS)})")
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        table = list(reader)
    except csv.Error as exc:
        raise AddonFormatError(f"{source} line {reader.line_num}: {exc}") from None
    index = {name: i for i, name in reversed(list(enumerate(c.strip().lower() for c in table[0])))}
    rows = [_row(cells, index, line) for line, cells in enumerate(table[1:], start=2)]
    named = [r for r in rows if r is not None]
    pixels = any(not _margins(r.position) for r in named)
    return [AddonName(r.line, r.file, r.face_nr, r.position, r.name, r.time_named, pixels) for r in named]


def _row(cells: list[str], index: dict[str, int], line: int) -> AddonName | None:
    def cell(column: str) -> str:
        i = index.get(column)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    name, file = cell("name"), photo_name(cell("file"))
    position = tuple(float(v) for v in _NUMBER.findall(cell("position")))
    try:
        face_nr = int(float(cell("face_nr") or 0))
    except ValueError:
        face_nr = 0
    if not name or not file or len(position) != 4 or face_nr == 0:
        return None
    return AddonName(line, file, face_nr, position, name, cell("time_named"))


def photo_name(path: str) -> str:
    """The file name at the end of the add-on's ``file`` path; "" when it names no file in a folder."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "" if name in ("", ".", "..") or "\0" in name else name


def _margins(position: tuple[float, ...]) -> bool:
    left, right, top, bottom = position
    return all(0 <= v <= 100 for v in position) and left + right < 100 and top + bottom < 100


def latest_per_face(names: list[AddonName]) -> list[AddonName]:
    """One name per face: the add-on writes a row per detector and model, all renamed together;
    where they disagree, the latest ``time_named`` wins (as the add-on's ``copy_name_to_same_faces``)."""
    best: dict[tuple[str, int], AddonName] = {}
    for item in names:
        key = (item.file, item.face_nr)
        if key not in best or item.time_named > best[key].time_named:
            best[key] = item
    return sorted(best.values(), key=lambda n: (n.file, n.face_nr))


__all__ = ["AddonName", "AddonFormatError", "is_addon_csv", "parse_addon_csv", "latest_per_face", "photo_name"]
