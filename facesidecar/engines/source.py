"""The configured engines of one scanner, built on first use.

A command that never analyses a photo (a name edit, the review page before its first look-up)
then loads no model, and a backend that is not installed fails the work that needs it with its
one message (ConfigError) instead of failing the construction of every command's scanner.
"""

from __future__ import annotations

from ..config import Settings
from ..photojob import Engines
from . import FaceEngine, get_engine


class EngineSource:
    """The primary engine (or the one a test or tool hands over) and the extra models' engines."""

    def __init__(self, settings: Settings, engine: FaceEngine | None = None):
        self._settings = settings
        self._primary = engine
        self._extra: dict[str, FaceEngine] | None = None

    @property
    def primary(self) -> FaceEngine:
        if self._primary is None:
            self._primary = get_engine(self._settings.engine, state_dir=self._settings.state_path())
        return self._primary

    @property
    def model(self) -> str:
        """The primary model's name: the encodings guesses and clusters compare."""
        return self.primary.model_name

    def engines(self) -> Engines:
        """The primary engine with the extra models' engines (``engine.extra_models``)."""
        if self._extra is None:
            settings = self._settings
            extra = (get_engine(settings.engine, model=m, state_dir=settings.state_path())
                     for m in settings.engine.extra_models)
            self._extra = {e.model_name: e for e in extra if e.model_name != self.model}
        return Engines(self.primary, self._extra)


__all__ = ["EngineSource"]
