"""Entry point: parse arguments, run the sub-command, turn errors into messages and exit codes.

Each sub-command lives in its own module of this package with a ``register(subparsers)``
function that adds its parser and sets ``func`` to a ``run(args) -> int`` adapter.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__
from ..errors import FacesidecarError
from ..names import shown
from .common import ShownFormatter

COMMAND_MODULES = (
    "scan",
    "recluster",
    "status",
    "reset",
    "review",
    "watch",
    "doctor",
    "models",
    "name", "confirm", "rename", "people", "match", "enroll", "clusters", "name_cluster",
    "db", "forget", "export",
    "serve", "import_hubzilla",
    "worker",
)

log = logging.getLogger("facesidecar")


GLOBAL_PREFIX = "global_"
"""Where the options given before the command land, so that the command's own copy cannot overwrite
them (argparse lets a sub-parser's defaults replace what the main parser parsed)."""


def common_options(prefix: str = "") -> argparse.ArgumentParser:
    """Options accepted before and after the command: ``facesidecar -v --config X scan`` is
    ``facesidecar scan --config X -v``. ``prefix`` names the destinations of the main parser's copy."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", metavar="PATH", dest=f"{prefix}config", default=None,
                        help="TOML config file (default: $FACESIDECAR_CONFIG, then /etc/facesidecar/config.toml)")
    parent.add_argument("-v", "--verbose", action="count", dest=f"{prefix}verbose", default=0,
                        help="more output; -vv for debug and tracebacks")
    parent.add_argument("-q", "--quiet", action="store_true", dest=f"{prefix}quiet", help="only warnings and errors")
    return parent


def merge_global_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Fold the options given before the command into the command's: counts add up, flags combine,
    and two different ``--config`` paths are an error rather than a silent choice."""
    before = getattr(args, f"{GLOBAL_PREFIX}config")
    after = getattr(args, "config", None)
    if before and after and before != after:
        parser.error(f"--config given twice with different files ({before} and {after})")
    args.config = after or before
    args.verbose = getattr(args, "verbose", 0) + getattr(args, f"{GLOBAL_PREFIX}verbose")
    args.quiet = getattr(args, "quiet", False) or getattr(args, f"{GLOBAL_PREFIX}quiet")
    for name in ("config", "verbose", "quiet"):
        delattr(args, f"{GLOBAL_PREFIX}{name}")
    return args


def build_parser() -> argparse.ArgumentParser:
    parent = common_options()
    parser = argparse.ArgumentParser(
        prog="facesidecar",
        description="Find faces in photo folders, keep faces.csv/faces.pkl sidecars next to the photos, "
        "guess names from confirmed faces and write confirmed names into the photos' metadata.",
        parents=[common_options(GLOBAL_PREFIX)],
    )
    parser.add_argument("--version", action="version", version=f"facesidecar {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"facesidecar.cli.{name}")
        module.register(subparsers, parent)
    return parser


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose >= 2 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ShownFormatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("facesidecar")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _never_fail_on_file_names() -> None:
    """A file name that is not UTF-8 (a surrogate escape) printed under a strict UTF-8 locale would
    end the command with UnicodeEncodeError: such characters are written as ``\\udcff`` instead."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", "") == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = merge_global_options(parser, parser.parse_args(argv))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose, args.quiet)
    _never_fail_on_file_names()
    try:
        return int(args.func(args) or 0)
    except FacesidecarError as exc:
        log.debug("traceback", exc_info=True)
        print(f"error: {shown(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
