"""The hostile-folder corpus: a photo root full of what an untrusted writer can put there, next to a
sentinel tree outside the root that nothing may touch (issue 13, SECURITY.md).

Cases register themselves; every helper adds its own in a module ``tests/hardening/cases_<topic>.py``
(loaded by :func:`all_cases`), e.g.::

    from .hostile import HostileCase, register

    @register("fifo as faces.csv", reported="faces.csv: is a FIFO")
    def fifo_csv(folder: Path, corpus: Corpus) -> None:
        os.mkfifo(folder / "faces.csv")

Each case gets a folder of its own, ``<root>/<slug of the case name>/``, that already holds a good
photo ``good.jpg`` (one face) before ``build`` runs; the tests assert that this photo is scanned and
named whatever the case did. ``reported`` is a regular expression that must match exactly one line of
the scan's output (empty: the case must pass silently, e.g. a dotfile); ``during_daemon`` is a hostile
change made while the real daemon is running (for instance a folder swapped for a symlink while its
work is queued). ``corpus.sentinel`` holds targets worth attacking (a script, a photo, a faces.csv, a
folder of photos, a pickle); a case may point anything at them.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pkgutil
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .helpers import put_photo, small_photo

GOOD_PHOTO = "good.jpg"


@dataclass(frozen=True)
class HostileCase:
    name: str
    build: Callable[[Path, Corpus], None]
    reported: str = ""
    """Regex that exactly one line of the scan output matches ('' = nothing is reported)."""
    during_daemon: Callable[[Path, Corpus], None] | None = None
    named: bool = True
    """Whether the good photo next to the case can be named through faces.csv (False when the case
    is a faces.csv the test must not edit)."""
    owner: str = "secfs"

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


CASES: dict[str, HostileCase] = {}


def register(name: str, *, reported: str = "", during_daemon: Callable[[Path, Corpus], None] | None = None,
             named: bool = True, owner: str = "secfs") -> Callable:
    """Decorator: ``build(folder, corpus)`` creates the hostile item(s) of case ``name`` in ``folder``."""

    def decorate(build: Callable[[Path, Corpus], None]) -> Callable[[Path, Corpus], None]:
        case = HostileCase(name, build, reported, during_daemon, named, owner)
        if case.slug in {c.slug for c in CASES.values() if c.name != name}:
            raise ValueError(f"hostile case {name!r} clashes with another case's folder {case.slug!r}")
        CASES[name] = case
        return build

    return decorate


def all_cases() -> list[HostileCase]:
    """Every registered case, after importing every ``cases_*`` module of this package."""
    package = Path(__file__).parent
    for module in pkgutil.iter_modules([str(package)]):
        if module.name.startswith("cases_"):
            importlib.import_module(f"{__package__}.{module.name}")
    return sorted(CASES.values(), key=lambda c: c.slug)


class Corpus:
    """A root of hostile cases and a sentinel tree outside it, under ``base``."""

    def __init__(self, base: Path):
        self.base = base
        self.root = base / "root"
        self.sentinel = base / "sentinel"
        self.state = base / "state"
        self.cases: list[HostileCase] = []

    # -- building ----------------------------------------------------------------------------------
    def build(self, cases: list[HostileCase] | None = None) -> Corpus:
        self._build_sentinel()
        self.root.mkdir(parents=True, exist_ok=True)
        self.cases = list(all_cases() if cases is None else cases)
        for case in self.cases:
            folder = self.folder(case)
            put_photo(folder / GOOD_PHOTO, 0)
            case.build(folder, self)
        return self

    def folder(self, case: HostileCase) -> Path:
        return self.root / case.slug

    def _build_sentinel(self) -> None:
        """Targets an attacker inside the root would like to read, overwrite, run or fill."""
        s = self.sentinel
        (s / "album").mkdir(parents=True, exist_ok=True)
        for n in range(2):
            shutil.copyfile(small_photo(n + 1), s / "album" / f"{n}.jpg")
        shutil.copyfile(small_photo(3), s / "photo.jpg")
        (s / "script.sh").write_text("#!/bin/sh\necho the original script\n")
        (s / "script.sh").chmod(0o755)
        (s / "faces.csv").write_text("file,face_nr,x,y,w,h,name,guess,distance\n")
        (s / "target.txt").write_text("a file outside the root\n")
        (s / "secret.key").write_text("private\n")
        (s / "secret.key").chmod(0o600)

    # -- checking ----------------------------------------------------------------------------------
    def outside_snapshot(self) -> dict[str, tuple]:
        """Every entry below ``base`` but the root and the state folder: kind, mode, bytes' hash, target."""
        found = {}
        for current, dirs, files in os.walk(self.base):
            here = Path(current)
            dirs[:] = [d for d in dirs if here / d not in (self.root, self.state)]
            for name in sorted(dirs + files):
                path = here / name
                info = os.lstat(path)
                if stat.S_ISREG(info.st_mode):
                    content = hashlib.sha256(path.read_bytes()).hexdigest()
                elif stat.S_ISLNK(info.st_mode):
                    content = os.readlink(path)
                else:
                    content = ""
                found[str(path.relative_to(self.base))] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode),
                                                          info.st_size, info.st_mtime_ns, content)
        return found


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
