"""Uploaded photos: kept in a private temporary folder, decoded exactly as scans decode photos.

An upload is written to a folder only the service user can enter (under the system's temporary
folder, which systemd makes private to the service) and removed when the request ends: uploads
never land in a photo root. Decoding goes through ``imaging.decode_photo`` with the scan's bomb
limit (``engine.pixel_limit``), after the image header has been checked against the area the
endpoint accepts, so an oversized upload is refused before a pixel is decoded.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..config import EngineSettings
from ..errors import ImageError
from ..imaging import DecodedPhoto, decode_photo
from ..names import is_control
from .errors import ServeError

MAX_FILENAME = 255


@dataclass(frozen=True)
class Upload:
    """A received photo: where its bytes are, and the name the client gave it (display only)."""

    path: Path
    filename: str


def client_filename(raw: str | None) -> str:
    """The client's file name for echoing back: last path part, no control characters, bounded."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name) if not is_control(c))
    return name[:MAX_FILENAME]


class Uploads:
    """Receives uploads into a private temporary folder and decodes them."""

    def __init__(self, engine: EngineSettings):
        self.engine = engine
        self._folder = tempfile.TemporaryDirectory(prefix="facesidecar-serve-")

    def close(self) -> None:
        self._folder.cleanup()

    @contextlib.contextmanager
    def received(self, storage) -> Iterator[Upload]:
        """The uploaded ``file`` part (a werkzeug FileStorage) saved to a private file for the request."""
        if storage is None:
            raise ServeError(400, "no photo: send it as the multipart field 'file'")
        path = Path(self._folder.name) / f"upload-{secrets.token_hex(8)}"
        try:
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
                storage.save(out)
            if path.stat().st_size == 0:
                raise ServeError(400, "the photo in field 'file' is empty")
            yield Upload(path, client_filename(storage.filename))
        finally:
            with contextlib.suppress(OSError):
                path.unlink()

    def decode(self, upload: Upload, maximum_area: int, status: int) -> DecodedPhoto:
        """The photo at full size, refused with ``status`` when it has more than ``maximum_area`` pixels.

        ``maximum_area`` tolerates the rounding of a client that scales photos to exactly that area
        (Nextcloud rounds each side, which can add up to half a row and half a column).
        """
        hint = "this server accepts; scale it down"
        width, height = self._size(upload, maximum_area, status, hint)
        decoded = self._decode(upload, width * height or maximum_area)
        self._check(upload, decoded.displayed_width, decoded.displayed_height, maximum_area, status, hint)
        return decoded

    def decode_scaled(self, upload: Upload) -> DecodedPhoto:
        """The photo as a scan sees it: reduced to ``engine.max_image_pixels``, refused (413) above
        ``engine.pixel_limit`` like a photo in a folder."""
        self._size(upload, self.engine.pixel_limit, 413, "engine.pixel_limit allows")
        return self._decode(upload, self.engine.max_image_pixels)

    def _size(self, upload: Upload, limit: int, status: int, hint: str) -> tuple[int, int]:
        """The header's size, checked against ``limit``; (0, 0) when the header cannot be read
        (the decoder then says what is wrong)."""
        try:
            with Image.open(upload.path) as image:
                width, height = image.size
        except Image.DecompressionBombError:
            raise ServeError(status, f"{upload.filename or 'the photo'}: far more pixels than the {limit:,} {hint}") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            return 0, 0
        self._check(upload, width, height, limit, status, hint)
        return width, height

    @staticmethod
    def _check(upload: Upload, width: int, height: int, limit: int, status: int, hint: str) -> None:
        if width * height > limit + (width + height) // 2 + 1:
            raise ServeError(status, f"{upload.filename or 'the photo'}: {width}x{height} = {width * height:,} pixels "
                                     f"is more than the {limit:,} {hint}")

    def _decode(self, upload: Upload, max_image_pixels: int) -> DecodedPhoto:
        try:
            return decode_photo(upload.path, max_image_pixels, self.engine.pixel_limit,
                                decode_memory_mb=self.engine.decode_memory_mb)
        except ImageError as exc:
            message = str(exc).replace(str(upload.path), upload.filename or "the photo")
            raise ServeError(400, message) from None


__all__ = ["Upload", "Uploads", "client_filename"]
