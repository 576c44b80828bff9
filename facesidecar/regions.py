"""Face-region geometry between the photo as displayed and the pixels as stored. Pure: no exiftool.

facesidecar keeps boxes as fractions of the photo *as displayed* (after EXIF orientation), while
the region formats in the photos describe the *stored* pixel grid:

* MWG regions (``XMP-mwg-rs:RegionInfo``, digiKam/Lightroom/Immich): the MWG "Guidelines for
  Handling Image Metadata" 2.0, section 5.9, say region metadata "is applied to the stored image"
  and that an application applying the Exif Orientation must rotate the regions too.
  ``AppliedToDimensions`` is therefore the stored pixel size, and Lightroom ignores regions that
  were written rotated. digiKam writes them this way since its orientation fixes (KDE bugs
  372340, 395243) and Immich reads them this way since immich-app/immich#18021. exiftool's own
  ``rotate_regions.config`` rotates MWG and MP regions whenever the pixels are rotated.
* Microsoft MP regions (``XMP-MP:RegionInfoMP``, Windows Photo Gallery/Picasa) use the same stored
  frame, which is why that exiftool config rotates them the same way. Their rectangle is
  ``"x, y, w, h"`` with a top-left corner, where MWG uses the centre.

All functions take the EXIF orientation 1..8. Any other value counts as 1, as viewers treat it.
"""

from __future__ import annotations

from collections.abc import Callable

from .model import Box

Point = tuple[float, float]

# Where a stored point (u, v) appears in the displayed photo, as fractions, for each orientation.
# Orientation 6 means "the stored top row is the displayed right column": (0, 0) -> (1, 0).
_TO_DISPLAYED: dict[int, Callable[[float, float], Point]] = {
    1: lambda u, v: (u, v),
    2: lambda u, v: (1 - u, v),
    3: lambda u, v: (1 - u, 1 - v),
    4: lambda u, v: (u, 1 - v),
    5: lambda u, v: (v, u),
    6: lambda u, v: (1 - v, u),
    7: lambda u, v: (1 - v, 1 - u),
    8: lambda u, v: (v, 1 - u),
}

# The inverse maps: every orientation is its own inverse except the two quarter turns.
_TO_STORED: dict[int, Callable[[float, float], Point]] = {**_TO_DISPLAYED, 6: _TO_DISPLAYED[8], 8: _TO_DISPLAYED[6]}

_DECIMALS = 6
"""Digits written to the file: 1e-6 of a 100-megapixel side is well under a pixel."""


def _orientation(value: object) -> int:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 1
    return number if number in _TO_DISPLAYED else 1


def _map_box(box: Box, point_map: Callable[[float, float], Point]) -> Box:
    """Map both corners and take the rectangle that spans them: flips swap which corner is first."""
    x1, y1 = point_map(box.x, box.y)
    x2, y2 = point_map(box.x + box.w, box.y + box.h)
    return Box(min(x1, x2), min(y1, y2), abs(x2 - x1), abs(y2 - y1))


def _clamped(box: Box) -> Box:
    """The part of ``box`` inside the photo: other tools write regions that stick out a little."""
    left, top = max(0.0, box.x), max(0.0, box.y)
    right, bottom = min(1.0, box.x + box.w), min(1.0, box.y + box.h)
    return Box(left, top, max(0.0, right - left), max(0.0, bottom - top))


def displayed_to_stored(box: Box, orientation: int) -> Box:
    """Fractions of the displayed photo -> fractions of the stored pixel grid."""
    return _map_box(box, _TO_STORED[_orientation(orientation)])


def stored_to_displayed(box: Box, orientation: int) -> Box:
    """Fractions of the stored pixel grid -> fractions of the displayed photo."""
    return _map_box(box, _TO_DISPLAYED[_orientation(orientation)])


def to_mwg_area(box: Box, orientation: int) -> dict:
    """The MWG ``Area`` of a displayed box: centre-based, normalized, on the stored image."""
    stored = displayed_to_stored(_clamped(box), orientation)
    return {
        "X": round(stored.x + stored.w / 2, _DECIMALS),
        "Y": round(stored.y + stored.h / 2, _DECIMALS),
        "W": round(stored.w, _DECIMALS),
        "H": round(stored.h, _DECIMALS),
        "Unit": "normalized",
    }


def from_mwg_area(area: dict, orientation: int, applied_to: tuple[float, float] | None = None) -> Box | None:
    """The displayed box of an MWG ``Area``, or None if it is not a usable rectangle.

    ``Unit=pixel`` areas are not allowed by the MWG but some tools write them. They are
    converted with ``applied_to``, the (W, H) of ``AppliedToDimensions``, when that is known.
    """
    try:
        cx, cy, w, h = (float(area[k]) for k in ("X", "Y", "W", "H"))
    except (KeyError, TypeError, ValueError):
        return None
    if str(area.get("Unit", "normalized")).lower() == "pixel":
        if not applied_to or min(applied_to) <= 0:
            return None
        cx, w = cx / applied_to[0], w / applied_to[0]
        cy, h = cy / applied_to[1], h / applied_to[1]
    return _usable(stored_to_displayed(Box(cx - w / 2, cy - h / 2, w, h), orientation))


def from_mp_rectangle(rectangle: str, orientation: int) -> Box | None:
    """The displayed box of a Microsoft MP ``Rectangle`` ("x, y, w, h", top-left, normalized)."""
    try:
        x, y, w, h = (float(part) for part in str(rectangle).split(","))
    except ValueError:
        return None
    return _usable(stored_to_displayed(Box(x, y, w, h), orientation))


def _usable(box: Box) -> Box | None:
    """The box clamped to the photo, or None when nothing of it is inside the photo."""
    clamped = _clamped(box)
    return clamped if clamped.w > 0 and clamped.h > 0 else None


__all__ = ["displayed_to_stored", "stored_to_displayed", "to_mwg_area", "from_mwg_area", "from_mp_rectangle"]
