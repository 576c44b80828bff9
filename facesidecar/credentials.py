"""Secrets (API keys, passwords) from an owner-only file or an environment variable.

A secret is never taken from the command line (other users see it in ``ps`` and in the shell
history) and never logged. A file that others may read is refused rather than used, so that a
leaked secret is noticed when it is set up and not after the fact.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError, FacesidecarError


def read_secret(file: str, env: str, what: str, environ: Mapping[str, str] = os.environ,
                error: type[FacesidecarError] = ConfigError) -> str | None:
    """The secret in ``file`` (owner-only, one line) or else in ``$env``; None when neither is set.

    ``what`` names the setting in messages (``serve.api_key_file``), which never contain the
    secret; problems raise ``error``. Trailing line breaks are dropped: editors add one.
    """
    if file:
        path = Path(file).expanduser()
        try:
            info = path.stat()
        except OSError as exc:
            raise error(f"{what} {path}: {exc.strerror}") from None
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise error(f"{what} {path} may be read by others (mode {mode:04o}); it is refused until "
                              f"only its owner can read it: chmod 600 {path}")
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise error(f"{what} {path} cannot be read: "
                              f"{getattr(exc, 'strerror', None) or 'not UTF-8 text'}") from None
    if env:
        return environ.get(env)
    return None


__all__ = ["read_secret"]
