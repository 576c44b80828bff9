"""How the mirror reaches the database: connection options and the password, never shown.

The password comes from ``password_file`` (refused unless only its owner can read it) or the
``password_env`` environment variable; it is never put on a command line, in a log or in an error
message.
"""

from __future__ import annotations

import math
import os

from ...config import MysqlSettings
from ...credentials import read_secret
from ...errors import MirrorError


def read_password(settings: MysqlSettings, environ=os.environ) -> str | None:
    """The password from ``password_file`` (owner-only) or ``$password_env``; None if neither."""
    return read_secret(settings.password_file, settings.password_env, "mysql.password_file", environ, MirrorError)


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
