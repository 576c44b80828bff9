"""What to write: a file's current names and regions, and the exiftool arguments that change them.

Each file holds the names facesidecar owns as keywords (``XMP-dc:Subject``,
``XMP-lr:HierarchicalSubject``, ``XMP-digiKam:TagsList``, ``IPTC:Keywords`` where the file already
has IPTC, ``XMP-iptcExt:PersonInImage``) and as face regions (:mod:`.faceregions`). A value is
removed only when the record (:mod:`.record`) says facesidecar added it; everything else in the
file stays as it is.

``XMP-digiKam:TagsList`` gets ``People/<name>`` because digiKam and Immich read it before any
other keyword tag and stop there when it has entries. For the same reason, when facesidecar
creates the list it copies the photo's other hierarchical keywords (else its plain keywords) into
it, so that adding a person does not hide the photo's other tags in those tools; the copies leave
with the last name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ...config import MetadataSettings
from ...errors import MetadataError
from ...model import PersonRegion
from . import record as rec
from .faceregions import (
    MP,
    MWG,
    RegionPlan,
    applied_size,
    as_list,
    mwg_region,
    named_first,
    plan_regions,
    region_key,
    text,
)
from .process import ExifTool, ExifToolCommandError, source_arg

SUBJECT = "XMP-dc:Subject"
HIERARCHY = "XMP-lr:HierarchicalSubject"
TAGS_LIST = "XMP-digiKam:TagsList"
IPTC_KEYWORDS = "IPTC:Keywords"
PERSONS = "XMP-iptcExt:PersonInImage"
REGIONS = "XMP-mwg-rs:RegionInfo"
MP_REGIONS = "XMP-MP:RegionInfoMP"
LIST_TAGS = (SUBJECT, HIERARCHY, TAGS_LIST, IPTC_KEYWORDS, PERSONS)
IPTC_CHARSET = "IPTC:CodedCharacterSet"
UTF8_ESCAPE = "\x1b%G"
"""The raw IPTC CodedCharacterSet value of UTF-8 (read with ``-n``)."""

IPTC_DIGEST = "Photoshop:IPTCDigest"
"""Photoshop/Lightroom compare it with the IPTC block to tell whether IPTC or XMP is newer: a
digest left stale after we change keywords makes them warn that "XMP may be out of sync"."""
IPTC_KEYWORD_BYTES = 64
"""IPTC limits a keyword to 64 bytes; exiftool would truncate longer ones, so they are left out."""


# -- what a file holds ----------------------------------------------------------------------------
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
        regions = data.get(REGIONS)
        mp_regions = data.get(MP_REGIONS)
        return cls(
            lists={tag: [text(v) for v in as_list(data.get(tag))] for tag in LIST_TAGS},
            regions=regions if isinstance(regions, dict) else {},
            mp_regions=mp_regions if isinstance(mp_regions, dict) else {},
            has_iptc=any(key.startswith("IPTC:") for key in data),
            iptc_utf8=data.get(IPTC_CHARSET) == UTF8_ESCAPE,
            has_iptc_digest=IPTC_DIGEST in data,
        )


_READ_ARGS = ("-struct", "-G1", "-n", *(f"-{tag}" for tag in LIST_TAGS if tag != IPTC_KEYWORDS),
              f"-{REGIONS}", f"-{MP_REGIONS}", "-IPTC:All", f"-{IPTC_DIGEST}")


def read_state(exiftool: ExifTool, path: Path) -> State:
    """The tags we plan from, as the file holds them now; a MetadataError names the file."""
    with source_arg(path) as arg:
        try:
            data = exiftool.execute_json(*_READ_ARGS, arg)
        except ExifToolCommandError as exc:
            raise MetadataError(f"{path}: exiftool cannot read its metadata: {exc}") from None
        except MetadataError as exc:
            raise MetadataError(f"{path}: {exc}") from None
    return State.from_json(data[0] if data else {})


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
        text_value = "True" if value else "False"
    elif isinstance(value, float):
        text_value = repr(value)
    else:
        text_value = str(value)
    escaped = "".join("|" + c if c in "|,}]" else c for c in text_value)
    return "|" + escaped if escaped[:1] in ("{", "[", " ", "\t") else escaped


# -- keyword forms of a name ----------------------------------------------------------------------
def hierarchy_entry(prefix: str, name: str) -> str:
    """``People|<name>``: a ``|`` inside the name would add a level, so it becomes ``/``."""
    prefix = prefix.strip("|")
    return f"{prefix}|{name.replace('|', '/')}" if prefix else name.replace("|", "/")


def tags_list_entry(hierarchy: str) -> str:
    """A hierarchical keyword as digiKam's TagsList writes it, the way Immich converts one:
    levels joined with ``/``, a ``/`` inside a level turned into ``|``."""
    return "/".join(level.replace("/", "|") for level in hierarchy.split("|"))


def keyword_forms(names: list[str], prefix: str) -> dict[str, list[str]]:
    """Every value facesidecar writes for ``names``, per keyword tag."""
    hierarchy = [hierarchy_entry(prefix, n) for n in names]
    return {SUBJECT: names, HIERARCHY: hierarchy, TAGS_LIST: [tags_list_entry(h) for h in hierarchy],
            IPTC_KEYWORDS: [n for n in names if len(n.encode("utf-8")) <= IPTC_KEYWORD_BYTES], PERSONS: names}


# -- the write plan -------------------------------------------------------------------------------
class Plan:
    """The exiftool arguments that bring one file from ``current`` to what we want, and its record."""

    def __init__(self, settings: MetadataSettings, current: State, people: list[PersonRegion],
                 orientation: int, stored_size: tuple[int, int], previous: dict, claimed: list[str]) -> None:
        self.current = current
        self.previous = previous
        names = list(dict.fromkeys(p.name for p in people)) if settings.keywords else []
        wanted = keyword_forms(names, settings.hierarchy_prefix)
        if not (current.has_iptc or rec.owned(previous, IPTC_KEYWORDS)):
            wanted[IPTC_KEYWORDS] = []  # no IPTC is added to a file that has none
        self.owned = self._owned_with_claims(claimed, settings.hierarchy_prefix)
        self.tags_list_created = bool(wanted[TAGS_LIST]) and (
            previous.get(rec.TAGS_LIST_CREATED, False)
            or not [v for v in current.lists.get(TAGS_LIST, []) if v not in self.owned[TAGS_LIST]])
        if self.tags_list_created:
            wanted[TAGS_LIST] = wanted[TAGS_LIST] + self._other_tags(wanted)
        self.args: list[str] = []
        self.expected: dict[str, list[str]] = {}
        self.added: dict[str, list[str]] = {}
        for tag in LIST_TAGS:
            self._plan_list(tag, current.lists.get(tag, []), wanted[tag], self.owned[tag])
        # IPTC text is Latin-1 unless CodedCharacterSet says UTF-8: re-encode it before adding names.
        self.convert_iptc = IPTC_KEYWORDS in self.expected and not current.iptc_utf8
        if IPTC_KEYWORDS in self.expected and current.has_iptc_digest:
            self.args.append(f"-{IPTC_DIGEST}=new")
        in_regions = people if settings.regions else []
        self.mwg = self._plan_mwg(in_regions, orientation, stored_size)
        self.mp = plan_regions(MP, current.mp_regions, in_regions, set(self.owned[rec.MP_REGIONS]), orientation)
        if self.mp.changed:
            self.args.append(f"-{MP_REGIONS}=" + (serialize_struct({**current.mp_regions, "Regions": self.mp.final})
                                                   if self.mp.final else ""))

    def _owned_with_claims(self, claimed: list[str], prefix: str) -> dict[str, list[str]]:
        """What we may remove: what we added, plus every form of the names a GDPR erasure claims."""
        claims = keyword_forms(claimed, prefix)
        claims[IPTC_KEYWORDS] = list(claimed)
        owned = {}
        for key in (*LIST_TAGS, rec.REGIONS, rec.MP_REGIONS):
            owned[key] = list(dict.fromkeys(rec.owned(self.previous, key) + claims.get(key, list(claimed))))
        return owned

    def _other_tags(self, wanted: dict[str, list[str]]) -> list[str]:
        """The tags digiKam and Immich showed before a TagsList existed: the photo's hierarchical
        keywords, else its plain ones (both without ours)."""
        lists = self.current.lists
        hierarchy = [h for h in lists.get(HIERARCHY, []) if h not in wanted[HIERARCHY] and h not in self.owned[HIERARCHY]]
        if hierarchy:
            return [tags_list_entry(h) for h in hierarchy]
        ours = set(wanted[SUBJECT]) | set(self.owned[SUBJECT]) | set(self.owned[IPTC_KEYWORDS])
        return [k for k in dict.fromkeys(lists.get(SUBJECT, []) + lists.get(IPTC_KEYWORDS, [])) if k not in ours]

    def _plan_list(self, tag: str, current: list[str], wanted: list[str], owned: list[str]) -> None:
        remove = [v for v in owned if v not in wanted and v in current]
        add = [v for v in wanted if v not in current]
        self.added[tag] = [v for v in owned if v in wanted and v in current] + add
        if remove or add:
            self.args += [f"-{tag}-={v}" for v in remove] + [f"-{tag}+={v}" for v in add]
            self.expected[tag] = [v for v in current if v not in remove] + add

    def _plan_mwg(self, people: list[PersonRegion], orientation: int, stored_size: tuple[int, int]) -> RegionPlan:
        plan = plan_regions(MWG, self.current.regions, people, set(self.owned[rec.REGIONS]), orientation)
        new = [mwg_region(p, orientation) for n, p in enumerate(people) if n not in plan.matched]
        plan.owned += [p.name for n, p in enumerate(people) if n not in plan.matched]
        if not (plan.changed or new):
            return plan
        plan.final, plan.changed = named_first(plan.final + new), True
        if not plan.final:
            self.args.append(f"-{REGIONS}=")
            return plan
        info = {k: v for k, v in self.current.regions.items() if k not in ("AppliedToDimensions", "RegionList")}
        if stored_size and min(stored_size) > 0:
            info["AppliedToDimensions"] = {"W": int(stored_size[0]), "H": int(stored_size[1]), "Unit": "pixel"}
        elif applied_size(self.current.regions):
            info["AppliedToDimensions"] = self.current.regions["AppliedToDimensions"]
        info["RegionList"] = plan.final
        self.args.append(f"-{REGIONS}={serialize_struct(info)}")
        return plan

    @property
    def empty(self) -> bool:
        """Whether nothing of ours is left in the file after this plan."""
        return not any(self.added.values()) and not self.mwg.owned and not self.mp.owned

    def mismatches(self, written: State) -> list[str]:
        """Tags whose written values differ from what the plan expects (exiftool truncated, dropped…)."""
        wrong = [tag for tag, values in self.expected.items() if Counter(written.lists.get(tag, [])) != Counter(values)]
        for kind, tag, plan, info in ((MWG, REGIONS, self.mwg, written.regions), (MP, MP_REGIONS, self.mp, written.mp_regions)):
            got = [region_key(kind, r) for r in as_list(info.get(kind.list_key))]
            if plan.changed and got != [region_key(kind, r) for r in plan.final]:
                wrong.append(tag)
        return wrong

    def record(self, created: bool) -> dict:
        """What we own in this file now: plain data, stored and handed back next time."""
        entry: dict = {tag: values for tag, values in self.added.items() if values}
        entry[rec.REGIONS] = list(dict.fromkeys(self.mwg.owned))
        entry[rec.MP_REGIONS] = list(dict.fromkeys(self.mp.owned))
        entry[rec.CREATED] = created
        entry[rec.TAGS_LIST_CREATED] = self.tags_list_created
        return entry


__all__ = ["HIERARCHY", "IPTC_CHARSET", "IPTC_KEYWORDS", "LIST_TAGS", "MP_REGIONS", "PERSONS", "Plan", "REGIONS",
           "State", "SUBJECT", "TAGS_LIST", "hierarchy_entry", "keyword_forms", "read_state", "serialize_struct",
           "tags_list_entry"]
