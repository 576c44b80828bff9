"""A client that talks to ``facesidecar serve`` the way Nextcloud's Face Recognition app does.

The app (``lib/Model/ExternalModel/ExternalModel.php``) uses PHP's curl: ``CURLOPT_POSTFIELDS``
with an array makes libcurl send ``multipart/form-data`` with its own boundary style, the file
part typed ``application/octet-stream`` (``curl_file_create($path)``, /detect) or with the preferred
mimetype and the file's base name (/compute), the ``face`` rectangle as a plain part
(``json_encode``), the key as ``x-api-key: KEY`` (``x-api-key:KEY`` without a space for /compute),
and ``Expect: 100-continue`` before a large body. This client writes exactly that on a socket and
answers like ``json_decode($response, true)``.
"""

from __future__ import annotations

import json
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    """0 when the server reset the connection before it answered (curl: "connection reset")."""
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class NextcloudClient:
    def __init__(self, base_url: str, api_key: str | None, timeout: float = 300.0):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.api_key = api_key
        self.timeout = timeout

    # -- what ExternalModel.php does -----------------------------------------------------------
    def open(self) -> Reply:
        return self.request("GET", "/open", self._key_header(space=True))

    def detect(self, image: bytes, filename: str = "oc_tmp_a1b2c3") -> Reply:
        parts = [("file", filename, "application/octet-stream", image)]
        return self.multipart("/detect", parts, self._key_header(space=True))

    def compute(self, image: bytes, face: dict, filename: str = "oc_tmp_a1b2c3.jpg",
                mimetype: str = "image/jpeg") -> Reply:
        parts = [("file", filename, mimetype, image), ("face", None, None, json.dumps(face).encode())]
        return self.multipart("/compute", parts, self._key_header(space=False))

    # -- plumbing ---------------------------------------------------------------------------------
    def _key_header(self, space: bool) -> list[str]:
        if self.api_key is None:
            return []
        return [f"x-api-key: {self.api_key}" if space else f"x-api-key:{self.api_key}"]

    def multipart(self, path: str, parts: list[tuple[str, str | None, str | None, bytes]],
                  headers: list[str]) -> Reply:
        """``parts``: (field, filename or None, content type or None, bytes), in order."""
        boundary = "-" * 24 + secrets.token_hex(8)
        body = b""
        for field, filename, ctype, data in parts:
            disposition = f'Content-Disposition: form-data; name="{field}"'
            if filename is not None:
                disposition += f'; filename="{filename}"'
            head = f"--{boundary}\r\n{disposition}\r\n" + (f"Content-Type: {ctype}\r\n" if ctype else "") + "\r\n"
            body += head.encode() + data + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        headers = [*headers, f"Content-Type: multipart/form-data; boundary={boundary}"]
        return self.request("POST", path, headers, body)

    def request(self, method: str, path: str, headers: list[str], body: bytes | None = None) -> Reply:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: */*", *headers]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
            if len(body) > 1024:
                lines.append("Expect: 100-continue")
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            reader = sock.makefile("rb")
            if body is not None:
                if len(body) > 1024:
                    early = _read_reply(reader)
                    if early.status != 100:
                        return early  # refused before the body, as curl then does not send it
                try:
                    sock.sendall(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a server that refuses a body may stop reading it: its answer still counts
            reply = _read_reply(reader)
            while 100 <= reply.status < 200:  # more interim answers (a server may send 100 twice): skipped
                reply = _read_reply(reader)
            return reply


def _read_reply(reader) -> Reply:
    try:
        return _parse_reply(reader)
    except ConnectionResetError:
        return Reply(0, {}, b"")


def _parse_reply(reader) -> Reply:
    status_line = reader.readline().decode("latin-1")
    if not status_line:
        raise ConnectionError("the server closed the connection without an answer")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while True:
        line = reader.readline().decode("latin-1").rstrip("\r\n")
        if not line:
            break
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if status == 100:
        return Reply(100, headers, b"")
    length = headers.get("content-length")
    body = reader.read(int(length)) if length is not None else reader.read()
    return Reply(status, headers, body)
