"""What digiKam sees in a photo: the metadata as libexiv2 reads it, and digiKam's rules on top.

digiKam reads metadata through libexiv2 (the ``exiv2`` binding ships libexiv2 0.28). The rules
below follow digiKam's own code, so that a test can say "digiKam shows this box with this name":

* ``DMetadata::getItemFacesMap`` (``dmetadata_faces.cpp``) reads the Microsoft regions
  ``Xmp.MP.RegionInfo/MPRI:Regions[i]`` and then the MWG regions
  ``Xmp.mwg-rs.Regions/mwg-rs:RegionList[i]`` (centre ``stArea:x/y`` turned into a top-left
  rectangle), counting ``i`` from 1 until a region has neither a name nor a valid rectangle.
* ``ItemScanner::commitFaces`` makes the rectangle absolute with the image size
  (``TagRegion::relativeToAbsolute``) and turns it into the displayed frame with
  ``TagRegion::adjustToOrientation``, ported in :func:`digikam_displayed_box`.
* Tags come from the first non-empty of ``Xmp.digiKam.TagsList``, ``Xmp.MicrosoftPhoto.LastKeywordXMP``,
  ``Xmp.lr.hierarchicalSubject`` … (``DMetadataSettingsContainer::defaultTagValues``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import exiv2

from facesidecar.model import Box

MWG = "Xmp.mwg-rs.Regions/mwg-rs:RegionList[{}]/mwg-rs:"
MP = "Xmp.MP.RegionInfo/MPRI:Regions[{}]/MPReg:"


@dataclass
class Exiv2View:
    """A photo's (or XMP sidecar's) metadata as libexiv2 reads it."""

    orientation: int = 1
    size: tuple[int, int] = (0, 0)
    lists: dict[str, list[str]] = field(default_factory=dict)
    mwg: list[tuple[str, tuple[float, float, float, float]]] = field(default_factory=list)
    """(name, (left, top, width, height)) of every MWG region digiKam reads, in the stored frame."""
    mp: list[tuple[str, tuple[float, float, float, float]]] = field(default_factory=list)
    applied: tuple[float, float] | None = None

    def values(self, key: str) -> list[str]:
        return self.lists.get(key, [])

    @property
    def tags(self) -> list[str]:
        """digiKam's tags: the first tag namespace that has any."""
        for key in ("Xmp.digiKam.TagsList", "Xmp.MicrosoftPhoto.LastKeywordXMP", "Xmp.lr.hierarchicalSubject"):
            if self.values(key):
                return [v.replace("|", "/") for v in self.values(key)]
        return []


def read_exiv2(path: Path, orientation_from: Path | None = None) -> Exiv2View:
    """Read ``path`` with libexiv2; a RAW's orientation comes from ``orientation_from`` (the RAW)."""
    image = _open(path)
    xmp = image.xmpData()
    view = Exiv2View(size=(image.pixelWidth(), image.pixelHeight()))
    for datum in xmp:
        if "/" not in datum.key() and datum.count() and datum.typeName() in ("XmpBag", "XmpSeq"):
            view.lists[datum.key()] = [datum.toString(i) for i in range(datum.count())]
    iptc = image.iptcData()
    view.lists["Iptc.Application2.Keywords"] = [d.toString() for d in iptc if d.key() == "Iptc.Application2.Keywords"]
    view.mwg = _regions(xmp, MWG, "Name", _mwg_rect)
    view.mp = _regions(xmp, MP, "PersonDisplayName", _mp_rect)
    width = _text(xmp, "Xmp.mwg-rs.Regions/mwg-rs:AppliedToDimensions/stDim:w")
    height = _text(xmp, "Xmp.mwg-rs.Regions/mwg-rs:AppliedToDimensions/stDim:h")
    view.applied = (float(width), float(height)) if width and height else None
    exif = _open(orientation_from).exifData() if orientation_from else image.exifData()
    found = exif.findKey(exiv2.ExifKey("Exif.Image.Orientation"))
    view.orientation = int(found.toString()) if found != exif.end() else 1
    return view


def _open(path: Path):
    image = exiv2.ImageFactory.open(str(path))
    image.readMetadata()
    return image


def _text(xmp, key: str) -> str:
    found = xmp.findKey(exiv2.XmpKey(key))
    return found.toString() if found != xmp.end() else ""


def _regions(xmp, template: str, name_field: str, rect) -> list:
    """digiKam's loop: regions 1, 2, … until one has neither a name nor a valid rectangle."""
    regions = []
    for index in range(1, 10_000):
        name = _text(xmp, template.format(index) + name_field).replace("/", "\\")
        box = rect(xmp, template.format(index))
        valid = box is not None and box[2] > 0 and box[3] > 0
        if not name and not valid:
            return regions
        regions.append((name, box))
    return regions


def _mwg_rect(xmp, prefix: str):
    try:
        x, y, w, h = (float(_text(xmp, f"{prefix}Area/stArea:{k}") or "nan") for k in "xywh")
    except ValueError:
        return None
    return None if any(v != v for v in (x, y, w, h)) else (x - w / 2, y - h / 2, w, h)


def _mp_rect(xmp, prefix: str):
    parts = _text(xmp, f"{prefix}Rectangle").split(",")
    try:
        return tuple(float(p) for p in parts) if len(parts) == 4 else None
    except ValueError:
        return None


def digikam_displayed_box(rect: tuple[float, float, float, float], orientation: int, size: tuple[int, int]) -> Box:
    """digiKam's ``relativeToAbsolute`` + ``adjustToOrientation`` for a stored-frame rectangle.

    ``size`` is the stored image size (what digiKam's scanner loads); the result is given as
    fractions of the displayed image, like the boxes in faces.csv. digiKam's orientation names:
    HFLIP=2, ROT_180=3, VFLIP=4, ROT_90_HFLIP=5, ROT_90=6, ROT_90_VFLIP=7, ROT_270=8.
    """
    width, height = size
    x, y, w, h = (round(rect[0] * width), round(rect[1] * height), round(rect[2] * width), round(rect[3] * height))
    if orientation in (6, 5, 7):
        x, y, w, h = height - y - h, x, h, w
        width, height = height, width
    elif orientation == 3:
        x, y = width - x - w, height - y - h
    elif orientation == 8:
        x, y, w, h = y, width - x - w, h, w
        width, height = height, width
    if orientation in (2, 5):
        x = width - x - w
    elif orientation in (4, 7):
        y = height - y - h
    return Box(x / width, y / height, w / width, h / height)


__all__ = ["Exiv2View", "digikam_displayed_box", "read_exiv2"]
