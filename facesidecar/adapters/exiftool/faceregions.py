"""Face regions in a photo's XMP: the MWG list (``XMP-mwg-rs:RegionInfo``) and Microsoft's
(``XMP-MP:RegionInfoMP``), planned together so that a name leaves or changes in both.

Per person we want in the photo, an existing face region of that name at about the same place is
adopted (it is the same face: the name may well have been imported from it). A region we own
(written or adopted earlier) whose person was renamed is renamed in place, keeping the other
tool's box; one whose name was withdrawn is removed. Everybody else's regions stay as they are.
facesidecar adds MWG regions only: MP regions are Windows Photo Gallery's, kept in step but never
created.

Regions are in the *stored* frame (MWG 2.0 §5.9, see :mod:`facesidecar.regions`); the boxes
facesidecar keeps are in the displayed frame, so every comparison goes through the orientation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from ...model import Box, PersonRegion
from ...names import NameRuleError, clean_name
from ...regions import from_mp_rectangle, from_mwg_area, to_mwg_area

ADOPT_IOU = 0.3
"""An existing face region that overlaps our box this much is the same face."""


@dataclass(frozen=True)
class RegionKind:
    """How one region format names its list, a region's person and a region's box."""

    list_key: str
    name_key: str
    box: Callable[[dict, int, tuple[float, float] | None], Box | None]


def _mwg_box(region: dict, orientation: int, applied: tuple[float, float] | None) -> Box | None:
    area = region.get("Area")
    return from_mwg_area(area, orientation, applied) if isinstance(area, dict) else None


def _mp_box(region: dict, orientation: int, applied: tuple[float, float] | None) -> Box | None:
    return from_mp_rectangle(region.get("Rectangle", ""), orientation)


MWG = RegionKind("RegionList", "Name", _mwg_box)
MP = RegionKind("Regions", "PersonDisplayName", _mp_box)


@dataclass
class RegionPlan:
    """The region list a file should end with, and what of it is ours."""

    final: list
    owned: list[str]
    matched: set[int]
    """Indexes (into the wanted people) of the people a region already stands for."""
    changed: bool


def plan_regions(kind: RegionKind, info: dict, wanted: list[PersonRegion], owned: set[str],
                 orientation: int) -> RegionPlan:
    """Adopt, rename or remove ``kind`` regions of ``info`` so that they agree with ``wanted``."""
    existing = as_list(info.get(kind.list_key))
    applied = applied_size(info)
    boxes = [kind.box(r, orientation, applied) if is_face(r) else None for r in existing]
    names = [text(r.get(kind.name_key)) if isinstance(r, dict) else "" for r in existing]
    person_of: dict[int, int] = {}  # region index -> wanted person index
    for number, person in enumerate(wanted):  # the same person, at the same place
        _claim_best(person_of, number, person,
                    [i for i, n in enumerate(names) if n == person.name and i not in person_of], boxes)
    for number, person in enumerate(wanted):  # one of ours, whose person was renamed
        if number not in person_of.values():
            _claim_best(person_of, number, person,
                        [i for i, n in enumerate(names) if n in owned and boxes[i] and i not in person_of], boxes)
    final, ours, changed = [], [], False
    for index, region in enumerate(existing):
        number = person_of.get(index)
        if number is None and names[index] in owned and is_face(region):
            changed = True  # withdrawn
            continue
        if number is not None and names[index] != wanted[number].name:
            region = {**region, kind.name_key: wanted[number].name}
            changed = True
        final.append(region)
        if number is not None:
            ours.append(wanted[number].name)
    return RegionPlan(final, ours, set(person_of.values()), changed)


def _claim_best(person_of: dict[int, int], number: int, person: PersonRegion, indexes: list[int],
                boxes: list[Box | None]) -> None:
    scored = [(boxes[i].iou(person.box), i) for i in indexes if boxes[i] is not None]
    best = max(scored, default=None)
    if best is not None and best[0] >= ADOPT_IOU:
        person_of[best[1]] = number


def mwg_region(person: PersonRegion, orientation: int) -> dict:
    return {"Area": to_mwg_area(person.box, orientation), "Name": person.name, "Type": "Face"}


def named_first(regions: list) -> list:
    """Named regions before unnamed ones: older digiKam stops reading at the first without a name.

    The MWG list is an unordered bag, so moving other tools' unnamed regions changes nothing else.
    """
    return [r for r in regions if _has_name(r)] + [r for r in regions if not _has_name(r)]


def _has_name(region: object) -> bool:
    return isinstance(region, dict) and bool(text(region.get("Name")))


def is_face(region: object) -> bool:
    return isinstance(region, dict) and str(region.get("Type", "Face")) == "Face"


def applied_size(info: dict) -> tuple[float, float] | None:
    dims = info.get("AppliedToDimensions")
    try:
        return (float(dims["W"]), float(dims["H"])) if isinstance(dims, dict) else None
    except (KeyError, TypeError, ValueError):
        return None


def as_list(value: object) -> list:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list) else [value]


def text(value: object) -> str:
    """exiftool's JSON prints number-like names ("2024") as numbers; names are text."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def usable_name(raw: str) -> str:
    """``raw`` by the one name rule (:func:`facesidecar.names.clean_name`), or "" where the rule
    refuses it: such a region is not taken in, and such a name never reaches exiftool's argument
    lines (a line break there would start an argument of its own)."""
    try:
        return clean_name(raw)
    except NameRuleError:
        return ""


def region_key(kind: RegionKind, region: object) -> tuple:
    """What must read back the same after a write: the name and the box numbers."""
    if not isinstance(region, dict):
        return ("", ())
    if kind is MWG:
        area = region.get("Area") if isinstance(region.get("Area"), dict) else {}
        return (text(region.get("Name")), tuple(round(float(area.get(k, 0) or 0), 5) for k in ("X", "Y", "W", "H")))
    return (text(region.get("PersonDisplayName")), str(region.get("Rectangle", "")).replace(" ", ""))


# -- people other tools named ------------------------------------------------------------------
def people_in(regions: dict, mp_regions: dict, orientation: int) -> list[PersonRegion]:
    """Named face regions: MWG first, then MP regions that do not repeat one of them (digiKam writes both)."""
    found = _people(MWG, regions, orientation)
    for person in _people(MP, mp_regions, orientation):
        if not any(p.name == person.name and p.box.iou(person.box) > 0.5 for p in found):
            found.append(person)
    return found


def _people(kind: RegionKind, info: dict, orientation: int) -> list[PersonRegion]:
    applied = applied_size(info)
    people = []
    for region in as_list(info.get(kind.list_key)):
        name = usable_name(text(region.get(kind.name_key, ""))) if is_face(region) else ""
        box = kind.box(region, orientation, applied) if name else None
        if box is not None:
            people.append(PersonRegion(name, box))
    return people


__all__ = ["ADOPT_IOU", "MP", "MWG", "RegionKind", "RegionPlan", "applied_size", "as_list",
           "is_face", "mwg_region", "named_first", "people_in", "plan_regions", "region_key", "text", "usable_name"]
