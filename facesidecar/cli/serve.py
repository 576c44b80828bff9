"""``facesidecar serve [PATH…] [--bind ADDR] [--port P]``: the engine and gallery over HTTP."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal

from ..errors import FacesidecarError
from ..naming_commands import library_settings
from .common import existing_paths, scanner_for, settings_from
from .httpserver import serve_until_stopped, start_server, url_host

log = logging.getLogger(__name__)


def _stop(_signum, _frame) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from ..review.app import is_loopback
    from ..review.requestlog import RedactingRequestHandler
    from ..serve.app import close_app, create_app
    from ..serve.auth import load_api_key
    from ..serve.learning import learn_root

    settings = settings_from(args)
    if not settings.roots and not args.paths:
        raise FacesidecarError("serve needs the library: configure [[roots]] or give PATH")
    settings = library_settings(settings, existing_paths(args.paths))
    serve = dataclasses.replace(settings.serve)
    serve.bind = args.bind or serve.bind
    serve.port = serve.port if args.port is None else args.port
    settings = dataclasses.replace(settings, serve=serve)
    api_key = load_api_key(serve)
    learn_root(settings)  # a misplaced learn folder is an error now, not at the first /learn

    class Handler(RedactingRequestHandler):
        timeout = serve.request_timeout  # a client that stops sending is dropped, not waited for

    with scanner_for(settings) as scanner:
        app = create_app(settings, scanner, api_key)
        try:
            app.extensions["facesidecar.serve"]["model"].load()
            server = start_server("serve", serve.bind, serve.port, app, Handler)
            if not is_loopback(serve.bind):
                log.warning("serve listens on %s: put it behind a TLS reverse proxy or use it on a trusted network; "
                            "photos and the API key travel in clear over plain HTTP", serve.bind)
            print(f"serving on http://{url_host(serve.bind)}:{server.server_port}/ "
                  f"({scanner.engines.primary.describe()})", flush=True)
            signal.signal(signal.SIGTERM, _stop)
            serve_until_stopped(server)
        finally:
            close_app(app)
    return 0


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "serve", parents=[parent], help="serve the engine and gallery over HTTP (Nextcloud external model, learn/recognize)",
        description="Serve the face engine and the gallery of the library to other programs: the external-model "
        "protocol of Nextcloud's Face Recognition app (GET /open, POST /detect, POST /compute) and learn/recognize "
        "(POST /learn, POST /recognize). Every request but /health and /welcome needs the x-api-key header; the "
        "key comes from serve.api_key_file (owner-only) or $FACESIDECAR_API_KEY, never from the command line. "
        "Listens on 127.0.0.1 unless --bind or serve.bind says otherwise; use a TLS reverse proxy for other hosts.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="the library when no [[roots]] are configured")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default: serve.port, 8766; 0 picks a free one)")
    parser.add_argument("--bind", default=None, metavar="ADDR", help="address to listen on (default: serve.bind, 127.0.0.1)")
    parser.set_defaults(func=run)
