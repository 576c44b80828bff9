"""What several commands share: loading settings, building the scanner with its adapters."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

from ..config import Settings, load_settings
from ..errors import FacesidecarError
from ..scan import Scanner

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


def metadata_adapter(settings: Settings):
    """The exiftool adapter, or None (with a warning) when switched off or exiftool is missing."""
    if not settings.metadata.enabled:
        return None
    if shutil.which("exiftool") is None:
        log.warning("exiftool not found: names are kept in faces.csv only, not written into the photos "
                    "(install it: apt-get install libimage-exiftool-perl)")
        return None
    from ..adapters.exiftool.process import ExifTool
    from ..adapters.exiftool.writer import MetadataWriter

    return MetadataWriter(ExifTool(), settings.metadata)


def mirror_adapter(settings: Settings):
    """The database mirror when ``[mysql] enabled = true``; nothing needs a database otherwise."""
    if not settings.mysql.enabled:
        return None
    from ..adapters.mysql.mirror import Mirror

    return Mirror(settings.mysql, outbox_dir=settings.state_path())


@contextmanager
def scanner_for(settings: Settings, progress=None, should_stop=lambda: False):
    scanner = Scanner(settings, metadata=metadata_adapter(settings), mirror=mirror_adapter(settings),
                      progress=progress, should_stop=should_stop)
    try:
        yield scanner
    finally:
        scanner.close()


def is_terminal() -> bool:
    return sys.stderr.isatty()
