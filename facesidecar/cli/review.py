"""``facesidecar review [PATH] [--port P] [--bind ADDR]``: the local review page in a browser."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from ..config import RootSettings
from ..naming_commands import no_roots_error
from .common import existing_paths, scanner_for, settings_from
from .httpserver import serve_until_stopped, start_server, url_host

log = logging.getLogger(__name__)


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def run(args: argparse.Namespace) -> int:
    from ..review.app import create_app, is_loopback
    from ..review.requestlog import RedactingRequestHandler

    settings = settings_from(args)
    review = dataclasses.replace(settings.review)
    if args.bind:
        review.bind = args.bind
    if args.port is not None:
        review.port = args.port
    if args.read_only:
        review.read_only = True
    configured = [p.resolve() for p in settings.root_paths()]
    shown = existing_paths(args.paths) if args.paths else configured
    if not shown:
        raise no_roots_error(settings)
    shown = [p if p.is_dir() else p.parent for p in shown]
    extra = [RootSettings(path=str(p)) for p in shown if not _under(p, configured)]
    settings = dataclasses.replace(settings, review=review, roots=[*settings.roots, *extra])
    with scanner_for(settings) as scanner:
        app = create_app(settings, shown, scanner)
        token = app.config["ACCESS_TOKEN"]
        server = start_server("review", review.bind, review.port, app, RedactingRequestHandler)
        url = f"http://{url_host(review.bind)}:{server.server_port}/" + (f"?token={token}" if token else "")
        if not is_loopback(review.bind):
            log.warning("the review page listens on %s: anyone who can reach it needs the token; "
                        "use it over a trusted network or behind TLS", review.bind)
        print(f"review page: {url}", flush=True)
        serve_until_stopped(server)
    return 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "review", parents=[parent], help="see faces in a browser; confirm or correct names",
        description="Serve a local review page: people, their faces, unknown clusters and photos with their "
        "face boxes; confirm or reject guesses, type names, name clusters, rename people. Every change "
        "goes through faces.csv/faces.pkl like a CSV edit. Binds to 127.0.0.1; any other address "
        "requires the access token (review.token in the config, else one is made up and printed).",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="folders to show (default: the configured roots)")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default: review.port, 8765; 0 picks a free one)")
    parser.add_argument("--bind", default=None, metavar="ADDR", help="address to listen on (default: review.bind, 127.0.0.1)")
    parser.add_argument("--read-only", action="store_true", help="show only; refuse every change")
    parser.set_defaults(func=run)
