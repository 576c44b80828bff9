"""Face thumbnails and display copies of photos, made on the fly and cached under the state dir.

The photo is decoded with :func:`facesidecar.imaging.decode_photo`, so EXIF orientation is applied
exactly as for detection and the stored boxes (fractions of the displayed photo) fit. Nothing is
ever written into a photo folder: the cache lives in ``Settings.state_path()/thumbs``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from PIL import Image

from ..errors import ImageError
from ..imaging import DECODE_MEMORY_MB, decode_photo
from ..model import Box
from ..store import confined

CACHE_VERSION = "1"
THUMB_SIZE = 160
DISPLAY_PIXELS = 2_000_000
MAX_CACHE_BYTES = 512 << 20
"""The cache is pruned to 3/4 of this (oldest first) when the review page starts."""
MARGIN = 0.3
"""Context around a face box, as a fraction of the box size on each side."""


class ThumbnailCache:
    def __init__(self, cache_dir: Path, pixel_limit: int, display_pixels: int = DISPLAY_PIXELS,
                 decode_memory_mb: int = DECODE_MEMORY_MB):
        self.cache_dir = Path(cache_dir)
        self.pixel_limit = pixel_limit
        self.decode_memory_mb = decode_memory_mb
        self.display_pixels = display_pixels
        self._decoded: OrderedDict[tuple, Image.Image] = OrderedDict()
        self._lock = threading.Lock()

    def prune(self, max_bytes: int = MAX_CACHE_BYTES) -> int:
        """Delete the oldest cached files while the cache is larger than ``max_bytes``; returns how many."""
        entries = []
        for path in self.cache_dir.glob("*/*.jpg"):
            with contextlib.suppress(OSError):
                info = path.stat()
                entries.append((info.st_mtime, info.st_size, path))
        total = sum(size for _, size, _ in entries)
        if total <= max_bytes:
            return 0
        removed = 0
        for _, size, path in sorted(entries, key=lambda e: e[0]):
            if total <= max_bytes * 3 // 4:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
                removed += 1
        return removed

    def _key(self, path: Path, *parts) -> tuple[str, tuple]:
        info = confined.lstat(path)
        if info is None or not stat.S_ISREG(info.st_mode):
            raise ImageError(f"{path}: " + (confined.not_regular(info.st_mode) if info else "file not found"))
        ident = (str(path), info.st_size, info.st_mtime_ns)
        digest = hashlib.sha256(repr((CACHE_VERSION, ident, parts)).encode()).hexdigest()
        return digest, ident

    def _cached(self, digest: str) -> bytes | None:
        try:
            return (self.cache_dir / digest[:2] / f"{digest}.jpg").read_bytes()
        except OSError:
            return None

    def _store(self, digest: str, data: bytes) -> None:
        folder = self.cache_dir / digest[:2]
        self.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.mkdir(exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".thumb-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, folder / f"{digest}.jpg")
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _displayed(self, path: Path, ident: tuple) -> Image.Image:
        """The photo as displayed, at most ``display_pixels`` (a small in-memory LRU)."""
        with self._lock:
            image = self._decoded.get(ident)
            if image is not None:
                self._decoded.move_to_end(ident)
                return image
        decoded = decode_photo(path, self.display_pixels, self.pixel_limit, decode_memory_mb=self.decode_memory_mb)
        image = Image.fromarray(decoded.rgb)
        with self._lock:
            self._decoded[ident] = image
            while len(self._decoded) > 4:
                self._decoded.popitem(last=False)
        return image

    def thumbnail(self, path: Path, box: Box, size: int = THUMB_SIZE) -> bytes:
        """A JPEG of the face in ``box`` with some context, at most ``size`` pixels square."""
        rounded = box.rounded()
        digest, ident = self._key(path, "thumb", rounded.to_plain(), size)
        data = self._cached(digest)
        if data is None:
            image = self._displayed(path, ident)
            crop = image.crop(_crop_pixels(rounded, image.width, image.height))
            crop.thumbnail((size, size), Image.Resampling.LANCZOS)
            data = _jpeg(crop)
            self._store(digest, data)
        return data

    def display(self, path: Path) -> bytes:
        """A JPEG of the whole photo as displayed, small enough for a browser."""
        digest, ident = self._key(path, "display", self.display_pixels)
        data = self._cached(digest)
        if data is None:
            data = _jpeg(self._displayed(path, ident))
            self._store(digest, data)
        return data


def _crop_pixels(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    side = max(box.w * width, box.h * height) * (1 + 2 * MARGIN)
    cx, cy = (box.x + box.w / 2) * width, (box.y + box.h / 2) * height
    left, top = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    right, bottom = min(width, round(cx + side / 2)), min(height, round(cy + side / 2))
    return left, top, max(right, left + 1), max(bottom, top + 1)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()

