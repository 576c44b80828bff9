"""Decompression bombs made in code, without ever holding their pixels in memory.

A few kilobytes on disk that decode to hundreds of megabytes: PNGs of any bit depth and colour
type, and deflate-compressed TIFFs in one strip (the strip buffer alone is the full image at its
stored bit depth). The pixel data is streamed through zlib row by row, so making a 200-megapixel
bomb costs the test a few seconds of CPU and no memory.
"""

from __future__ import annotations

import pickle
import struct
import zlib
from pathlib import Path

PNG_COLOUR_TYPES = {"L": (0, 1), "RGB": (2, 3), "LA": (4, 2), "RGBA": (6, 4)}
"""PNG colour type and samples per pixel for each layout."""


def _deflated_rows(row: bytes, rows: int) -> bytes:
    """zlib stream of ``rows`` copies of ``row``, made in time linear in the rows but not compressed
    row by row: a block of rows ends with a full flush, which resets the compressor, so every
    further copy of that block compresses to the same bytes and is repeated as bytes."""
    per_block = max(1, (1 << 22) // max(1, len(row)))
    blocks, rest = divmod(rows, per_block)
    packer = zlib.compressobj(9)
    block = row * per_block
    head = packer.compress(b"") + packer.flush(zlib.Z_FULL_FLUSH)  # the 2-byte zlib header alone
    body = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH) if blocks else b""
    tail = packer.compress(row * rest) + packer.flush(zlib.Z_FULL_FLUSH) if rest else b""
    checksum = 1
    for _ in range(blocks):
        checksum = zlib.adler32(block, checksum)
    checksum = zlib.adler32(row * rest, checksum)
    final = b"\x03\x00" + struct.pack(">I", checksum)  # an empty last block, then Adler-32
    return head + body * blocks + tail + final


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path: Path, width: int, height: int, layout: str = "RGBA", bits: int = 16) -> Path:
    """A valid PNG of ``width`` x ``height`` zero pixels (``layout`` L/RGB/LA/RGBA, 8 or 16 bits)."""
    colour_type, samples = PNG_COLOUR_TYPES[layout]
    row = b"\x00" * (1 + width * samples * bits // 8)  # filter byte 0, then the samples
    header = struct.pack(">IIBBBBB", width, height, bits, colour_type, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
    data += _png_chunk(b"IDAT", _deflated_rows(row, height)) + _png_chunk(b"IEND", b"")
    Path(path).write_bytes(data)
    return Path(path)


def tiff_bomb(path: Path, width: int, height: int, samples: int = 4, bits: int = 16,
              sample_format: int = 1) -> Path:
    """A valid little-endian TIFF, deflate-compressed in a single strip, of zero pixels.

    ``samples`` 1 is grey, 3 RGB, 4 RGB with alpha; ``sample_format`` 1 unsigned, 3 float.
    """
    strip = _deflated_rows(b"\x00" * (width * samples * bits // 8), height)
    photometric = 1 if samples == 1 else 2
    entries = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, samples, None), (259, 3, 1, 8),
        (262, 3, 1, photometric), (273, 4, 1, None), (277, 3, 1, samples), (278, 4, 1, height),
        (279, 4, 1, len(strip)), (284, 3, 1, 1),
    ]
    if samples in (2, 4):
        entries.append((338, 3, 1, 2))  # ExtraSamples: unassociated alpha
    entries.append((339, 3, samples, None))
    ifd_size = 2 + 12 * len(entries) + 4
    extra_at = 8 + ifd_size
    bits_at, format_at = extra_at, extra_at + 2 * samples
    strip_at = format_at + 2 * samples
    values = {258: (bits_at, bits), 273: (strip_at, None), 339: (format_at, sample_format)}
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        if tag in values:
            offset, repeated = values[tag]
            value = offset if count > 1 or repeated is None else repeated
            if tag in (258, 339) and count == 1:
                value = repeated
        ifd += struct.pack("<HHI", tag, kind, count) + struct.pack("<I" if kind == 4 else "<HH", *((value,) if kind == 4 else (value, 0)))
    ifd += struct.pack("<I", 0)
    extra = struct.pack(f"<{samples}H", *[bits] * samples) + struct.pack(f"<{samples}H", *[sample_format] * samples)
    Path(path).write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + extra + strip)
    return Path(path)


# -- faces.pkl bombs: plain data only (no globals), all refused by store/pklfile.py -------------------

def _face_plain(n: int) -> dict:
    return {"face_id": f"f{n}", "box": [0.1, 0.1, 0.2, 0.2], "encodings": {"m": bytes(512)}, "name": f"P{n}"}


def pkl_memo_index_bomb() -> bytes:
    """10 bytes: a memo store at index 2^27 makes Python's unpickler allocate and clear 2 GB."""
    return b"\x80\x04]r\x00\x00\x00\x08."


def pkl_empty_list_flood(size: int = 1 << 20) -> bytes:
    """``size`` bytes of empty-list opcodes appended to one list: 96 bytes built per byte read."""
    return b"\x80\x04](" + b"]" * size + b"e."


def pkl_deep_nesting(depth: int = 100_000) -> bytes:
    """Lists nested ``depth`` deep: anything recursive over the state would overflow the stack."""
    return b"\x80\x04" + b"]" * depth + b"a" * (depth - 1) + b"."


def pkl_shared_faces(photos: int = 2000, faces: int = 2000) -> bytes:
    """A faces.pkl of the right format whose photos all share one list of ``faces`` faces.

    About 1.5 MB: the pickle stores the list once, building the state would make
    ``photos * faces`` faces (4 million, each with its encoding: gigabytes).
    """
    shared = [_face_plain(n) for n in range(faces)]
    state = {"format": 1, "csv_gen": 0, "csv_sha256": "", "pending_rows": [],
             "photos": {f"IMG_{n}.jpg": {"file": f"IMG_{n}.jpg", "faces": shared} for n in range(photos)}}
    return pickle.dumps(state, protocol=4)


def pkl_billion_laughs(levels: int = 9) -> bytes:
    """Ten references to ten references to ... a kilobyte string, ``levels`` deep: 10^levels kB."""
    value: object = "x" * 1024
    for _ in range(levels):
        value = [value] * 10
    return pickle.dumps({"format": 1, "photos": {}, "pending_rows": value}, protocol=4)


PKL_BOMBS = {
    "memo-index": pkl_memo_index_bomb,
    "empty-list-flood": pkl_empty_list_flood,
    "deep-nesting": pkl_deep_nesting,
    "shared-faces": pkl_shared_faces,
    "billion-laughs": pkl_billion_laughs,
}
"""Amplifying faces.pkl files by name (for the hostile-folder corpus and the store tests)."""
