"""names.py: the one name rule (CLI, review page, learning server, imported regions, faces.csv) and
the safe form of file names in output."""

from __future__ import annotations

import pytest

from facesidecar.model import IGNORE
from facesidecar.names import MAX_NAME, NameRuleError, canonical_name, clean_name, shown

ZWNJ, ZWJ = "\u200c", "\u200d"


@pytest.mark.parametrize("raw,stored", [
    ("  Zoe\u0308   Ñúñez \n", "Zoë Ñúñez"),
    ("Line\nBreak\tand\r\ntab", "Line Break and tab"),
    ("-IGNORE-", IGNORE), ("ignore", IGNORE), (" -ignore- ", IGNORE),
    (f"مهر{ZWNJ}آسا", f"مهر{ZWNJ}آسا"),
    (f"👩{ZWJ}👩{ZWJ}👧", f"👩{ZWJ}👩{ZWJ}👧"),
    ("=HYPERLINK(\"x\")", "=HYPERLINK(\"x\")"), ("+1", "+1"), ("-x", "-x"), ("@me", "@me"),
    ("Ann|Bob", "Ann|Bob"), ("", ""),
])
def test_names_are_stored_as_they_look(raw, stored):
    assert clean_name(raw) == stored


@pytest.mark.parametrize("raw,code", [
    ("E\x00ve", "U+0000"), ("\x1b[2JEve", "U+001B"), ("Eve\x7f", "U+007F"), ("Eve\x9b", "U+009B"),
    ("Eve\udcff", "U+DCFF"), ("\u202eevE", "U+202E"), ("Eve\u2066", "U+2066"), ("\ufeffEve", "U+FEFF"),
])
def test_control_characters_are_refused_with_the_code_point(raw, code):
    with pytest.raises(NameRuleError, match=rf"control character {code.replace('+', '[+]')}"):
        clean_name(raw)


def test_empty_and_overlong_names():
    with pytest.raises(NameRuleError, match="must not be empty"):
        clean_name("   ", allow_empty=False)
    assert clean_name("x" * MAX_NAME) == "x" * MAX_NAME
    with pytest.raises(NameRuleError, match=f"at most {MAX_NAME}"):
        clean_name("x" * (MAX_NAME + 1))


def test_canonical_name_compares_old_names_without_refusing_them():
    assert canonical_name(" Eve\x1b ") == "Eve\x1b"
    assert canonical_name("IGNORE") == IGNORE


def test_shown_escapes_what_a_terminal_would_act_on_and_keeps_joiners():
    assert shown("a.jpg") == "a.jpg"
    assert shown("x\n-INFO: fake.jpg") == "x\\n-INFO: fake.jpg"
    assert shown("\x1b[31mred.jpg") == "\\x1b[31mred.jpg"
    assert shown("caf\udce9.jpg") == "caf\\udce9.jpg"
    assert shown(f"مهر{ZWNJ}آسا.jpg") == f"مهر{ZWNJ}آسا.jpg"
