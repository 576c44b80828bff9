"""Which file holds a photo's names: the photo itself, or the XMP sidecars of a RAW file.

RAW files are never written. Their metadata lives in an XMP sidecar, and two naming conventions
exist, read by different tools:

* ``IMG_1.xmp`` (the extension replaced): Lightroom and Capture One read and write only this one;
  digiKam uses it when it exists; Immich and PhotoPrism read it too (Immich only when there is no
  ``IMG_1.CR2.xmp``).
* ``IMG_1.CR2.xmp`` (the extension kept): darktable reads and writes only this one; digiKam
  writes it by default; Immich reads it first.

So facesidecar reads every sidecar that exists and writes the names into every one that exists,
so that each tool finds them in the file it reads. Only when none exists does it create one,
named after ``metadata.raw_sidecar``: ``IMG_1.CR2.xmp``, ``IMG_1.xmp``, or ``auto``, which
follows the folder's habit (``IMG_1.xmp`` when other RAW files in the folder have Lightroom-style
sidecars) and otherwise, and always for RAW+JPEG pairs where ``IMG_1.xmp`` would be claimed by
the JPEG too, uses ``IMG_1.CR2.xmp``.

Every file access here is a name lookup in the photo's own folder; symlinks and anything that is
not a regular file do not count as a sidecar.
"""

from __future__ import annotations

import stat
from pathlib import Path

from ...errors import MetadataError
from ...imaging import RAW_EXTENSIONS
from ...store import confined

KEEP_EXTENSION = "IMG_1.CR2.xmp"
REPLACE_EXTENSION = "IMG_1.xmp"
AUTO = "auto"
PHOTO = "photo"
CONVENTIONS = (AUTO, KEEP_EXTENSION, REPLACE_EXTENSION)
"""The values of ``metadata.raw_sidecar``."""


def is_raw(path: Path) -> bool:
    return path.suffix.lower() in RAW_EXTENSIONS


def candidates(raw: Path) -> list[Path]:
    """The sidecar names a RAW file can have, in the order tools prefer them when reading."""
    return [raw.with_name(raw.name + ".xmp"), raw.with_name(raw.stem + ".xmp"),
            raw.with_name(raw.name + ".XMP"), raw.with_name(raw.stem + ".XMP")]


def existing_sidecars(raw: Path) -> list[Path]:
    """The sidecars of ``raw`` that exist as regular files (not symlinks), without duplicates."""
    found: dict[tuple[int, int], Path] = {}
    for path in candidates(raw):
        info = confined.lstat(path)
        if info is not None and stat.S_ISREG(info.st_mode):
            found.setdefault((info.st_dev, info.st_ino), path)
    return list(found.values())


def new_sidecar(raw: Path, convention: str, folder_names: list[str]) -> Path:
    """The sidecar to create for ``raw`` when it has none; ``folder_names`` lists its folder."""
    keep = raw.with_name(raw.name + ".xmp")
    replace = raw.with_name(raw.stem + ".xmp")
    if convention == KEEP_EXTENSION:
        return keep
    if convention == REPLACE_EXTENSION:
        return replace
    shares_stem = any(n != raw.name and Path(n).stem == raw.stem and not n.lower().endswith(".xmp") for n in folder_names)
    return replace if not shares_stem and _folder_uses_replace(folder_names) else keep


def _folder_uses_replace(names: list[str]) -> bool:
    """Whether the folder's RAW files have Lightroom-style sidecars (``IMG_2.xmp`` next to ``IMG_2.CR2``)."""
    present = set(names)
    raws = [n for n in names if Path(n).suffix.lower() in RAW_EXTENSIONS]
    lightroom = sum(1 for n in raws if Path(n).stem + ".xmp" in present and n + ".xmp" not in present)
    darktable = sum(1 for n in raws if n + ".xmp" in present)
    return lightroom > darktable


def folder_names(folder: Path) -> list[str]:
    """The names in ``folder`` (for ``auto``); an unreadable folder gives none."""
    try:
        with confined.opened(folder) as opened:
            return opened.names()
    except (OSError, confined.RefusedFile):
        return []


def targets_for(path: Path, convention: str) -> list[Path]:
    """The files to write ``path``'s names into: the photo, its existing sidecars, or the one to create.

    A sidecar name taken by something that is not a regular file (a symlink, a folder) is never
    written through; the other convention's name is used instead, or the write is refused.
    """
    if not is_raw(path):
        return [path]
    existing = existing_sidecars(path)
    if existing:
        return existing
    preferred = new_sidecar(path, convention, folder_names(path.parent) if convention == AUTO else [])
    for candidate in dict.fromkeys([preferred, *candidates(path)[:2]]):
        if confined.lstat(candidate) is None:
            return [candidate]
    raise MetadataError(f"{path}: its sidecar names {', '.join(c.name for c in candidates(path)[:2])} are taken by"
                        " something that is not a regular file (a symlink or a folder); rename it to have names written")


def role(target: Path, photo: Path) -> str:
    """Which file ``target`` is for ``photo``: the photo itself or one of the sidecar conventions."""
    if target == photo:
        return PHOTO
    return KEEP_EXTENSION if target.name.lower() == photo.name.lower() + ".xmp" else REPLACE_EXTENSION


def remove_sidecar(path: Path) -> None:
    """Delete a sidecar facesidecar created once nothing is left in it."""
    with confined.opened(path.parent) as folder:
        folder.unlink(path.name)


__all__ = ["AUTO", "PHOTO", "CONVENTIONS", "KEEP_EXTENSION", "RAW_EXTENSIONS", "REPLACE_EXTENSION", "candidates",
           "existing_sidecars", "is_raw", "new_sidecar", "remove_sidecar", "role", "targets_for"]
