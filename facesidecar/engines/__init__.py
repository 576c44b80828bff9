"""Engine factory: picks the adapter named in the config and imports it only then."""

from __future__ import annotations

from ..config import EngineSettings
from ..errors import ConfigError
from .base import FaceEngine, PixelBox, pairwise_distances

BACKENDS = ("dlib", "deepface")


def get_engine(settings: EngineSettings, model: str | None = None) -> FaceEngine:
    """The configured engine (or the one for ``model``, for side-by-side models).

    Unknown backends fail loudly with the valid choices.
    """
    if settings.backend == "dlib":
        from .dlib_engine import DlibEngine

        return DlibEngine(settings)
    if settings.backend == "deepface":
        from .deepface_engine import DeepfaceEngine

        return DeepfaceEngine(settings, model_name=model)
    raise ConfigError(f"engine.backend {settings.backend!r} is not known; choose one of {', '.join(BACKENDS)}")


__all__ = ["FaceEngine", "PixelBox", "pairwise_distances", "get_engine", "BACKENDS"]
