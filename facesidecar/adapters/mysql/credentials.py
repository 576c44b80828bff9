"""How the mirror reaches the database: connection options and the password, never shown.

The password comes from ``password_file`` (refused unless only its owner can read it) or the
``password_env`` environment variable; it is never put on a command line, in a log or in an error
message.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

from ...config import MysqlSettings
from ...errors import MirrorError


def read_password(settings: MysqlSettings, environ=os.environ) -> str | None:
    """The password from ``password_file`` (owner-only) or ``$password_env``; None if neither."""
    if settings.password_file:
        path = Path(settings.password_file).expanduser()
        try:
            info = path.stat()
        except OSError as exc:
            raise MirrorError(f"mysql.password_file {path}: {exc.strerror}") from None
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise MirrorError(f"mysql.password_file {path} may be read by others (mode {mode:04o}); "
                              f"it is refused until only its owner can read it: chmod 600 {path}")
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise MirrorError(f"mysql.password_file {path} cannot be read: "
                              f"{getattr(exc, 'strerror', None) or 'not UTF-8 text'}") from None
    if settings.password_env:
        return environ.get(settings.password_env)
    return None


def connect_options(settings: MysqlSettings) -> dict:
    """Connection options without the password (safe to show); TLS options passed through."""
    options = {
        "host": settings.host, "port": settings.port, "user": settings.user, "database": settings.database,
        "charset": "utf8mb4", "collation": "utf8mb4_bin", "autocommit": False, "use_pure": True,
        "connection_timeout": max(1, math.ceil(settings.connect_timeout)),
    }
    for key in ("ssl_ca", "ssl_cert", "ssl_key"):
        value = getattr(settings, key)
        if value:
            options[key] = value
    if settings.ssl_verify_cert:
        options["ssl_verify_cert"] = True
    return options


def connector():
    """The mysql.connector module, imported on first use: without a mirror it is never loaded."""
    import mysql.connector

    return mysql.connector


def default_connect(**options):
    return connector().connect(**options)
