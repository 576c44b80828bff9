"""Photo decoding: any supported file -> an RGB array in the orientation people see.

Face boxes are stored as fractions of the photo *as displayed* (after EXIF orientation), so the
decoder applies the orientation before anything looks for faces. It decodes no more pixels than
the engine needs (JPEG draft mode, then a resize to ``engine.max_image_pixels``) and refuses
absurdly large photos from their header, before a single pixel is allocated: by stored pixels
(``engine.pixel_limit``) and by the memory decoding them would take (``engine.decode_memory_mb``,
which counts bands, bit depth and the decoder's buffers, so that a small 16-bit RGBA PNG or a
deflated TIFF cannot take gigabytes). Only the decoded image is full size: it is scaled down in
its own mode first, and turned and converted to RGB afterwards.

Every failure is an :class:`ImageError` naming the file, what went wrong and what to do: a photo
that cannot be read has *unknown* faces, never "no faces".
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import FacesidecarError, ImageError
from .store import confined
from .tiffheader import StoredLayout, read_stored_layout

RAW_EXTENSIONS = {".cr2", ".nef", ".arw", ".dng", ".orf", ".raf"}
HEIF_EXTENSIONS = {".heic", ".heif", ".hif", ".avif"}

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""How to turn stored pixels into displayed pixels for each EXIF orientation (as ImageOps does)."""

# Errors Pillow and its plugins raise for broken files (SyntaxError: bad PNG chunks, struct.error
# and IndexError: short headers, zlib.error: broken deflate streams).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)

# decode_photo refuses every image PIL would warn about (see _open) with a clearer ImageError.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

DECODE_MEMORY_MB = 768
"""Default of ``engine.decode_memory_mb``: room for a 150-megapixel RGB PNG or TIFF."""

_MIB = 1 << 20
_OUTPUT_BYTES_PER_PIXEL = 24
"""Work on the scaled-down image (float conversion of 16-bit values, RGB, transposed copy, array)."""
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
"""Bytes per pixel Pillow keeps for a mode; every other mode takes 4 (multi-band images are stored
as 32-bit pixels, "I" and "F" as 32-bit values)."""
_CONVERTED_BEFORE_RESIZE = {"1", "P", "PA", "RGBA", "LA", "I;16", "I;16L", "I;16B", "I;16N"}
"""Modes that cost one more full-size (32-bit) copy before scaling down: Pillow resizes "1" and "P"
only by nearest neighbour (so they become L/RGB(A) first), premultiplies alpha in a copy and
scales 16-bit grey as 32-bit."""
_DECODER_COPY = {"WEBP": 4, "HEIF": 8, "AVIF": 8}
"""Bytes per pixel of the buffer these decoders fill before Pillow copies it into the image."""

_heif_lock = threading.Lock()
_heif_registered = False
_heif_available = False


@dataclass
class DecodedPhoto:
    """A photo ready for the engine, plus the sizes needed to map boxes back to the file."""

    rgb: np.ndarray
    """H x W x 3 uint8 in *displayed* orientation, possibly reduced below the full size."""
    stored_width: int
    """Pixel size as stored in the file, before orientation."""
    stored_height: int
    orientation: int
    """EXIF orientation 1..8 (1 when absent)."""
    displayed_width: int
    """Full-resolution size as displayed (stored size swapped for orientations 5-8)."""
    displayed_height: int

    @property
    def scale(self) -> float:
        """Full-resolution displayed pixels per pixel of ``rgb`` (1.0 when not reduced)."""
        return self.displayed_width / self.rgb.shape[1]


@dataclass(frozen=True)
class PhotoBytes:
    """A photo's bytes, read in the scanning process (through the confined layer) so that decoding
    can happen anywhere: in this process, a worker process or another machine (issue 18)."""

    path: Path
    """Where the photo is, for messages only: decoding never opens it."""
    data: bytes
    """The file's bytes, or a RAW file's embedded JPEG preview."""
    raw_orientation: int = 1
    """A RAW file's orientation from its own header (its preview usually has none)."""


def read_photo(
    path: Path, preview_loader: Callable[[Path], bytes] | None = None, decode_memory_mb: int = DECODE_MEMORY_MB
) -> PhotoBytes:
    """The bytes :func:`decode_bytes` needs; a file larger than ``decode_memory_mb`` is not read.

    No photo file worth decoding is larger than the memory its decoding may take (uncompressed
    TIFF is the largest, at about its decoded size), so that cap keeps a huge hostile file out of
    memory. RAW files give their embedded preview (exiftool extracts it) and their orientation.
    """
    path = Path(path)
    if path.suffix.lower() in RAW_EXTENSIONS:
        return PhotoBytes(path, _raw_preview(path, preview_loader), _raw_orientation(path))
    limit = decode_memory_mb * 2**20
    with _open_source(path) as source:
        try:
            data = source.read(limit + 1)
        except OSError as exc:
            raise ImageError(f"{path}: cannot be read ({_reason(exc)}); check the disk or network mount") from None
    if len(data) > limit:
        raise ImageError(
            f"{path}: the file is larger than engine.decode_memory_mb ({decode_memory_mb} MB); not read. Raise"
            " engine.decode_memory_mb in the config if this photo is genuine"
        )
    return PhotoBytes(path, data)


def decode_photo(
    path: Path,
    max_image_pixels: int,
    pixel_limit: int,
    preview_loader: Callable[[Path], bytes] | None = None,
    decode_memory_mb: int = DECODE_MEMORY_MB,
) -> DecodedPhoto:
    """Decode ``path`` into at most ``max_image_pixels`` RGB pixels, displayed orientation.

    Photos larger than ``pixel_limit`` (stored pixels), or whose decoding would take more than
    ``decode_memory_mb``, are refused from their header. RAW files are decoded from the embedded
    preview that ``preview_loader`` extracts.
    """
    photo = read_photo(path, preview_loader, decode_memory_mb)
    return decode_bytes(photo, max_image_pixels, pixel_limit, decode_memory_mb)


def decode_bytes(photo: PhotoBytes, max_image_pixels: int, pixel_limit: int,
                 decode_memory_mb: int = DECODE_MEMORY_MB) -> DecodedPhoto:
    """:func:`decode_photo` of bytes already read: touches no file, so it runs in worker processes."""
    path = photo.path
    _register_heif()
    with io.BytesIO(photo.data) as source:
        try:
            with _open(path, source, pixel_limit) as image:
                layout = _tiff_layout(image, source)
                opened_size = image.size
                _draft(image, max_image_pixels)
                check_decode_memory(path, image, max_image_pixels, decode_memory_mb)
                if image.format not in ("JPEG", "MPO"):
                    # PNG decodes its pixels to find EXIF: a broken pixel stream must fail here, not
                    # pass for a broken EXIF block and leave a half-black image ("no faces")
                    image.load()
                orientation, pre_rotated = _orientation(image, layout)
                if orientation == 1:
                    orientation = photo.raw_orientation
                image.load()
                rgb = _displayed_rgb(image, orientation, pre_rotated, max_image_pixels)
        except ImageError:
            raise
        except MemoryError:
            raise ImageError(
                f"{path}: not enough memory to decode this photo; lower engine.max_image_pixels or"
                " engine.pixel_limit, or give the service more memory"
            ) from None
        except _DECODE_ERRORS as exc:
            raise ImageError(
                f"{path}: the image data is corrupt or truncated ({_reason(exc)}); if it is still being"
                " copied it is retried when it changes, otherwise re-copy or re-export it"
            ) from None
    if layout is not None:
        stored_width, stored_height = layout.width, layout.height
    else:
        stored_width, stored_height = _swap_if_rotated(*opened_size, orientation) if pre_rotated else opened_size
    displayed_width, displayed_height = _swap_if_rotated(stored_width, stored_height, orientation)
    return DecodedPhoto(
        rgb=rgb,
        stored_width=stored_width,
        stored_height=stored_height,
        orientation=orientation,
        displayed_width=displayed_width,
        displayed_height=displayed_height,
    )


def _register_heif() -> None:
    """Teach Pillow HEIC/HEIF once, on first use, so importing this module stays cheap."""
    global _heif_registered, _heif_available
    with _heif_lock:
        if _heif_registered:
            return
        _heif_registered = True
        try:
            import pillow_heif
        except ImportError:
            return  # other formats still work; HEIC files fail in _open with a hint
        pillow_heif.register_heif_opener()
        _heif_available = True


def _open_source(path: Path) -> BinaryIO:
    """The photo file opened through the confined layer.

    OS failures become advice, and a 0-byte file (an unfinished upload) is recognised before
    Pillow would call it "not an image".
    """
    try:
        handle = confined.open_file(path)
        empty = os.fstat(handle.fileno()).st_size == 0
    except confined.RefusedFile as exc:
        raise ImageError(str(exc)) from None
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found (moved or deleted while scanning?)") from None
    except PermissionError:
        raise ImageError(
            f"{path}: permission denied; give the user facesidecar runs as read access to the file"
            " and its folder (chmod/chown or the share's ACL)"
        ) from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not a photo; rename it or add it to exclude") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({_reason(exc)}); check the disk or network mount") from None
    if empty:
        handle.close()
        raise ImageError(
            f"{path}: the file is empty (0 bytes): an unfinished upload or a failed copy; it is"
            " retried when it changes, otherwise copy it again"
        )
    return handle


def _raw_preview(path: Path, preview_loader: Callable[[Path], bytes] | None) -> bytes:
    """The JPEG preview embedded in a RAW file: facesidecar never develops RAW data itself."""
    if preview_loader is None:
        raise ImageError(
            f"{path}: RAW photos are read through their embedded JPEG preview, which needs exiftool;"
            " install exiftool (apt-get install libimage-exiftool-perl) and enable metadata"
        )
    try:
        data = preview_loader(path)
    except FacesidecarError as exc:
        raise ImageError(f"{path}: cannot extract the RAW file's embedded preview: {exc}") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot extract the RAW file's embedded preview ({_reason(exc)})") from None
    if not data:
        raise ImageError(
            f"{path}: the RAW file has no embedded JPEG preview; export a JPEG next to it to have"
            " its faces found"
        )
    return data


def _open(path: Path, source: BinaryIO, pixel_limit: int) -> Image.Image:
    """Open ``source`` lazily (header only) and refuse it if it has more than ``pixel_limit`` pixels.

    Pillow's own bomb check is set to the same limit so that it, too, fires before any pixel
    memory is allocated; it raises only above twice the limit, our check covers the rest.
    """
    Image.MAX_IMAGE_PIXELS = pixel_limit
    try:
        image = Image.open(source)
    except Image.DecompressionBombError as exc:
        match = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(match[1]):,} pixels" if match else "too many pixels"
        raise _too_large(path, size, pixel_limit) from None
    except UnidentifiedImageError:
        heif = path.suffix.lower() in HEIF_EXTENSIONS
        hint = " (HEIC needs pillow-heif: pip install pillow-heif)" if heif and not _heif_available else ""
        raise ImageError(
            f"{path}: not a photo facesidecar can read{hint}: the format is unknown or the header is"
            " damaged; open it in an image viewer, re-export it, or remove it from the folder"
        ) from None
    width, height = image.size
    if width * height > pixel_limit:
        image.close()
        raise _too_large(path, f"{width}x{height} = {width * height:,} pixels", pixel_limit)
    if width <= 0 or height <= 0:
        image.close()
        raise ImageError(f"{path}: the header says the image is {width}x{height}; the file is damaged")
    return image


def decode_memory_bytes(image: Image.Image, max_image_pixels: int) -> int:
    """What decoding ``image`` (opened, not loaded; after any draft) takes at its peak, in bytes.

    The decoded image in Pillow's layout for its mode, one more full-size copy for the modes
    converted before scaling, the decoder's own buffer (a TIFF strip or tile at its stored bands
    and bit depth, WebP/HEIF's frame), and the work on the scaled-down image.
    """
    width, height = image.size
    pixels = width * height
    total = pixels * _MODE_BYTES.get(image.mode, 4)
    if image.mode in _CONVERTED_BEFORE_RESIZE and pixels > max_image_pixels:
        total += pixels * 4
    total += pixels * _DECODER_COPY.get(image.format or "", 0) + _tiff_buffer_bytes(image)
    return total + min(pixels, max_image_pixels) * _OUTPUT_BYTES_PER_PIXEL


def _tiff_buffer_bytes(image: Image.Image) -> int:
    """The strip or tile buffer libtiff fills, at the file's stored samples and bit depth."""
    tags = getattr(image, "tag_v2", None)
    if image.format != "TIFF" or tags is None:
        return 0
    width, height = image.size
    bits = tags.get(258, (8,))
    bits_per_pixel = sum(bits) if isinstance(bits, tuple) else int(bits) * int(tags.get(277, 1))
    if 322 in tags and 323 in tags:
        area = int(tags[322]) * int(tags[323])
    else:
        area = width * min(height, max(1, int(tags.get(278, height))))
    return math.ceil(area * max(bits_per_pixel, 8) / 8)


def check_decode_memory(path: Path, image: Image.Image, max_image_pixels: int, decode_memory_mb: int) -> None:
    """Refuse the photo before any pixel is decoded if decoding it would pass ``decode_memory_mb``."""
    needed = decode_memory_bytes(image, max_image_pixels)
    if needed > decode_memory_mb * _MIB:
        width, height = image.size
        raise ImageError(
            f"{path}: decoding this {width}x{height} {image.mode} {image.format or ''} image would take about"
            f" {math.ceil(needed / _MIB):,} MB, more than engine.decode_memory_mb ({decode_memory_mb:,} MB);"
            " not decoded. Raise engine.decode_memory_mb (and the service's MemoryMax) if this photo is genuine,"
            " or save it as JPEG"
        )


def _too_large(path: Path, size: str, pixel_limit: int) -> ImageError:
    return ImageError(
        f"{path}: {size} is more than engine.pixel_limit ({pixel_limit:,} pixels); not decoded."
        " Raise engine.pixel_limit in the config if this photo is genuine"
    )


def _tiff_layout(image: Image.Image, source: BinaryIO) -> StoredLayout | None:
    """A TIFF's stored size and orientation from its own header (see :mod:`.tiffheader`).

    Pillow's TIFF plugin turns the image for display on load in recent versions and leaves it
    alone in older ones, so what it reports afterwards cannot be trusted for the stored frame.
    """
    if image.format != "TIFF":
        return None
    position = source.tell()
    try:
        source.seek(0)
        return read_stored_layout(source)
    except (OSError, struct.error):
        return None
    finally:
        source.seek(position)


def _orientation(image: Image.Image, layout: StoredLayout | None) -> tuple[int, bool]:
    """The EXIF (or XMP) orientation, and whether the decoder already applied it.

    pillow-heif rotates HEIC images while decoding (libheif applies the file's transforms) and
    resets the tag to 1, keeping the original value in ``info["original_orientation"]``. A TIFF's
    orientation comes from its header; Pillow applied it when the loaded image no longer says so.
    """
    if layout is not None:
        return layout.orientation, layout.orientation != 1 and _exif_orientation(image) != layout.orientation
    original = image.info.get("original_orientation")
    if isinstance(original, int) and 1 <= original <= 8:
        return original, True
    return _exif_orientation(image), False


def _exif_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except _DECODE_ERRORS:
        return 1  # a broken EXIF block must not lose the photo's faces
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _raw_orientation(path: Path) -> int:
    """The orientation stored in a TIFF-based RAW file (CR2, NEF, ARW, DNG, ORF), read from its header.

    Embedded previews usually carry no orientation tag; without this, portrait RAW shots would be
    scanned lying on their side. Best effort: anything unreadable counts as 1.
    """
    try:
        with confined.open_file(path) as raw:
            layout = read_stored_layout(raw)
    except (OSError, struct.error, confined.RefusedFile):
        return 1
    return layout.orientation if layout is not None else 1


def _draft(image: Image.Image, max_image_pixels: int) -> None:
    """Let the JPEG decoder scale down by 1/2, 1/4 or 1/8 while decoding (much faster, less memory).

    The requested size is the smallest that still holds ``max_image_pixels``, so the draft never
    goes below what the engine gets; draft rounds sizes, so callers use the real decoded size.
    """
    width, height = image.size
    if image.format not in ("JPEG", "MPO") or width * height <= max_image_pixels:
        return
    factor = math.sqrt(max_image_pixels / (width * height))
    image.draft("RGB", (max(1, math.ceil(width * factor)), max(1, math.ceil(height * factor))))


def _transpose(image: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return image.transpose(method) if method is not None else image


def _swap_if_rotated(width: int, height: int, orientation: int) -> tuple[int, int]:
    """Orientations 5-8 turn the photo by 90 degrees: displayed width is stored height."""
    return (height, width) if orientation >= 5 else (width, height)


def _displayed_rgb(image: Image.Image, orientation: int, pre_rotated: bool, max_image_pixels: int) -> np.ndarray:
    """The engine's pixels: scaled down in the image's own mode, then turned, then made RGB.

    Scaling first keeps every copy but the decoded image small (turning, 16-bit scaling and
    compositing transparency over white all copy the whole image); see :func:`decode_memory_bytes`.
    """
    small = _fit(_resizable(image), max_image_pixels)
    displayed = small if pre_rotated else _transpose(small, orientation)
    return np.ascontiguousarray(np.asarray(_to_rgb(displayed), dtype=np.uint8))


def _resizable(image: Image.Image) -> Image.Image:
    """``image`` in a mode Pillow scales with a real filter (it scales "1" and "P" by nearest pixel)."""
    if image.mode == "1":
        return image.convert("L")
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode == "PA":
        return image.convert("RGBA")
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any mode: 16-bit and float scaled down, transparency over white, CMYK, palette."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        if values.size and values.max() > 255:
            values = values / 257.0
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _fit(image: Image.Image, max_image_pixels: int) -> Image.Image:
    """Scale down (never up) so the engine gets at most ``max_image_pixels`` pixels."""
    width, height = image.size
    if width * height <= max_image_pixels:
        return image
    factor = math.sqrt(max_image_pixels / (width * height))
    size = (max(1, math.floor(width * factor)), max(1, math.floor(height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _reason(exc: BaseException) -> str:
    """The cause in words, without Python class names when the message says enough."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return text or type(exc).__name__


__all__ = ["DecodedPhoto", "PhotoBytes", "decode_bytes", "decode_photo", "read_photo", "RAW_EXTENSIONS", "HEIF_EXTENSIONS"]
