"""Photos built in code: every EXIF orientation in every format we read, and RAW files with a preview.

``save_oriented`` stores a picture the way a camera does: the pixels turned against the EXIF
orientation, so that a viewer that honours the tag shows the picture upright. HEIC is the
exception: libheif applies a HEIF file's own transforms (irot/imir) while decoding and the EXIF
tag is then informational, and pillow-heif writes no transforms, so a HEIC displays its pixels as
they are whatever its EXIF tag says; tools that map regions with the EXIF tag (exiftool, Immich,
digiKam) still expect the regions in the frame that tag describes.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from facesidecar.model import Box

EMPTY_XMP = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
             b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""/>'
             b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')
"""An XMP packet with nothing in it, as phones and converters put into HEIC files (see
``save_oriented``: libexiv2 reads a HEIC's XMP only where the file had a packet before)."""

FORMATS = (".jpg", ".png", ".webp", ".tif", ".heic")
"""The formats facesidecar writes names into (a RAW file gets a sidecar: see ``make_raw``)."""

TO_DISPLAYED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""Stored pixels -> displayed pixels for each EXIF orientation (as ImageOps.exif_transpose does)."""

_INVERSE = {Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270}


def stored_pixels(picture: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera stores for ``picture`` to display upright under ``orientation``."""
    method = TO_DISPLAYED[orientation]
    return picture if method is None else picture.transpose(_INVERSE.get(method, method))


def exif_with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def save_oriented(picture: Image.Image, orientation: int, path: Path, **options) -> Path:
    """Save ``picture`` so that it displays upright: stored pixels turned back plus EXIF 0x0112."""
    path = Path(path)
    if path.suffix.lower() in (".heic", ".heif"):
        import pillow_heif

        pillow_heif.register_heif_opener()
        picture.save(path, exif=exif_with_orientation(orientation), **options)
        return path
    if path.suffix.lower() in (".jpg", ".jpeg", ".webp") and "quality" not in options:
        options["quality"] = 95
    stored_pixels(picture, orientation).save(path, exif=exif_with_orientation(orientation), **options)
    return path


def face_picture(source: Path, width: int = 200) -> Image.Image:
    """A portrait from the test set, small, at the left of a grey canvas twice as wide.

    The face is off-centre, so a photo shown mirrored or turned the wrong way puts it somewhere
    else entirely; small, so that detecting and writing stay quick.
    """
    with Image.open(source) as image:
        portrait = image.convert("RGB").resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (2 * width + 20, portrait.height), (128, 128, 128))
    canvas.paste(portrait, (20, 0))
    return canvas


def make_raw(path: Path, preview: Image.Image, orientation: int = 1, raw_size: tuple[int, int] | None = None) -> Path:
    """A small TIFF-based RAW file (Sony ARW layout) with ``preview`` as its embedded JPEG.

    ``preview`` is given as it should display; it is stored turned against ``orientation`` like a
    camera's preview, and IFD0 carries the orientation and the RAW's own size (``raw_size``,
    twice the preview by default: previews are smaller than the sensor image). Pillow cannot write
    RAW files and exiftool cannot add a preview to a file that has none, so the file is assembled
    by hand: one 8-bit grey strip of ``raw_size`` plus the JPEG, which exiftool reads as the
    ``PreviewImage`` of an ARW and whose ``ImageSize`` it reports as ``raw_size``.
    """
    stored = stored_pixels(preview, orientation)
    width, height = raw_size or (stored.width * 2, stored.height * 2)
    jpeg = io.BytesIO()
    stored.save(jpeg, "JPEG", quality=95)
    jpeg_bytes = jpeg.getvalue()
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0),
               (274, 3, orientation), (277, 3, 1), (278, 4, height), (279, 4, width * height), (513, 4, 0),
               (514, 4, len(jpeg_bytes))]
    strip_offset = 8 + 2 + 12 * len(entries) + 4
    offsets = {273: strip_offset, 513: strip_offset + width * height}
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        value = offsets.get(tag, value)
        field = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, 1) + field
    ifd += struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + bytes(width * height) + jpeg_bytes)
    return path


def noise_picture(size: tuple[int, int] = (300, 200), seed: int = 7) -> Image.Image:
    """Random pixels: a photo where nothing but the metadata matters."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def immich_displayed_box(area: dict, orientation: int) -> Box:
    """Where Immich shows an MWG area read by exiftool: ``orientRegionInfo`` in its
    ``metadata.service.ts`` moves the centre for the EXIF orientation and swaps W/H when sideways."""
    x, y, w, h = (float(area[k]) for k in ("X", "Y", "W", "H"))
    x, y = {1: (x, y), 2: (1 - x, y), 3: (1 - x, 1 - y), 4: (x, 1 - y), 5: (y, x), 6: (1 - y, x),
            7: (1 - y, 1 - x), 8: (y, 1 - x)}.get(orientation, (x, y))
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return Box(x - w / 2, y - h / 2, w, h)


# -- coloured squares as faces (found and told apart by tests/fake_engine.py) ------------------------
Colour = tuple[int, int, int]

RED, RED2, BLUE, BLUE2, GREEN, GREEN2, GREEN3 = (
    (230, 20, 20), (220, 30, 25), (20, 20, 230), (30, 25, 220), (20, 200, 20), (30, 190, 30), (25, 210, 25))
ALICE = (200, 0, 0)
ALICE2 = (210, 10, 0)
ALICE3 = (190, 0, 12)
BOB = (0, 200, 0)
BOB2 = (0, 212, 8)
CAROL = (0, 0, 200)
CAROL2 = (8, 0, 190)
DAVE = (120, 120, 0)
DAVE2 = (126, 114, 0)
"""Colours a few units apart are one person to the fake engine, colours far apart are not."""

SIDE = 40
"""A face's side in pixels when a test gives only its colour (above the default engine.min_face_size)."""


@dataclass(frozen=True)
class Layout:
    """Where ``draw_faces`` puts the squares: left to right from ``origin``, ``gap`` pixels apart."""

    size: tuple[int, int] = (400, 100)
    side: int = SIDE
    gap: int = 20
    origin: tuple[int, int] = (10, 10)
    background: Colour = (0, 0, 0)


SLOTS = Layout(size=(400, 200), side=60, gap=40, origin=(20, 70), background=(128, 128, 128))
"""Four 60-pixel places centred in the quarters of a grey 400x200 picture (the review page's photos)."""


def draw_faces(*faces: Colour | tuple[Colour, int] | None, layout: Layout = Layout()) -> Image.Image:
    """A picture with one square "face" per colour, left to right: ``(colour, side)`` or a bare
    colour (the layout's side); None leaves a face's place empty."""
    image = Image.new("RGB", layout.size, layout.background)
    x, top = layout.origin
    for face in faces:
        if face is None:
            x += layout.side + layout.gap
            continue
        colour, side = face if isinstance(face[0], tuple) else (face, layout.side)
        image.paste(colour, (x, top, x + side, top + side))
        x += side + layout.gap
    return image


def make_photo(path: Path, *faces: Colour | tuple[Colour, int] | None) -> Path:
    """``draw_faces`` saved at ``path`` (the format by its ending; PNG keeps the colours exact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    draw_faces(*faces).save(path, **options)
    return path


def naming_library(root: Path) -> Path:
    """The naming tests' photos: folder a (alice, bob, alice+bob) and folder b (alice, carol twice in
    one photo, an unknown dave twice)."""
    make_photo(root / "a" / "alice1.png", (ALICE, 60))
    make_photo(root / "a" / "bob1.png", (BOB, 60))
    make_photo(root / "a" / "both.png", (ALICE2, 40), (BOB2, 60))
    make_photo(root / "b" / "alice2.png", (ALICE3, 50))
    make_photo(root / "b" / "carol.png", (CAROL, 50), (CAROL2, 30))
    make_photo(root / "b" / "dave1.png", (DAVE, 50))
    make_photo(root / "b" / "dave2.png", (DAVE2, 50))
    return root


__all__ = ["immich_displayed_box", "FORMATS", "TO_DISPLAYED", "exif_with_orientation", "face_picture", "make_raw",
           "noise_picture", "save_oriented", "stored_pixels", "draw_faces", "make_photo", "naming_library", "Layout", "SLOTS", "SIDE"]
