"""Orientation math, checked against Pillow's own reading of EXIF orientation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from facesidecar.model import Box
from facesidecar.regions import (
    displayed_to_stored,
    from_mp_rectangle,
    from_mwg_area,
    stored_to_displayed,
    to_mwg_area,
)

ORIENTATIONS = range(1, 9)
STORED = (60, 40)


def close(a: Box, b: Box, tol: float = 1e-9) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(a.to_plain(), b.to_plain(), strict=True))


def displayed_box_by_pillow(stored_box: Box, orientation: int) -> Box:
    """Paint ``stored_box`` white on stored pixels, let Pillow apply the orientation, measure it."""
    width, height = STORED
    pixels = np.zeros((height, width), dtype=np.uint8)
    left, top = round(stored_box.x * width), round(stored_box.y * height)
    pixels[top:top + round(stored_box.h * height), left:left + round(stored_box.w * width)] = 255
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "PNG", exif=exif)
    shown = np.asarray(ImageOps.exif_transpose(Image.open(buffer)))
    rows, cols = np.nonzero(shown > 127)
    dh, dw = shown.shape
    return Box(cols.min() / dw, rows.min() / dh, (cols.max() + 1 - cols.min()) / dw, (rows.max() + 1 - rows.min()) / dh)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_stored_to_displayed_matches_pillow(orientation):
    stored = Box(0.1, 0.25, 0.3, 0.5)
    assert close(stored_to_displayed(stored, orientation), displayed_box_by_pillow(stored, orientation), 1e-6)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_round_trip(orientation):
    box = Box(0.12, 0.34, 0.2, 0.15)
    assert close(stored_to_displayed(displayed_to_stored(box, orientation), orientation), box)
    assert close(from_mwg_area(to_mwg_area(box, orientation), orientation), box, 1e-6)


def test_mwg_area_is_centre_based_on_the_stored_image():
    # orientation 6: displayed top-left corner is the stored bottom-left
    area = to_mwg_area(Box(0.0, 0.0, 0.2, 0.4), 6)
    assert area == {"X": 0.2, "Y": 0.9, "W": 0.4, "H": 0.2, "Unit": "normalized"}
    assert to_mwg_area(Box(0.1, 0.2, 0.2, 0.2), 1) == {"X": 0.2, "Y": 0.3, "W": 0.2, "H": 0.2, "Unit": "normalized"}


def test_mwg_pixel_units_and_bad_areas():
    box = from_mwg_area({"X": 200, "Y": 100, "W": 40, "H": 20, "Unit": "pixel"}, 1, (400, 200))
    assert close(box, Box(0.45, 0.45, 0.1, 0.1), 1e-9)
    assert from_mwg_area({"X": 200, "Y": 100, "W": 40, "H": 20, "Unit": "pixel"}, 1) is None
    assert from_mwg_area({"X": "a", "Y": 0, "W": 1, "H": 1}, 1) is None
    assert from_mwg_area({"X": 0.5}, 1) is None
    assert from_mwg_area({"X": 2.0, "Y": 2.0, "W": 0.1, "H": 0.1}, 1) is None  # outside the photo


def test_regions_sticking_out_are_clamped():
    box = from_mwg_area({"X": 0.02, "Y": 0.5, "W": 0.1, "H": 0.2}, 1)
    assert close(box, Box(0.0, 0.4, 0.07, 0.2), 1e-9)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_mp_rectangle(orientation):
    stored = Box(0.1, 0.2, 0.3, 0.4)
    assert close(from_mp_rectangle("0.1, 0.2, 0.3, 0.4", orientation), stored_to_displayed(stored, orientation), 1e-9)


def test_mp_rectangle_garbage():
    assert from_mp_rectangle("0.1, 0.2", 1) is None
    assert from_mp_rectangle("", 1) is None


def test_unknown_orientation_counts_as_normal():
    box = Box(0.1, 0.2, 0.3, 0.4)
    for value in (0, 9, -1, None, "x"):
        assert close(stored_to_displayed(box, value), box)  # type: ignore[arg-type]
