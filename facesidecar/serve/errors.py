"""The one error type the HTTP layer turns into a JSON answer with a status code."""

from __future__ import annotations

from ..errors import FacesidecarError


class ServeError(FacesidecarError):
    """A request that cannot be served as asked: ``status`` is the HTTP code, the message says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


__all__ = ["ServeError"]
