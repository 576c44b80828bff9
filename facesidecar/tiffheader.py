"""The EXIF orientation and stored pixel size of a TIFF-based file, read from its own header.

Decoders disagree about what they leave behind: Pillow's TIFF plugin (from 11.x on) reports the
size already turned for display and drops the Orientation tag once it has rotated the pixels,
older Pillow versions do neither. Face regions must be written in the *stored* frame (MWG 2.0
§5.9), so the stored size and the orientation are read here, from the bytes of IFD0, where every
photo tool (exiftool, libexiv2, libtiff) reads them. TIFF-based RAW files (CR2, NEF, ARW, DNG,
ORF) keep their orientation in the same place.

The input is hostile: only IFD0 is read, its entry count is capped, every offset is checked
against what could be read, and anything odd gives ``None`` rather than an exception.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

_MAGICS = {42, 0x4F52, 0x5352, 0x55}
"""TIFF (42) and the TIFF variants of Olympus ORF ("RO", "RS") and Panasonic RW2 (0x55)."""

_MAX_ENTRIES = 1024
"""More IFD0 entries than any real file has; a bigger count is a damaged or hostile header."""

_WIDTH, _HEIGHT, _ORIENTATION = 256, 257, 274
_SHORT, _LONG = 3, 4


@dataclass(frozen=True)
class StoredLayout:
    """How the pixels are stored: size before orientation, and the EXIF orientation (1..8)."""

    width: int
    height: int
    orientation: int


def read_stored_layout(stream: BinaryIO) -> StoredLayout | None:
    """IFD0's ImageWidth, ImageLength and Orientation, or None if this is not a readable TIFF.

    Reads from the stream's current position, which must be the start of the file. A missing or
    invalid Orientation counts as 1, as viewers treat it; a missing size gives None.
    """
    head = stream.read(8)
    if len(head) < 8 or head[:2] not in (b"II", b"MM"):
        return None
    order = "<" if head[:2] == b"II" else ">"
    magic, ifd_offset = struct.unpack(order + "HI", head[2:8])
    if magic not in _MAGICS or ifd_offset < 8:
        return None
    stream.seek(ifd_offset)
    count_bytes = stream.read(2)
    if len(count_bytes) < 2:
        return None
    (count,) = struct.unpack(order + "H", count_bytes)
    if count > _MAX_ENTRIES:
        return None
    entries = stream.read(12 * count)
    if len(entries) < 12 * count:
        return None
    values = {}
    for index in range(count):
        tag, kind, number = struct.unpack(order + "HHI", entries[12 * index: 12 * index + 8])
        if tag in (_WIDTH, _HEIGHT, _ORIENTATION) and number == 1 and kind in (_SHORT, _LONG):
            field = entries[12 * index + 8: 12 * index + 12]
            values[tag] = struct.unpack(order + ("H" if kind == _SHORT else "I"), field[: 2 if kind == _SHORT else 4])[0]
    width, height = values.get(_WIDTH, 0), values.get(_HEIGHT, 0)
    if width <= 0 or height <= 0:
        return None
    orientation = values.get(_ORIENTATION, 1)
    return StoredLayout(width, height, orientation if 1 <= orientation <= 8 else 1)


__all__ = ["StoredLayout", "read_stored_layout"]
