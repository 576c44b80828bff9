"""What ``review`` and ``serve`` share: a web server on an address, run until Ctrl-C."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import FacesidecarError

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler


def start_server(what: str, bind: str, port: int, app, handler: type[WSGIRequestHandler]) -> BaseWSGIServer:
    """A threaded server for ``app`` on ``bind``:``port``; a port in use (or an address this machine
    does not have) is an error naming the command and the address, not a traceback."""
    from werkzeug.serving import make_server

    try:
        return make_server(bind, port, app, threaded=True, request_handler=handler)
    except OSError as exc:
        raise FacesidecarError(f"{what}: cannot listen on {bind}:{port}: {exc.strerror}") from None


def url_host(bind: str) -> str:
    """``bind`` as the host part of a URL (an IPv6 address in brackets)."""
    return f"[{bind}]" if ":" in bind else bind


def serve_until_stopped(server: BaseWSGIServer) -> None:
    """Serve until Ctrl-C (or a signal the caller turned into KeyboardInterrupt); the socket is closed either way."""
    print("stop with Ctrl-C", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.server_close()


__all__ = ["serve_until_stopped", "start_server", "url_host"]
