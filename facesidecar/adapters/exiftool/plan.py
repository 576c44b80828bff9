"""What to write: a photo's current names and regions, and the exiftool arguments that change them.

Each photo holds exactly the names facesidecar owns, as keywords (``XMP-dc:Subject``,
``XMP-lr:HierarchicalSubject``, ``IPTC:Keywords`` where the file already has IPTC,
``XMP-iptcExt:PersonInImage``) and as MWG face regions. The plan never touches what others wrote.
The same tags, read back, give the people other tools (digiKam, Lightroom, Windows Photo Gallery)
named in a photo.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ...config import MetadataSettings
from ...errors import MetadataError
from ...model import Box, PersonRegion
from ...regions import from_mp_rectangle, from_mwg_area, to_mwg_area
from .process import ExifTool, ExifToolCommandError, path_arg

SUBJECT = "XMP-dc:Subject"
HIERARCHY = "XMP-lr:HierarchicalSubject"
IPTC_KEYWORDS = "IPTC:Keywords"
PERSONS = "XMP-iptcExt:PersonInImage"
REGIONS = "XMP-mwg-rs:RegionInfo"
MP_REGIONS = "XMP-MP:RegionInfoMP"
IPTC_CHARSET = "IPTC:CodedCharacterSet"
UTF8_ESCAPE = "\x1b%G"
"""The raw IPTC CodedCharacterSet value of UTF-8 (read with ``-n``)."""

IPTC_DIGEST = "Photoshop:IPTCDigest"
"""Photoshop/Lightroom compare it with the IPTC block to tell whether IPTC or XMP is newer: a
digest left stale after we change keywords makes them warn that "XMP may be out of sync"."""
IPTC_KEYWORD_BYTES = 64
"""IPTC limits a keyword to 64 bytes; exiftool would truncate longer ones, so they are left out."""

ADOPT_IOU = 0.3
"""An existing face region with the same name that overlaps our box this much is the same face."""

# -- what a photo holds -------------------------------------------------------------------------
@dataclass
class State:
    """The tags of one file that facesidecar reads and writes, as exiftool returns them (-n)."""

    lists: dict[str, list[str]] = field(default_factory=dict)
    regions: dict = field(default_factory=dict)
    mp_regions: dict = field(default_factory=dict)
    has_iptc: bool = False
    iptc_utf8: bool = False
    has_iptc_digest: bool = False

    @classmethod
    def from_json(cls, data: dict) -> State:
        lists = {tag: [_text(v) for v in _as_list(data.get(tag))] for tag in (SUBJECT, HIERARCHY, IPTC_KEYWORDS, PERSONS)}
        regions = data.get(REGIONS)
        mp_regions = data.get(MP_REGIONS)
        return cls(
            lists=lists,
            regions=regions if isinstance(regions, dict) else {},
            mp_regions=mp_regions if isinstance(mp_regions, dict) else {},
            has_iptc=any(key.startswith("IPTC:") for key in data),
            iptc_utf8=data.get(IPTC_CHARSET) == UTF8_ESCAPE,
            has_iptc_digest=IPTC_DIGEST in data,
        )

    @property
    def region_list(self) -> list:
        return _as_list(self.regions.get("RegionList"))


_READ_ARGS = ("-struct", "-G1", "-n", f"-{SUBJECT}", f"-{HIERARCHY}", f"-{PERSONS}", f"-{REGIONS}",
              f"-{MP_REGIONS}", "-IPTC:All", f"-{IPTC_DIGEST}")


def read_state(exiftool: ExifTool, path: Path) -> State:
    """The tags we plan from, as the file holds them now; a MetadataError names the file."""
    try:
        data = exiftool.execute_json(*_READ_ARGS, path_arg(path))
    except ExifToolCommandError as exc:
        raise MetadataError(f"{path}: exiftool cannot read its metadata: {exc}") from None
    except MetadataError as exc:
        raise MetadataError(f"{path}: {exc}") from None
    return State.from_json(data[0] if data else {})


def _as_list(value: object) -> list:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list) else [value]


def _text(value: object) -> str:
    """exiftool's JSON prints number-like names ("2024") as numbers; names are text."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def clean_name(name: str) -> str:
    """A name as it can go through exiftool's argument lines: no control characters, trimmed."""
    return " ".join("".join(c if c.isprintable() else " " for c in name).split())


# -- the -struct syntax -------------------------------------------------------------------------
def serialize_struct(value: object) -> str:
    """exiftool's structure syntax for ``value`` (dicts, lists, scalars), escaped with ``|``.

    Inside a value, ``|`` ``,`` ``}`` ``]`` need a ``|`` before them, and so do a leading ``{``, ``[``
    or blank (see SerializeStruct in exiftool's XMPStruct.pl). Otherwise "Smith, John" would
    become two fields.
    """
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}={serialize_struct(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(serialize_struct(item) for item in value) + "]"
    if isinstance(value, bool):
        text = "True" if value else "False"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    escaped = "".join("|" + c if c in "|,}]" else c for c in text)
    return "|" + escaped if escaped[:1] in ("{", "[", " ", "\t") else escaped


# -- the write plan -------------------------------------------------------------------------------
class Plan:
    """The exiftool arguments that bring one file from ``current`` to what we want, and the record."""

    def __init__(self, settings: MetadataSettings, current: State, people: list[PersonRegion],
                 orientation: int, stored_size: tuple[int, int], previous: dict) -> None:
        names = list(dict.fromkeys(p.name for p in people)) if settings.keywords else []
        prefix = settings.hierarchy_prefix.strip("|")
        hierarchy = [f"{prefix}|{n.replace('|', '/')}" if prefix else n.replace("|", "/") for n in names]
        write_iptc = current.has_iptc or bool(previous.get(IPTC_KEYWORDS))
        iptc = [n for n in names if len(n.encode("utf-8")) <= IPTC_KEYWORD_BYTES] if write_iptc else []
        self.wanted = {SUBJECT: names, HIERARCHY: hierarchy, IPTC_KEYWORDS: iptc, PERSONS: names}
        self.args: list[str] = []
        self.expected: dict[str, list[str]] = {}
        for tag, wanted in self.wanted.items():
            self._plan_list(tag, current.lists.get(tag, []), wanted, previous.get(tag, []))
        # IPTC text is Latin-1 unless CodedCharacterSet says UTF-8: re-encode it before adding names.
        self.convert_iptc = IPTC_KEYWORDS in self.expected and not current.iptc_utf8
        wanted_regions = people if settings.regions else []
        self.region_names = [p.name for p in wanted_regions]
        self.expected_regions: list | None = None
        self._plan_regions(current, wanted_regions, orientation, stored_size, set(previous.get("regions", [])))
        if IPTC_KEYWORDS in self.expected and current.has_iptc_digest:
            self.args.append(f"-{IPTC_DIGEST}=new")

    def _plan_list(self, tag: str, current: list[str], wanted: list[str], owned: Iterable[str]) -> None:
        remove = [v for v in dict.fromkeys(owned) if v not in wanted and v in current]
        add = [v for v in wanted if v not in current]
        if remove or add:
            self.args += [f"-{tag}-={v}" for v in remove] + [f"-{tag}+={v}" for v in add]
            self.expected[tag] = [v for v in current if v not in remove] + add

    def _plan_regions(self, current: State, wanted: list[PersonRegion], orientation: int,
                      stored_size: tuple[int, int], owned: set[str]) -> None:
        """Keep others' regions in place, adopt a matching region per person, drop withdrawn ones."""
        existing = current.region_list
        applied = _applied_size(current.regions)
        adopted: dict[int, int] = {}  # region index -> person index
        for number, person in enumerate(wanted):
            best = max(
                ((i, _region_box(r, orientation, applied)) for i, r in enumerate(existing)
                 if i not in adopted and _is_face(r) and _text(r.get("Name")) == person.name),
                key=lambda item: item[1].iou(person.box) if item[1] else -1.0,
                default=None,
            )
            if best is not None and best[1] is not None and best[1].iou(person.box) >= ADOPT_IOU:
                adopted[best[0]] = number
        kept = [r for i, r in enumerate(existing)
                if i in adopted or not (_is_face(r) and _text(r.get("Name")) in owned)]
        new = [_mwg_region(p, orientation) for n, p in enumerate(wanted) if n not in adopted.values()]
        final = kept + new
        if len(kept) == len(existing) and not new:
            return
        self.expected_regions = final
        if not final:
            self.args.append(f"-{REGIONS}=")
            return
        info = {k: v for k, v in current.regions.items() if k not in ("AppliedToDimensions", "RegionList")}
        if stored_size and min(stored_size) > 0:
            info["AppliedToDimensions"] = {"W": int(stored_size[0]), "H": int(stored_size[1]), "Unit": "pixel"}
        elif isinstance(current.regions.get("AppliedToDimensions"), dict):
            info["AppliedToDimensions"] = current.regions["AppliedToDimensions"]
        info["RegionList"] = final
        self.args.append(f"-{REGIONS}={serialize_struct(info)}")

    def mismatches(self, written: State) -> list[str]:
        """Tags whose written values differ from what the plan expects (exiftool truncated, dropped…)."""
        wrong = [tag for tag, values in self.expected.items() if Counter(written.lists.get(tag, [])) != Counter(values)]
        if self.expected_regions is not None:
            got = [(_text(r.get("Name")), _area_key(r)) for r in written.region_list if isinstance(r, dict)]
            want = [(_text(r.get("Name")), _area_key(r)) for r in self.expected_regions if isinstance(r, dict)]
            if got != want:
                wrong.append(REGIONS)
        return wrong

    def record(self, target: Path) -> dict:
        """What we own now: plain data for the caller to store and pass back next time."""
        record: dict = {tag: list(values) for tag, values in self.wanted.items()}
        record["regions"] = list(dict.fromkeys(self.region_names))
        record["target"] = target.name
        return record


def _is_face(region: object) -> bool:
    return isinstance(region, dict) and str(region.get("Type", "Face")) == "Face"


def _applied_size(info: dict) -> tuple[float, float] | None:
    dims = info.get("AppliedToDimensions")
    try:
        return (float(dims["W"]), float(dims["H"])) if isinstance(dims, dict) else None
    except (KeyError, TypeError, ValueError):
        return None


def _region_box(region: dict, orientation: int, applied: tuple[float, float] | None) -> Box | None:
    area = region.get("Area")
    return from_mwg_area(area, orientation, applied) if isinstance(area, dict) else None


def _mwg_region(person: PersonRegion, orientation: int) -> dict:
    return {"Area": to_mwg_area(person.box, orientation), "Name": person.name, "Type": "Face"}


def _area_key(region: dict) -> tuple:
    area = region.get("Area") if isinstance(region.get("Area"), dict) else {}
    return tuple(round(float(area.get(k, 0) or 0), 5) for k in ("X", "Y", "W", "H"))


# -- people other tools named ------------------------------------------------------------------
def people_in(state: State, orientation: int) -> list[PersonRegion]:
    """Named face regions of ``state``: MWG first, then MP regions that do not repeat one of them."""
    found = _mwg_people(state.regions, orientation)
    for person in _mp_people(state.mp_regions, orientation):
        if not any(p.name == person.name and p.box.iou(person.box) > 0.5 for p in found):
            found.append(person)
    return found


def _mwg_people(info: dict, orientation: int) -> list[PersonRegion]:
    applied = _applied_size(info)
    people = []
    for region in _as_list(info.get("RegionList")):
        name = clean_name(_text(region.get("Name", ""))) if _is_face(region) else ""
        box = _region_box(region, orientation, applied) if name else None
        if box is not None:
            people.append(PersonRegion(name, box))
    return people


def _mp_people(info: dict, orientation: int) -> list[PersonRegion]:
    people = []
    for region in _as_list(info.get("Regions")):
        if not isinstance(region, dict):
            continue
        name = clean_name(_text(region.get("PersonDisplayName", "")))
        box = from_mp_rectangle(region.get("Rectangle", ""), orientation) if name else None
        if box is not None:
            people.append(PersonRegion(name, box))
    return people
