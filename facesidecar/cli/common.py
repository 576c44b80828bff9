"""What several commands share: loading settings, a scanner for the length of a command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..compose import build_scanner
from ..config import Settings, load_settings, with_roots
from ..errors import FacesidecarError
from ..names import shown
from ..runlock import Holder, RootLocks

log = logging.getLogger(__name__)


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def existing_paths(raw: list[str]) -> list[Path]:
    paths = []
    for item in raw:
        path = Path(item).expanduser()
        if not path.exists():
            raise FacesidecarError(f"{item}: no such file or folder")
        paths.append(path.resolve())
    return paths


@dataclass(frozen=True)
class Target:
    """What a command that works through whole folders works on."""

    settings: Settings
    """The settings with roots: the configured ones, else the paths given (so that the gallery
    and the refresh of guesses span exactly what the command was given)."""
    paths: list[Path]
    """The paths given, else the configured roots."""


def target_roots(args: argparse.Namespace, settings: Settings, verb: str) -> Target | None:
    """The folders ``args.paths`` names, else the configured roots; None (said in the log) when
    neither: walking whatever the current folder is (a home, ``/``) is never what was meant."""
    paths = existing_paths(args.paths) if args.paths else settings.root_paths()
    if not paths:
        log.error("nothing to %s: give a folder (facesidecar %s ~/Pictures) or set [[roots]] in the config", verb, verb)
        return None
    if not settings.roots:
        settings = with_roots(settings, [str(p) for p in paths])
    return Target(settings, paths)


@contextmanager
def roots_locked(settings: Settings, roots: list[Path], what: str, *, wait: bool = True) -> Iterator[None]:
    """Work through ``roots`` alone: a scan, a recluster or the daemon's catch-up of the same photos
    runs first (with ``wait``, this command waits for it and says so once; else RootsBusy). No
    roots (a dry run): nothing is locked and nothing is written in the state folder."""
    if not roots:
        yield
        return
    with RootLocks(settings.state_path(), what) as locks:
        locks.acquire(roots, wait=wait, on_wait=tell_waiting)
        yield


def tell_waiting(holders: list[Holder]) -> None:
    for holder in holders:
        log.warning("waiting for %s: it works through the same photos, so this command goes on when it is done "
                    "(its progress: facesidecar status; Ctrl-C stops waiting)", holder.describe())


@contextmanager
def scanner_for(settings: Settings, progress=None, should_stop=lambda: False):
    """The command's scanner with its adapters (:func:`facesidecar.compose.build_scanner`), closed at the end."""
    scanner = build_scanner(settings, progress=progress, should_stop=should_stop)
    try:
        yield scanner
    finally:
        scanner.close()


def is_terminal() -> bool:
    return sys.stderr.isatty()


class ShownFormatter(logging.Formatter):
    """Messages with file names in them as a terminal or a journal can show them: a photo called
    ``x\\n-INFO: fake`` or holding an escape sequence must not write lines or colours of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return shown(super().formatMessage(record))
