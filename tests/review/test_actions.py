"""review/actions.py without the web layer: name rules, outcomes, stale clicks, rejections (the
pages that call them: test_app.py)."""

from __future__ import annotations

import pytest

from facesidecar.model import IGNORE
from facesidecar.review.actions import ActionError, Actions, Outcome, typed_name
from facesidecar.store.folder import FolderStore


@pytest.mark.parametrize("raw", ["a\x07b", "\x1b[2Jx", "Ann\u202eboB", "", "   ", "x" * 201])
def test_names_a_terminal_or_the_keywords_would_misread_are_refused(raw):
    with pytest.raises(ActionError):
        typed_name(raw)


@pytest.mark.parametrize("raw", ["=1+1", "+cmd", "@SUM(A1)", "-x", "Ali\u200cReza"])
def test_names_a_spreadsheet_would_evaluate_are_names_faces_csv_writes_them_safely(raw):
    assert typed_name(raw) == raw


def test_ignore_and_an_empty_name_where_allowed_are_names():
    assert typed_name(IGNORE) == IGNORE
    assert typed_name("", allow_empty=True) == ""
    assert typed_name("  Rita  ") == "Rita"


def test_an_outcome_says_what_was_done_and_what_was_not():
    assert Outcome(changed=2).message("{n} named") == "2 named"
    assert Outcome(conflicts=["a.jpg: changed meanwhile"]).message("{n} named") == "a.jpg: changed meanwhile"


def test_a_click_on_an_outdated_page_changes_nothing(lib):
    actions = Actions(lib.scanner)
    face_id = lib.face_id("album1", "a1.jpg", 1)
    lib.type_in_csv("album1", "a1.jpg", 1, "Rita")  # typed in faces.csv after the page was shown
    outcome = actions.name_face(lib.root / "album1", face_id, "Rosa", expected="guess:")
    assert outcome.changed == 0 and "changed meanwhile" in outcome.conflicts[0]
    assert lib.row("album1", "a1.jpg", 1).name == "Rita"


def test_a_rejected_guess_is_kept_with_the_face(named):
    actions = Actions(named.scanner)
    face_id = named.face_id("album1", "a2.jpg", 1)
    guess = named.guess("album1", "a2.jpg", 1)
    assert guess == "Rita"
    assert actions.reject_guess(named.root / "album1", face_id, guess).changed == 1
    face = FolderStore(named.root / "album1").load().find_face(face_id)[1]
    assert face.not_names == ["Rita"] and face.guess == ""

