"""Request log lines of the review page (and ``serve``) without person names or access tokens.

werkzeug logs each request with its whole URL: ``GET /person?name=Zoë%20Ålander&token=…``. A
person's name must not outlive ``forget`` in the journal (issue 13 rule 8), and a token in a log
opens the page to whoever reads the log. The routes themselves name no one (names travel in the
query string or the form), so the line keeps the method, the path and the status.
"""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler


def redacted(path: str) -> str:
    """``path`` without its query string and fragment."""
    return path.split("?", 1)[0].split("#", 1)[0]


class RedactingRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, logging ``"GET /person" 200 1234`` instead of the full URL."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = redacted(getattr(self, "path", "") or "-").translate(self._control_char_table)
        self.log("info", '"%s %s" %s %s', getattr(self, "command", "-"), path, code, size)
