"""``facesidecar watch [PATH…]``: the daemon that systemd runs.

Logs go to stderr. Under systemd (``$JOURNAL_STREAM`` set) each line starts with a syslog
priority such as ``<6>``, which journald turns into the entry's level, so ``journalctl -p warning``
works; elsewhere lines read ``LEVEL: message``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..config import Settings, load_settings, with_roots
from ..daemon import Daemon
from ..errors import FacesidecarError
from .common import ShownFormatter

SYSLOG_PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(ShownFormatter):
    """``<priority>message``: the sd-daemon(3) prefix journald reads from a service's stderr."""

    def format(self, record: logging.LogRecord) -> str:
        priority = SYSLOG_PRIORITIES.get(record.levelno, 6)
        text = super().format(record)
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


def stderr_is_journal(environ=os.environ) -> bool:
    """Whether stderr is the journal stream systemd announced in ``$JOURNAL_STREAM`` (``dev:inode``)."""
    announced = environ.get("JOURNAL_STREAM", "")
    try:
        info = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return bool(announced) and announced == f"{info.st_dev}:{info.st_ino}"


def setup_daemon_logging(settings: Settings, verbose: int, quiet: bool, environ=os.environ) -> logging.Handler:
    """Replace the CLI's handler: the level comes from daemon.log_level unless -v/-q say otherwise."""
    if quiet:
        level = logging.WARNING
    elif verbose:
        level = logging.DEBUG
    else:
        level = getattr(logging, settings.daemon.log_level.upper())
    handler = logging.StreamHandler(sys.stderr)
    if stderr_is_journal(environ):
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(ShownFormatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("facesidecar")
    root.handlers[:] = [handler]
    root.setLevel(level)
    return handler


def watched_settings(config: str | None, paths: list[str]) -> Settings:
    settings = load_settings(config)
    if paths:
        settings = with_roots(settings, paths)
    if not settings.roots:
        raise FacesidecarError(f"nothing to watch: give a folder (facesidecar watch ~/Pictures) "
                               f"or add [[roots]] to {settings.source}")
    for root in settings.root_paths():
        if not root.is_dir():
            raise FacesidecarError(f"root {root} is not a folder")
    return settings


def run(args: argparse.Namespace) -> int:
    settings = watched_settings(args.config, args.paths)
    setup_daemon_logging(settings, args.verbose, args.quiet)
    daemon = Daemon(
        settings,
        config_path=args.config or os.environ.get("FACESIDECAR_CONFIG"),
        reload_settings=lambda: watched_settings(args.config, args.paths),
    )
    return daemon.run()


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "watch", parents=[parent], help="the daemon: keep sidecars and names current as photos arrive",
        description="Watch the configured roots (or PATHs) and keep faces.csv, faces.pkl, guesses and the "
        "photos' metadata current. Catches up on changes made while it was not running, then follows "
        "file-system events (inotify, or polling for roots with poll = true). SIGTERM stops after the "
        "current photo, SIGHUP reloads the configuration. Meant to run under systemd (Type=notify).",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="folders to watch instead of the configured roots")
    parser.set_defaults(func=run)
