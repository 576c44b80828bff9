"""The record of what facesidecar added to a photo's metadata, kept per photo in ``faces.pkl``.

Only what is in the record is ever removed: a keyword "Jack" the photo had before facesidecar
named a face "Jack" is not in it, so clearing the name leaves the keyword alone. A region is in
it when facesidecar wrote it, or adopted it (another tool's region of the same person at the same
place, which the name came from): clearing or renaming the name must not leave that region
saying otherwise.

Shape (plain data, version 2)::

    {"v": 2, "files": {"photo": {"XMP-dc:Subject": [...], ..., "regions": [...],
                                 "mp_regions": [...], "created": bool, "tags_list_created": bool}},
     "claimed": [...]}

``files`` has one entry per file written: ``photo`` for the photo itself, ``IMG_1.CR2.xmp`` and
``IMG_1.xmp`` for the two sidecar conventions of a RAW file (see :mod:`.sidecars`). Keyed by role,
not by file name, so the record still fits after the photo was renamed or moved.
``claimed`` holds names the GDPR erasure wants gone from every tag and region, whoever wrote them.
Version-1 records (one flat entry per photo, listing every value of ours, added or not) are read
as owning all they list: nothing better is known about them.
"""

from __future__ import annotations

from .sidecars import KEEP_EXTENSION, PHOTO

VERSION = 2

REGIONS = "regions"
MP_REGIONS = "mp_regions"
CREATED = "created"
TAGS_LIST_CREATED = "tags_list_created"
_CLAIMED = "claimed"


def files_of(record: dict) -> dict[str, dict]:
    """The per-file records; a version-1 record becomes the entry of the file it names."""
    record = record or {}
    if record.get("v") == VERSION:
        files = record.get("files")
        return {str(k): v for k, v in files.items() if isinstance(v, dict)} if isinstance(files, dict) else {}
    if "target" in record:  # version 1 wrote the photo, or <raw file>.xmp
        role = KEEP_EXTENSION if str(record["target"]).lower().endswith(".xmp") else PHOTO
        return {role: {k: v for k, v in record.items() if k != "target"}}
    return {}


def owned(file_record: dict, key: str) -> list[str]:
    values = file_record.get(key, [])
    return [str(v) for v in values] if isinstance(values, list) else []


def claimed(record: dict) -> list[str]:
    values = (record or {}).get(_CLAIMED, [])
    return [str(v) for v in values] if isinstance(values, list) else []


def new_record(files: dict[str, dict]) -> dict:
    return {"v": VERSION, "files": files}


def claim_names(record: dict, names: set[str]) -> dict:
    """``record`` with ``names`` to be removed from every tag and region on the next sync (GDPR)."""
    result = dict(record or {})
    if result.get("v") != VERSION:
        result = new_record(files_of(result))
    result[_CLAIMED] = sorted(set(claimed(result)) | set(names))
    return result


__all__ = ["VERSION", "claim_names", "claimed", "files_of", "new_record", "owned"]
