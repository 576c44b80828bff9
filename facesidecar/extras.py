"""Optional parts of the installation (pip extras) and the one command that adds a missing one.

The default install is the small dlib stack; the deepface/TensorFlow stack is the ``deepface`` extra.
Choosing a part that is not installed must say exactly what to run, for the checkout (or the
/opt/facesidecar copy the service uses) this code runs from.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import ConfigError

CHECKOUT = Path(__file__).resolve().parents[1]
"""The folder holding ``scripts/setup.sh`` when facesidecar runs from a checkout (editable install)."""


def install_command(extra: str, checkout: Path = CHECKOUT) -> str:
    """The shell command that installs ``extra`` into the environment this code runs in."""
    setup = checkout / "scripts" / "setup.sh"
    if setup.is_file():
        return f"bash {setup} --{extra}"
    return f"pip install 'facesidecar[{extra}]'"


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def require(module: str, extra: str, why: str, checkout: Path = CHECKOUT) -> None:
    """A clear ConfigError when ``module`` (part of the pip extra ``extra``) is not installed."""
    if not installed(module):
        raise ConfigError(f"{why} needs the optional '{extra}' part, which is not installed; "
                          f"install it with: {install_command(extra, checkout)}")


__all__ = ["install_command", "installed", "require"]
