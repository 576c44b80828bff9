"""The record of what facesidecar added: versions and GDPR claims (purges: tests/test_gdpr.py)."""

from __future__ import annotations

from facesidecar.adapters.exiftool.record import claim_names, claimed, files_of, new_record


def test_version_1_records_are_read_as_owning_what_they_list():
    old = {"XMP-dc:Subject": ["Jack"], "regions": ["Jack"], "target": "a.jpg"}
    assert files_of(old) == {"photo": {"XMP-dc:Subject": ["Jack"], "regions": ["Jack"]}}
    raw = {"XMP-dc:Subject": ["Jack"], "target": "IMG_1.CR2.xmp"}
    assert list(files_of(raw)) == ["IMG_1.CR2.xmp"]
    assert files_of({}) == {} and files_of(None) == {}


def test_claims():
    record = new_record({"photo": {"XMP-dc:Subject": ["Jack", "Jill"], "regions": ["Jack"]}})
    claimed_record = claim_names(record, {"Jack"})
    assert claimed(claimed_record) == ["Jack"] and files_of(claimed_record) == files_of(record)


def test_hostile_records_do_not_break_reading():
    assert files_of({"v": 2, "files": "nonsense"}) == {}
    assert files_of({"v": 2, "files": {"photo": ["x"]}}) == {}
    assert claimed({"claimed": "Jack"}) == []
