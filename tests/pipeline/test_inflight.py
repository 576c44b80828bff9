"""Marks of photos being decoded: a photo two processes died decoding is not decoded again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from facesidecar.pipeline.inflight import DecodeMarks
from tests.hardening.helpers import PROJECT

DIE_DECODING = """
import os, signal, sys
from pathlib import Path
from facesidecar.pipeline.inflight import DecodeMarks
photo = Path(sys.argv[2])
marks = DecodeMarks(Path(sys.argv[1]))
with marks.decoding(photo, photo.stat(), marks.deaths(photo, photo.stat())):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def die_decoding(state, photo) -> None:
    done = subprocess.run([sys.executable, "-c", DIE_DECODING, str(state), str(photo)], cwd=PROJECT, check=False)
    assert done.returncode == -signal.SIGKILL


def test_deaths_while_decoding_are_counted_per_unchanged_photo(tmp_path):
    photo = tmp_path / "bomb.png"
    photo.write_bytes(b"x")
    marks = DecodeMarks(tmp_path / "state")
    die_decoding(tmp_path / "state", photo)
    assert marks.deaths(photo, photo.stat()) == 1
    assert marks.deaths(photo, photo.stat()) == 0, "the mark is gone once counted"
    die_decoding(tmp_path / "state", photo)
    die_decoding(tmp_path / "state", photo)
    assert marks.deaths(photo, photo.stat()) == 2


def test_a_photo_that_changed_since_starts_over(tmp_path):
    photo = tmp_path / "bomb.png"
    photo.write_bytes(b"x")
    die_decoding(tmp_path / "state", photo)
    photo.write_bytes(b"a new version")
    marks = DecodeMarks(tmp_path / "state")
    assert marks.deaths(photo, photo.stat()) == 0
    assert list(marks.folder.iterdir()) == []


def test_a_live_process_decoding_the_photo_is_no_death_and_its_mark_is_kept(tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"x")
    marks = DecodeMarks(tmp_path / "state")
    with marks.decoding(photo, photo.stat()):
        assert marks.deaths(photo, photo.stat()) == 0
        (mark,) = marks.folder.iterdir()
        assert mark.stat().st_mode & 0o777 == 0o600
    assert list(marks.folder.iterdir()) == []


def test_an_exception_while_decoding_removes_the_mark(tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"x")
    marks = DecodeMarks(tmp_path / "state")
    try:
        with marks.decoding(photo, photo.stat()):
            raise MemoryError
    except MemoryError:
        pass
    assert list(marks.folder.iterdir()) == [] and os.path.isdir(marks.folder)
