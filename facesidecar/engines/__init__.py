"""Engine factory: picks the adapter named in the config and imports it only then."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import EngineSettings
from ..errors import ConfigError
from ..extras import require
from .base import FaceEngine, PixelBox, pairwise_distances

BACKENDS = ("dlib", "deepface")
DLIB_MODEL = "dlib_resnet_v1"


def get_engine(settings: EngineSettings, model: str | None = None, state_dir: Path | None = None) -> FaceEngine:
    """The configured engine, or the one for ``model`` (one of ``engine.extra_models``).

    An extra model only encodes the boxes the primary engine found, whatever backend that is:
    ``dlib_resnet_v1`` is the plain dlib engine, any other name a deepface model. Unknown
    backends fail loudly with the valid choices. ``state_dir`` is where deepface's weights live
    unless ``engine.weights_dir`` says otherwise.
    """
    if model is not None and model != settings.model:
        return _extra_engine(settings, model, state_dir)
    if settings.backend == "dlib":
        from .dlib_engine import DlibEngine

        return DlibEngine(settings)
    if settings.backend == "deepface":
        require("deepface", "deepface", 'engine.backend = "deepface"')
        from .deepface_engine import DeepfaceEngine

        return DeepfaceEngine(settings, model_name=model, home=_deepface_home(settings, state_dir))
    raise ConfigError(f"engine.backend {settings.backend!r} is not known; choose one of {', '.join(BACKENDS)}")


def _deepface_home(settings: EngineSettings, state_dir: Path | None) -> Path | None:
    if state_dir is None:
        return None
    from ..weights import deepface_home

    return deepface_home(settings, state_dir)


def _extra_engine(settings: EngineSettings, model: str, state_dir: Path | None) -> FaceEngine:
    if model == DLIB_MODEL:
        from .dlib_engine import DlibEngine

        return DlibEngine(dataclasses.replace(settings, backend="dlib", model=DLIB_MODEL, detector="hog",
                                              metric="", threshold=0.0))
    require("deepface", "deepface", f"engine.extra_models = [{model!r}]")
    from .deepface_engine import DeepfaceEngine

    return DeepfaceEngine(settings, model_name=model, home=_deepface_home(settings, state_dir))


__all__ = ["FaceEngine", "PixelBox", "pairwise_distances", "get_engine", "BACKENDS"]
