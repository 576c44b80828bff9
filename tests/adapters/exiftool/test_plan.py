"""The write plan's pure parts: exiftool's structure syntax, what is ours, and regions in step."""

from __future__ import annotations

from facesidecar.adapters.exiftool.plan import (
    HIERARCHY,
    IPTC_KEYWORDS,
    MP_REGIONS,
    PERSONS,
    SUBJECT,
    TAGS_LIST,
    Plan,
    State,
    hierarchy_entry,
    serialize_struct,
    tags_list_entry,
)
from facesidecar.config import MetadataSettings
from facesidecar.model import Box, PersonRegion


def test_struct_escaping():
    assert serialize_struct({"Name": "Smith, John"}) == "{Name=Smith|, John}"
    assert serialize_struct(["a]b", "{c", " d", "e|f}"]) == "[a|]b,|{c,| d,e||f|}]"


# -- what is ours ---------------------------------------------------------------------------------
BOX = Box(0.2, 0.25, 0.3, 0.3)
MP_JACK = {"Regions": [{"PersonDisplayName": "Jack", "Rectangle": "0.2, 0.25, 0.3, 0.3"}]}


def plan(current: State, people: list[PersonRegion], previous: dict | None = None, claimed=(), **settings) -> Plan:
    return Plan(MetadataSettings(**settings), current, people, 1, (300, 200), previous or {}, list(claimed))


def test_a_keyword_the_photo_had_is_not_ours():
    first = plan(State(lists={SUBJECT: ["Jack"]}), [PersonRegion("Jack", BOX)])
    assert f"-{SUBJECT}+=Jack" not in first.args and f"-{PERSONS}+=Jack" in first.args
    record = first.record(False)
    assert SUBJECT not in record and record[PERSONS] == ["Jack"]
    cleared = plan(State(lists={SUBJECT: ["Jack"], PERSONS: ["Jack"]}), [], record)
    assert cleared.args == [f"-{PERSONS}-=Jack"]


def test_a_claimed_name_goes_from_everywhere():
    current = State(lists={SUBJECT: ["Jack", "Holiday"], HIERARCHY: ["People|Jack"]}, mp_regions=MP_JACK)
    erased = plan(current, [], claimed=["Jack"])
    assert f"-{SUBJECT}-=Jack" in erased.args and f"-{HIERARCHY}-=People|Jack" in erased.args
    assert erased.mp.final == [] and any(a == f"-{MP_REGIONS}=" for a in erased.args)
    assert "Holiday" not in " ".join(erased.args)


def test_keyword_forms():
    assert tags_list_entry(hierarchy_entry("People", "AC/DC")) == "People/AC|DC"
    assert hierarchy_entry("Family|Friends", "A|B") == "Family|Friends|A/B"
    assert tags_list_entry("Family|Friends|A/B") == "Family/Friends/A|B"


def test_a_tags_list_we_create_carries_the_photos_other_tags():
    current = State(lists={HIERARCHY: ["Places|Rome"], SUBJECT: ["Rome"]})
    first = plan(current, [PersonRegion("Alice", BOX)])
    assert first.expected[TAGS_LIST] == ["People/Alice", "Places/Rome"]
    flat = plan(State(lists={SUBJECT: ["Rome"], IPTC_KEYWORDS: ["Sea"]}, has_iptc=True), [PersonRegion("Alice", BOX)])
    assert flat.expected[TAGS_LIST] == ["People/Alice", "Rome", "Sea"]
    digikam = plan(State(lists={TAGS_LIST: ["Places/Rome"], HIERARCHY: ["Places|Rome"]}), [PersonRegion("Alice", BOX)])
    assert digikam.expected[TAGS_LIST] == ["Places/Rome", "People/Alice"] and not digikam.tags_list_created


def test_an_mp_region_we_own_follows_a_rename_and_a_withdrawal():
    adopted = plan(State(mp_regions=MP_JACK), [PersonRegion("Jack", BOX)])
    assert not adopted.mp.changed and adopted.record(False)["mp_regions"] == ["Jack"]
    renamed = plan(State(mp_regions=MP_JACK), [PersonRegion("John", BOX)], adopted.record(False))
    assert [r["PersonDisplayName"] for r in renamed.mp.final] == ["John"]
    assert renamed.mp.final[0]["Rectangle"] == "0.2, 0.25, 0.3, 0.3"
    withdrawn = plan(State(mp_regions=MP_JACK), [], adopted.record(False))
    assert withdrawn.mp.final == [] and withdrawn.empty
    others = plan(State(mp_regions=MP_JACK), [], {})
    assert not others.mp.changed, "an MP region we never adopted is somebody else's"


def test_an_mwg_region_we_own_is_renamed_in_place():
    regions = {"RegionList": [{"Area": {"X": 0.36, "Y": 0.41, "W": 0.3, "H": 0.3, "Unit": "normalized"},
                               "Name": "Jack", "Type": "Face", "Rotation": 0.1}]}
    renamed = plan(State(regions=regions), [PersonRegion("John", BOX)], {"regions": ["Jack"]})
    (region,) = renamed.mwg.final
    assert region["Name"] == "John" and region["Rotation"] == 0.1 and region["Area"]["X"] == 0.36
