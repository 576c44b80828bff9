"""Commit files are finished only when provably ours (issue 13, rule 2): the trailer's checksum and the
photo's identity must match; anything else is reported and never copied."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facesidecar.adapters.exiftool import commit as crash_safe
from facesidecar.store import confined

ORIGINAL = b"\xff\xd8original photo bytes" * 100
NEW = b"\xff\xd8new photo bytes with names" * 120


def die_before_copying(commit: Path, target: Path) -> None:
    raise KeyboardInterrupt  # the process dies right after the write was decided


@pytest.fixture
def decided(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """A photo and the commit file of a write that was decided but not copied yet."""
    photo = tmp_path / "a.jpg"
    photo.write_bytes(ORIGINAL)
    tmp = crash_safe.temp_copy_for(photo)
    tmp.write_bytes(NEW)
    monkeypatch.setattr(crash_safe, "_copy_in_place", die_before_copying)
    with pytest.raises(KeyboardInterrupt):
        crash_safe.commit_copy(tmp, photo, preserve_mtime=False)
    monkeypatch.undo()
    commit = tmp_path / ".a.jpg.facesidecar-commit"
    assert commit.read_bytes().startswith(NEW) and commit.read_bytes().endswith(crash_safe.MAGIC)
    return photo, commit


def test_our_commit_file_is_finished(decided):
    photo, commit = decided
    assert crash_safe.recover(photo)
    assert photo.read_bytes() == NEW and not commit.exists()


@pytest.mark.parametrize("tamper", ["payload", "trailer", "no trailer"])
def test_a_tampered_commit_file_is_reported_and_never_copied(decided, tamper, caplog):
    photo, commit = decided
    data = bytearray(commit.read_bytes())
    if tamper == "payload":
        data[10] ^= 0xFF
    elif tamper == "trailer":
        data[len(NEW) + 5] ^= 0x01
    else:
        data = data[: len(NEW)]
    commit.write_bytes(bytes(data))
    assert not crash_safe.recover(photo)
    assert photo.read_bytes() == ORIGINAL and commit.exists()
    assert "not written by facesidecar" in caplog.text


def test_a_commit_file_of_ours_for_another_photo_is_not_copied(decided, caplog):
    photo, commit = decided
    other = photo.with_name("b.jpg")
    other.write_bytes(ORIGINAL)
    commit.rename(photo.with_name(".b.jpg.facesidecar-commit"))
    assert crash_safe.finish_interrupted_writes(photo.parent) == []
    assert other.read_bytes() == ORIGINAL and "belongs to another file" in caplog.text


def test_a_photo_replaced_by_a_link_gets_nothing_through_it(decided, tmp_path):
    photo, commit = decided
    outside = tmp_path.parent / f"{tmp_path.name}-outside.sh"
    outside.write_bytes(b"#!/bin/sh\n")
    photo.unlink()
    photo.symlink_to(outside)
    assert not crash_safe.recover(photo)
    assert outside.read_bytes() == b"#!/bin/sh\n"


def test_a_hard_linked_commit_file_is_not_trusted(decided, caplog):
    photo, commit = decided
    os.link(commit, photo.with_name("copy-of-commit"))
    assert not crash_safe.recover(photo)
    assert photo.read_bytes() == ORIGINAL and "hard links" in caplog.text


@pytest.fixture(autouse=True)
def fresh_reports(monkeypatch):
    """Each test sees its own 'reported once' messages."""
    monkeypatch.setattr(confined, "_reported", set())
