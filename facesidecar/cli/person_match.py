"""Which stored names a name typed for ``forget``/``export`` means.

People type "zoe" for "Zoë" or "anna" for "Anna". The exact name always wins; otherwise the names
that are equal without case and accents are offered, listed exactly, and used only after a
confirmation (a prompt on a terminal, ``--yes`` in scripts). Nothing that matches is an error with a
"did you mean" from the names that exist.
"""

from __future__ import annotations

import difflib
import shlex
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import FacesidecarError
from ..naming_commands import Person, people_counts, sidecar_folders


def fold(name: str) -> str:
    """``name`` compared without case and accents: "Zoë Ñúñez" and "zoe nunez" fold alike."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


@dataclass
class Match:
    typed: str
    exact: Person | None
    similar: list[Person]
    """Other names equal to ``typed`` without case and accents."""
    close: list[str]
    """Names that merely look alike, for "did you mean"."""


def match_person(typed: str, people: list[Person]) -> Match:
    exact = next((p for p in people if p.name == typed), None)
    key = fold(typed)
    similar = [p for p in people if p.name != typed and fold(p.name) == key]
    folded = {fold(p.name): p.name for p in people}
    close = [folded[k] for k in difflib.get_close_matches(key, list(folded), n=3, cutoff=0.75)]
    return Match(typed, exact, similar, [c for c in close if c != typed])


def library_people(settings) -> list[Person]:
    return people_counts(sidecar_folders(settings.root_paths(), settings.exclude))


def describe(person: Person) -> str:
    return f"{person.name!r} ({person.confirmed} confirmed, {person.guessed} guessed)"


def did_you_mean(match: Match, command: str) -> str:
    if not match.close:
        return "'facesidecar people' lists the names"
    return "did you mean " + " or ".join(f"facesidecar {command} {shlex.quote(n)}" for n in match.close) + "?"


def confirm_similar(match: Match, command: str, assume_yes: bool, ask: Callable[[str], str] | None = None) -> list[str]:
    """The similar names to use, after the person agreed; FacesidecarError when they did not (or could not)."""
    listing = ", ".join(describe(p) for p in match.similar)
    print(f"nobody is named {match.typed!r} exactly; without case and accents it matches: {listing}", file=sys.stderr)
    names = [p.name for p in match.similar]
    if assume_yes:
        return names
    exact = " or ".join(f"facesidecar {command} {shlex.quote(n)}" for n in names)
    if ask is None and not sys.stdin.isatty():
        raise FacesidecarError(f"not confirmed: give the exact name ({exact}) or add --yes")
    answer = (ask or input)(f"{command} {' and '.join(repr(n) for n in names)}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise FacesidecarError("nothing done")
    return names


def resolve_names(match: Match, command: str, assume_yes: bool) -> list[str]:
    """The stored names the typed one stands for: itself when it exists or nothing is similar, else
    the similar names once confirmed."""
    if match.exact is not None or not match.similar:
        return [match.typed]
    return confirm_similar(match, command, assume_yes)


def mention_similar(match: Match, command: str) -> None:
    """After using the exact name: the variants that were left alone, with the command for each."""
    for person in match.similar if match.exact is not None else []:
        print(f"note: {describe(person)} is similar but was left alone: facesidecar {command} "
              f"{shlex.quote(person.name)}", file=sys.stderr)


__all__ = ["fold", "match_person", "resolve_names", "mention_similar", "did_you_mean", "library_people", "Match"]
