"""tiffheader: IFD0's size and orientation, checked against exiftool, and hostile headers."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess

import pytest
from PIL import Image

from facesidecar.tiffheader import StoredLayout, read_stored_layout

from .photos import exif_with_orientation, make_raw, noise_picture


def tiff_bytes(size=(30, 20), orientation: int | None = None, **options) -> bytes:
    buffer = io.BytesIO()
    exif = exif_with_orientation(orientation) if orientation is not None else Image.Exif()
    Image.new("RGB", size).save(buffer, "TIFF", exif=exif, **options)
    return buffer.getvalue()


def layout(data: bytes) -> StoredLayout | None:
    return read_stored_layout(io.BytesIO(data))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_pillow_tiffs(orientation):
    assert layout(tiff_bytes(orientation=orientation)) == StoredLayout(30, 20, orientation)


def test_compressed_and_without_orientation():
    assert layout(tiff_bytes(compression="tiff_lzw")) == StoredLayout(30, 20, 1)


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
def test_big_endian_agrees_with_exiftool(tmp_path):
    path = tmp_path / "mm.tif"
    path.write_bytes(tiff_bytes((41, 17), 8))
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-ExifByteOrder=MM", "-Orientation#=8", str(path)], check=True)
    out = subprocess.run(["exiftool", "-n", "-s3", "-ImageWidth", "-ImageHeight", "-Orientation", str(path)],
                         capture_output=True, text=True, check=True).stdout.split()
    assert layout(path.read_bytes()) == StoredLayout(*map(int, out))


def test_raw_ifd0(tmp_path):
    raw = make_raw(tmp_path / "r.arw", noise_picture((40, 30)), orientation=6, raw_size=(64, 48))
    assert read_stored_layout(raw.open("rb")) == StoredLayout(64, 48, 6)


def test_invalid_orientation_counts_as_1():
    assert layout(tiff_bytes(orientation=42)) == StoredLayout(30, 20, 1)


@pytest.mark.parametrize("data", [
    b"",
    b"\xff\xd8\xff\xe0 a JPEG",
    b"II*\x00",  # cut in the header
    b"II*\x00" + struct.pack("<I", 4),  # IFD inside the header
    b"II*\x00" + struct.pack("<I", 1 << 30),  # IFD far past the end
    b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 60000),  # absurd entry count
    b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 3) + b"\x00" * 10,  # entries cut short
    b"II+\x00" + struct.pack("<I", 8),  # BigTIFF and other magics are not read
    b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 274, 3, 1, 6) + b"\0" * 4,  # no size
])
def test_broken_headers_give_none(data):
    assert layout(data) is None


def test_reads_a_bounded_amount():
    """A header that claims many entries makes it read at most the capped count, never the file."""

    class Counting(io.BytesIO):
        read_total = 0

        def read(self, size=-1):
            assert size >= 0, "never read to the end of a hostile file"
            Counting.read_total += size
            return super().read(size)

    data = tiff_bytes() + bytes(10_000_000)
    assert read_stored_layout(Counting(data)) == StoredLayout(30, 20, 1)
    assert Counting.read_total < 20_000
