"""pipeline.publish: which names a photo should carry, and when a write is still owed."""

from __future__ import annotations

from facesidecar.model import IGNORE, Box, Face, PhotoState
from facesidecar.pipeline.publish import metadata_pending, wanted_people


def photo(**written) -> PhotoState:
    faces = [Face(face_id="a", box=Box(0.5, 0.1, 0.1, 0.1), name="Anna"),
             Face(face_id="b", box=Box(0.1, 0.1, 0.1, 0.1), guess="Bea"),
             Face(face_id="c", box=Box(0.3, 0.1, 0.1, 0.1), name=IGNORE),
             Face(face_id="d", box=Box(0.7, 0.1, 0.1, 0.1), name="Dan", rejected=True)]
    return PhotoState(file="p.jpg", width=10, height=10, faces=faces, metadata_written=written)


def test_confirmed_names_left_to_right_guesses_only_when_asked():
    assert wanted_people(photo(), write_guesses=False) == [["Anna", [0.5, 0.1, 0.1, 0.1]]]
    assert [n for n, _ in wanted_people(photo(), write_guesses=True)] == ["Bea", "Anna"]


def test_a_write_is_owed_until_what_was_written_is_what_is_wanted():
    wanted = wanted_people(photo(), write_guesses=False)
    assert metadata_pending({"p.jpg": photo()}, write_guesses=False)
    assert not metadata_pending({"p.jpg": photo(people=wanted)}, write_guesses=False)
    failed = photo()
    failed.error = "cannot decode"
    assert not metadata_pending({"p.jpg": failed}, write_guesses=False), "a photo that failed gets nothing written"
