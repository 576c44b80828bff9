"""The one rule for a person's name, wherever it comes from, and the safe form of text we print.

A name reaches facesidecar from faces.csv edits, the CLI, the review page, the learning server and
the face regions other tools wrote into photos. All of them go through :func:`clean_name`, so a
name that one door refuses cannot come in through another, and every name stored is one that
faces.csv, the photos' keywords and regions (exiftool's argument lines), the mirror and a terminal
can carry unchanged.

What the rule does:

* NFC, and every run of white space (tabs and line breaks an editor left in a cell included)
  becomes one space, trimmed at both ends: how the name looks is what the name is;
* ``-ignore-`` (any case, or plain ``ignore``) is the one ``IGNORE`` marker;
* a control character, a lone surrogate or a bidirectional override (text that displays differently
  from what it is) is refused with a reason: such a name would reach a terminal, a log or an
  exiftool argument line as something else than what was typed;
* the zero-width joiner and non-joiner (Persian names, emoji sequences) and every other visible
  character are kept exactly; a name may start with ``=``, ``+``, ``-`` or ``@``: faces.csv writes
  such cells so that no spreadsheet evaluates them (store/cells.py).

:func:`shown` is for the other direction: file names may hold anything the file system allows
(line breaks, escape sequences, bytes that are not UTF-8); whatever prints them escapes those.
"""

from __future__ import annotations

import unicodedata

from .errors import FacesidecarError
from .model import IGNORE

MAX_NAME = 200
"""Characters a name may have (a longer one is a pasted paragraph, not a name)."""

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Embeddings, overrides and isolates: they make text display in another order than it is stored."""


class NameRuleError(FacesidecarError):
    """A typed or imported name that cannot be a name; the message says why."""


def clean_name(raw: str, allow_empty: bool = True) -> str:
    """``raw`` in the form names are stored and compared in, or NameRuleError saying why not."""
    name = canonical_name(raw)
    bad = None if name.isprintable() else next((c for c in name if is_control(c)), None)
    if bad is not None:
        raise NameRuleError(f"a name cannot contain the control character {_codepoint(bad)}")
    if len(name) > MAX_NAME:
        raise NameRuleError(f"a name has at most {MAX_NAME} characters (this one has {len(name)})")
    if not name and not allow_empty:
        raise NameRuleError("the name must not be empty")
    return name


def canonical_name(raw: str) -> str:
    """The form a name is compared in (NFC, white space collapsed, ``-ignore-``), without the checks
    of :func:`clean_name`: for looking up names stored before, never for taking in a new one."""
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    return IGNORE if name.lower() in (IGNORE, "ignore") else name


def shown(text: str) -> str:
    """``text`` (a file name, a path) for a terminal or a log: control characters and bytes that are
    not UTF-8 (surrogate escapes) written as ``\\n``, ``\\x1b``, ``\\udcff``; joiners stay."""
    if not any(is_control(c) for c in text):
        return text
    return "".join(c.encode("unicode_escape").decode("ascii") if is_control(c) else c for c in text)


def is_control(char: str) -> bool:
    """Whether ``char`` is one no output may carry as it is (joiners and other format marks are not)."""
    category = unicodedata.category(char)
    return category in ("Cc", "Cs", "Zl", "Zp") or char in BIDI_CONTROLS or char == "\ufeff"


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"
