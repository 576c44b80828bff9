"""The API key: where it comes from and how a request's key is checked.

The key is read from ``serve.api_key_file`` (a file only its owner may read) or from the
environment variable named by ``serve.api_key_env``; never from the command line, and it is never
logged. Requests carry it in the ``x-api-key`` header, as Nextcloud's Face Recognition app sends
it; it is compared in constant time so that response times do not leak how much of a guess was
right.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping

from ..config import ServeSettings
from ..credentials import read_secret
from ..errors import ConfigError

HEADER = "x-api-key"
MIN_LENGTH = 16
KNOWN_DEFAULTS = frozenset({"some-super-secret-api-key"})
"""Keys shipped as examples (the Face Recognition app's placeholder): guessed first by anyone."""


def load_api_key(settings: ServeSettings, environ: Mapping[str, str] = os.environ) -> str:
    """The configured key, or a ConfigError saying how to set one up."""
    key = read_secret(settings.api_key_file, settings.api_key_env, "serve.api_key_file", environ)
    where = f"serve.api_key_file ({settings.api_key_file})" if settings.api_key_file else f"${settings.api_key_env}"
    if not key:
        raise ConfigError(
            f"serve needs an API key: put a random one in a file only the service user can read and set "
            f"serve.api_key_file (or set ${settings.api_key_env}); e.g. python3 -c 'import secrets; "
            f"print(secrets.token_urlsafe(32))' > /etc/facesidecar/serve.key && chmod 600 /etc/facesidecar/serve.key"
        )
    key = key.strip()
    if len(key) < MIN_LENGTH or key in KNOWN_DEFAULTS or any(c.isspace() or not c.isprintable() for c in key):
        raise ConfigError(f"the API key in {where} is too easy to guess or not a single word: use at least "
                          f"{MIN_LENGTH} random printable characters without spaces")
    return key


def key_matches(given: str | None, expected: str) -> bool:
    """Whether ``given`` (the header, possibly missing) is the key; constant time in its content."""
    return given is not None and hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8"))


__all__ = ["HEADER", "load_api_key", "key_matches"]
