"""decode_photo: formats, modes, EXIF orientation, size limits and every way a file can be broken."""

from __future__ import annotations

import io
import os
import resource
import shutil
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from facesidecar import imaging
from facesidecar.errors import ImageError, MetadataError
from facesidecar.imaging import RAW_EXTENSIONS, DecodedPhoto, decode_photo

from .conftest import TEST_DATA
from .photos import save_oriented

LIMIT = 200_000_000
MAX = 4_000_000

def displayed_picture(width: int = 90, height: int = 60) -> Image.Image:
    """An asymmetric picture: a mistake in any of the 8 orientations shows up in its pixels."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    pixels[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    pixels[: height // 3, : width // 4, 2] = 255
    return Image.fromarray(pixels)


def decode(path: Path, max_pixels: int = MAX, limit: int = LIMIT, **kwargs) -> DecodedPhoto:
    return decode_photo(path, max_pixels, limit, **kwargs)


def jpeg_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid-looking PNG whose header claims ``width`` x ``height``, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Where a stored corner is shown, as (bottom?, right?), by EXIF 2.3's definition of tag 0x0112 ("the
# 0th row is the visual top/bottom/left/right-hand side"), written down without any transpose table.
FIRST_PIXEL_SHOWN_AT = {1: (0, 0), 2: (0, 1), 3: (1, 1), 4: (1, 0), 5: (0, 0), 6: (0, 1), 7: (1, 1), 8: (1, 0)}
LAST_OF_FIRST_ROW_SHOWN_AT = {1: (0, 1), 2: (0, 0), 3: (1, 0), 4: (1, 1), 5: (1, 0), 6: (1, 1), 7: (0, 1), 8: (0, 0)}


def shown_corner(pixels: np.ndarray, channel: int) -> tuple[int, int]:
    """(bottom?, right?) of the one corner where ``channel`` is lit."""
    rows, cols = np.nonzero(pixels[..., channel] > 127)
    height, width = pixels.shape[:2]
    return int(rows.mean() > height / 2), int(cols.mean() > width / 2)


class TestOrientation:
    @pytest.mark.parametrize("orientation", range(1, 9))
    def test_stored_corners_are_shown_where_exif_says(self, tmp_path, orientation):
        """The oracle is the EXIF definition, not a copy of the table the code uses."""
        stored = np.zeros((60, 90, 3), np.uint8)
        stored[:6, :6, 0] = 255  # red: the first stored pixel
        stored[:6, -6:, 1] = 255  # green: the last pixel of the first stored row
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(stored).save(tmp_path / "p.png", exif=exif)
        photo = decode(tmp_path / "p.png")
        assert shown_corner(photo.rgb, 0) == FIRST_PIXEL_SHOWN_AT[orientation]
        assert shown_corner(photo.rgb, 1) == LAST_OF_FIRST_ROW_SHOWN_AT[orientation]

    @pytest.mark.parametrize("orientation", range(1, 9))
    def test_the_test_photos_display_upright_in_pillow(self, tmp_path, orientation):
        """save_oriented (which many tests use) checked against Pillow's own exif_transpose."""
        picture = displayed_picture()
        shown = ImageOps.exif_transpose(Image.open(save_oriented(picture, orientation, tmp_path / "p.png")))
        assert np.array_equal(np.asarray(shown), np.asarray(picture))

    @pytest.mark.parametrize("orientation", range(1, 9))
    def test_jpeg_decodes_as_displayed(self, tmp_path, orientation):
        picture = displayed_picture()
        photo = decode(save_oriented(picture, orientation, tmp_path / "p.jpg", quality=95))
        assert photo.orientation == orientation
        assert (photo.displayed_width, photo.displayed_height) == picture.size
        stored = (60, 90) if orientation >= 5 else (90, 60)
        assert (photo.stored_width, photo.stored_height) == stored
        assert photo.rgb.shape == (60, 90, 3) and photo.rgb.dtype == np.uint8
        difference = np.abs(photo.rgb.astype(int) - np.asarray(picture, dtype=int)).mean()
        assert difference < 8, f"orientation {orientation} decoded the wrong way round"

    @pytest.mark.parametrize("orientation", [3, 6, 8])
    def test_png_orientation_is_exact(self, tmp_path, orientation):
        picture = displayed_picture()
        photo = decode(save_oriented(picture, orientation, tmp_path / "p.png"))
        assert np.array_equal(photo.rgb, np.asarray(picture))

    @pytest.mark.parametrize("suffix", [".tif", ".webp"])
    @pytest.mark.parametrize("orientation", range(1, 9))
    def test_orientation_and_stored_size_come_from_the_file(self, tmp_path, orientation, suffix):
        """Pillow's TIFF plugin turns TIFFs on load (from 11.x) and then reports the displayed size
        and no orientation; the stored size and the tag are what the regions need."""
        picture = displayed_picture()
        photo = decode(save_oriented(picture, orientation, tmp_path / f"p{suffix}", lossless=True))
        assert photo.orientation == orientation
        assert (photo.stored_width, photo.stored_height) == ((60, 90) if orientation >= 5 else (90, 60))
        assert (photo.displayed_width, photo.displayed_height) == (90, 60)
        assert np.array_equal(photo.rgb, np.asarray(picture))

    def test_invalid_orientation_counts_as_1(self, tmp_path):
        picture = displayed_picture()
        exif = Image.Exif()
        exif[0x0112] = 42
        picture.save(tmp_path / "p.jpg", exif=exif)
        assert decode(tmp_path / "p.jpg").orientation == 1

    def test_large_rotated_jpeg_is_reduced_with_full_displayed_size(self, tmp_path):
        picture = Image.linear_gradient("L").resize((6000, 4000)).convert("RGB")
        path = save_oriented(picture, 6, tmp_path / "big.jpg", quality=80)
        started = time.perf_counter()
        photo = decode(path, max_pixels=2_000_000)
        assert time.perf_counter() - started < 3
        assert (photo.displayed_width, photo.displayed_height) == (6000, 4000)
        assert (photo.stored_width, photo.stored_height) == (4000, 6000)
        height, width = photo.rgb.shape[:2]
        assert width * height <= 2_000_000
        assert width * height > 1_500_000, "reduced more than needed"
        assert abs(width / height - 1.5) < 0.01
        assert photo.scale == pytest.approx(6000 / width)


class TestFormatsAndModes:
    def test_heic(self, tmp_path):
        pillow_heif = pytest.importorskip("pillow_heif")
        pillow_heif.register_heif_opener()
        picture = displayed_picture()
        picture.save(tmp_path / "p.heic", quality=95)
        photo = decode(tmp_path / "p.heic")
        assert photo.rgb.shape == (60, 90, 3)
        assert (photo.stored_width, photo.stored_height, photo.orientation) == (90, 60, 1)
        assert np.abs(photo.rgb.astype(int) - np.asarray(picture, dtype=int)).mean() < 8

    def test_heic_under_another_extension(self, tmp_path):
        pillow_heif = pytest.importorskip("pillow_heif")
        pillow_heif.register_heif_opener()
        displayed_picture().save(tmp_path / "p.jpg", format="HEIF")
        assert decode(tmp_path / "p.jpg").rgb.shape == (60, 90, 3)

    def test_truncated_heic(self, tmp_path):
        pillow_heif = pytest.importorskip("pillow_heif")
        pillow_heif.register_heif_opener()
        buffer = io.BytesIO()
        Image.effect_noise((400, 300), 60).convert("RGB").save(buffer, "HEIF")
        (tmp_path / "cut.heic").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        with pytest.raises(ImageError, match=r"cut\.heic.*corrupt or truncated"):
            decode(tmp_path / "cut.heic")

    def test_16_bit_grayscale_png_is_scaled_not_clipped(self, tmp_path):
        ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
        Image.fromarray(ramp).save(tmp_path / "p.png")
        photo = decode(tmp_path / "p.png")
        assert photo.rgb.shape == (8, 64, 3)
        assert photo.rgb[0, 0, 0] == 0 and photo.rgb[0, -1, 0] == 255
        assert 120 < photo.rgb[0, 32, 0] < 136

    def test_rgba_png_is_composited_on_white(self, tmp_path):
        pixels = np.zeros((10, 10, 4), np.uint8)
        pixels[:5, :, :] = (255, 0, 0, 255)  # opaque red top, fully transparent black bottom
        Image.fromarray(pixels, "RGBA").save(tmp_path / "p.png")
        photo = decode(tmp_path / "p.png")
        assert tuple(photo.rgb[0, 0]) == (255, 0, 0)
        assert tuple(photo.rgb[9, 9]) == (255, 255, 255)

    @pytest.mark.parametrize(
        ("mode", "suffix"),
        [("CMYK", ".jpg"), ("L", ".jpg"), ("L", ".png"), ("P", ".png"), ("LA", ".png"), ("1", ".png"),
         ("RGB", ".webp"), ("RGB", ".tif"), ("I;16", ".tif"), ("RGB", ".gif")],
    )
    def test_mode_becomes_rgb(self, tmp_path, mode, suffix):
        displayed_picture().convert(mode).save(tmp_path / f"p{suffix}")
        photo = decode(tmp_path / f"p{suffix}")
        assert photo.rgb.shape == (60, 90, 3) and photo.rgb.dtype == np.uint8
        assert photo.rgb.flags["C_CONTIGUOUS"]

    def test_cmyk_jpeg_keeps_its_colours(self, tmp_path):
        Image.new("RGB", (32, 32), (200, 30, 30)).convert("CMYK").save(tmp_path / "p.jpg", quality=95)
        red, green, blue = decode(tmp_path / "p.jpg").rgb[16, 16].astype(int)
        assert red > 150 and green < 80 and blue < 80

    def test_small_photo_is_not_enlarged(self):
        photo = decode(TEST_DATA / "group13.jpg")
        assert photo.rgb.shape == (375, 500, 3)
        assert photo.scale == 1.0

    def test_draft_reduces_jpeg_close_to_target(self, tmp_path):
        path = tmp_path / "p.jpg"
        Image.open(TEST_DATA / "group13.jpg").resize((2000, 1500)).save(path)
        photo = decode(path, max_pixels=500 * 375)
        assert photo.rgb.shape == (375, 500, 3)
        assert (photo.displayed_width, photo.displayed_height) == (2000, 1500)


class TestRaw:
    def test_raw_is_decoded_from_its_preview(self, tmp_path):
        raw = tmp_path / "IMG_1.CR2"
        raw.write_bytes(b"not really raw")
        preview = jpeg_bytes(displayed_picture())
        photo = decode(raw, preview_loader=lambda path: preview)
        assert photo.rgb.shape == (60, 90, 3)
        assert (photo.stored_width, photo.stored_height, photo.orientation) == (90, 60, 1)

    def test_raw_orientation_comes_from_the_raw_header(self, tmp_path):
        """Embedded previews usually lack the tag; TIFF-based RAW files have it in IFD0."""
        raw = tmp_path / "DSC_1.nef"
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.new("RGB", (8, 8)).save(raw, format="TIFF", exif=exif)
        picture = displayed_picture()
        preview = jpeg_bytes(picture.transpose(Image.Transpose.ROTATE_90), quality=95)
        photo = decode(raw, preview_loader=lambda path: preview)
        assert photo.orientation == 6
        assert (photo.displayed_width, photo.displayed_height) == (90, 60)
        assert np.abs(photo.rgb.astype(int) - np.asarray(picture, dtype=int)).mean() < 8

    def test_raw_without_loader_says_what_is_missing(self, tmp_path):
        raw = tmp_path / "x.dng"
        raw.write_bytes(b"II*\x00")
        with pytest.raises(ImageError, match=r"x\.dng.*exiftool"):
            decode(raw)

    def test_raw_without_preview(self, tmp_path):
        raw = tmp_path / "x.arw"
        raw.write_bytes(b"II*\x00")
        with pytest.raises(ImageError, match=r"x\.arw.*no embedded JPEG preview"):
            decode(raw, preview_loader=lambda path: b"")

    def test_loader_failure_becomes_image_error(self, tmp_path):
        raw = tmp_path / "x.orf"
        raw.write_bytes(b"II*\x00")

        def broken(path: Path) -> bytes:
            raise MetadataError(f"exiftool failed on {path}")

        with pytest.raises(ImageError, match=r"x\.orf.*exiftool failed"):
            decode(raw, preview_loader=broken)

    def test_extensions(self):
        assert {".cr2", ".nef", ".arw", ".dng", ".orf", ".raf"} == RAW_EXTENSIONS


class TestBrokenFiles:
    @pytest.mark.parametrize("name", ["1.png", "2.jpg", "3.png"])
    def test_shared_corrupt_files(self, shared_faces, tmp_path, name):
        path = tmp_path / f"corrupt_{name}"
        shutil.copyfile(shared_faces / "corrupt" / name, path)
        started = time.perf_counter()
        with pytest.raises(ImageError) as caught:
            decode(path)
        assert time.perf_counter() - started < 1
        message = str(caught.value)
        assert path.name in message
        assert "re-" in message  # says what to do: re-copy / re-export

    def test_empty_file(self, tmp_path):
        (tmp_path / "upload.jpg").write_bytes(b"")
        with pytest.raises(ImageError, match=r"upload\.jpg.*empty \(0 bytes\)"):
            decode(tmp_path / "upload.jpg")

    def test_jpeg_cut_in_half(self, tmp_path):
        data = (TEST_DATA / "group13.jpg").read_bytes()
        (tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
        with pytest.raises(ImageError, match=r"half\.jpg.*truncated"):
            decode(tmp_path / "half.jpg")

    def test_jpeg_cut_in_half_is_an_error_with_draft_too(self, tmp_path):
        buffer = io.BytesIO()
        Image.effect_noise((1600, 1200), 60).convert("RGB").save(buffer, "JPEG")
        data = buffer.getvalue()
        (tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
        with pytest.raises(ImageError, match=r"half\.jpg"):
            decode(tmp_path / "half.jpg", max_pixels=100_000)

    def test_not_an_image(self, tmp_path):
        (tmp_path / "notes.jpg").write_text("shopping list\n")
        with pytest.raises(ImageError, match=r"notes\.jpg.*not a photo"):
            decode(tmp_path / "notes.jpg")

    def test_missing_file(self, tmp_path):
        with pytest.raises(ImageError, match=r"gone\.jpg.*not found"):
            decode(tmp_path / "gone.jpg")

    def test_folder(self, tmp_path):
        (tmp_path / "album.jpg").mkdir()
        with pytest.raises(ImageError, match=r"album\.jpg.*folder"):
            decode(tmp_path / "album.jpg")

    def test_permission_denied(self, tmp_path, monkeypatch):
        path = tmp_path / "private.jpg"
        shutil.copyfile(TEST_DATA / "group13.jpg", path)

        def refuse(path, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(imaging.confined, "open_file", refuse)
        with pytest.raises(ImageError, match=r"private\.jpg.*permission denied.*read access"):
            decode(path)

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
    def test_permission_denied_for_real(self, tmp_path):
        path = tmp_path / "private.jpg"
        shutil.copyfile(TEST_DATA / "group13.jpg", path)
        path.chmod(0)
        with pytest.raises(ImageError, match="permission denied"):
            decode(path)


class TestPixelLimit:
    def test_png_header_claiming_10_gigapixels_is_refused_unread(self, tmp_path):
        path = tmp_path / "bomb.png"
        path.write_bytes(png_bomb())
        before = peak_rss_mb()
        started = time.perf_counter()
        with pytest.raises(ImageError) as caught:
            decode(path)
        assert time.perf_counter() - started < 1
        assert peak_rss_mb() - before < 50
        message = str(caught.value)
        assert "bomb.png" in message and "engine.pixel_limit" in message
        assert "10,000,000,000 pixels" in message and "200,000,000" in message

    # decode_photo silences this warning for the process; pytest resets filters per test.
    @pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
    def test_just_over_the_limit_is_refused_from_the_header(self, tmp_path):
        """Between the limit and twice the limit Pillow only warns: our own check refuses."""
        path = tmp_path / "wide.png"
        path.write_bytes(png_bomb(50, 30))
        with pytest.raises(ImageError, match=r"wide\.png: 50x30 = 1,500 pixels.*engine\.pixel_limit \(1,000 pixels\)"):
            decode(path, max_pixels=100, limit=1_000)

    def test_at_the_limit_is_accepted(self, tmp_path):
        displayed_picture(40, 25).save(tmp_path / "p.png")
        assert decode(tmp_path / "p.png", limit=1_000).rgb.shape == (25, 40, 3)

    def test_a_header_lie_with_small_claim_is_a_decode_error(self, tmp_path):
        """A 100x100 header with 16 bytes of pixels: truncated, not "no faces"."""
        path = tmp_path / "short.png"
        path.write_bytes(png_bomb(100, 100))
        with pytest.raises(ImageError, match=r"short\.png.*corrupt or truncated"):
            decode(path)
