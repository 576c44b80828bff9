"""The three-way merge: edits are taken, stale copies undo nothing, deleted rows reject."""

from __future__ import annotations

from facesidecar.store.csvfile import format_csv, parse_csv
from facesidecar.store.merge import merge_rows, render_rows

from ..csvedit import with_name
from .helpers import face, state_with


def written(state) -> bytes:
    return format_csv(render_rows(state))


def delete_row(data: bytes, file: str, face_nr: int) -> bytes:
    return "\n".join(line for line in data.decode().split("\n") if not line.startswith(f"{file},{face_nr},")).encode()


def faces_by_nr(state, file):
    return state.photos[file].visible_faces


def test_edit_is_taken():
    state = state_with(a_jpg=[face(0.1), face(0.5)])
    data = written(state)
    result = merge_rows(state, parse_csv(with_name(data, "a.jpg", 2, "Anna")), now=1.0)
    assert [c.new for c in result.changes] == ["Anna"]
    assert faces_by_nr(state, "a.jpg")[1].name == "Anna"


def test_stale_copy_keeps_later_change_and_brings_its_own_edit():
    state = state_with(a_jpg=[face(0.1), face(0.5)])
    opened = written(state)                      # the editor opens this version
    faces_by_nr(state, "a.jpg")[1].name = "Bob"  # meanwhile the CLI names face 2
    written(state)
    stale_save = with_name(opened, "a.jpg", 1, "Anna")
    merge_rows(state, parse_csv(stale_save), now=2.0)
    assert [f.name for f in faces_by_nr(state, "a.jpg")] == ["Anna", "Bob"]


def test_clearing_a_name_withdraws_it_even_if_it_was_empty_before():
    state = state_with(a_jpg=[face(0.1)])
    first = written(state)
    merge_rows(state, parse_csv(with_name(first, "a.jpg", 1, "Anna")), now=1.0)
    second = written(state)
    merge_rows(state, parse_csv(with_name(second, "a.jpg", 1, "")), now=2.0)
    assert faces_by_nr(state, "a.jpg")[0].name == ""


def test_rename_by_cli_is_not_undone_by_old_copy():
    state = state_with(a_jpg=[face(0.1, "Anna")])
    opened = written(state)
    faces_by_nr(state, "a.jpg")[0].name = "Anne"
    written(state)
    merge_rows(state, parse_csv(opened), now=1.0)
    assert faces_by_nr(state, "a.jpg")[0].name == "Anne"


def test_without_rev_column_the_spec_rule_applies():
    state = state_with(a_jpg=[face(0.1), face(0.5)])
    written(state)
    faces_by_nr(state, "a.jpg")[1].name = "Bob"
    written(state)
    no_rev = b"file,face_nr,x,y,w,h,name\na.jpg,1,0.1,0.1,0.1,0.1,Anna\na.jpg,2,0.5,0.1,0.1,0.1,\n"
    merge_rows(state, parse_csv(no_rev), now=1.0)
    assert [f.name for f in faces_by_nr(state, "a.jpg")] == ["Anna", "Bob"]


def test_deleted_row_rejects_the_face():
    state = state_with(a_jpg=[face(0.1), face(0.5)])
    data = written(state)
    result = merge_rows(state, parse_csv(delete_row(data, "a.jpg", 1)), now=1.0)
    assert len(result.rejected) == 1
    assert [f.box.x for f in faces_by_nr(state, "a.jpg")] == [0.5]
    assert "a.jpg,1,0.5000" in written(state).decode()


def test_stale_copy_does_not_reject_faces_it_never_saw():
    state = state_with(a_jpg=[face(0.1)])
    opened = written(state)
    state.photos["b.jpg"] = state_with(b_jpg=[face(0.3)]).photos["b.jpg"]
    written(state)
    result = merge_rows(state, parse_csv(opened), now=1.0)
    assert result.rejected == []


def test_empty_or_header_only_file_rejects_nothing():
    state = state_with(a_jpg=[face(0.1)])
    written(state)
    assert merge_rows(state, parse_csv(b""), now=1.0).rejected == []
    assert merge_rows(state, parse_csv(b"file,face_nr,x,y,w,h,name,guess,distance,cluster,rev\n"), now=1.0).rejected == []


def test_rows_match_faces_by_box_even_if_renumbered():
    state = state_with(a_jpg=[face(0.5)])
    data = written(state)
    state.photos["a.jpg"].faces.insert(0, face(0.1))  # a new face appears left of it: numbers shift
    written(state)
    merge_rows(state, parse_csv(with_name(data, "a.jpg", 1, "Anna")), now=1.0)
    assert [f.name for f in faces_by_nr(state, "a.jpg")] == ["", "Anna"]


def test_unchanged_state_renders_identical_bytes():
    state = state_with(a_jpg=[face(0.1, "Anna")])
    assert written(state) == written(state)
