"""What several commands share: loading settings, a scanner for the length of a command."""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import contextmanager
from pathlib import Path

from ..compose import build_scanner
from ..config import Settings, load_settings
from ..errors import FacesidecarError
from ..names import shown

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
