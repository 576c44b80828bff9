"""``dask worker --preload facesidecar.adapters.dask_preload``: the face model loaded before the first task.

``facesidecar worker`` passes this module to every Dask worker process it starts. Each loads the
engines of its own configuration (``FACESIDECAR_CONFIG``, set from ``--config``); tasks from a
scanner with the same engine settings use them, so no photo waits for a model to load.
"""

from __future__ import annotations

import logging

from ..config import load_settings
from ..photojob import engines_for

log = logging.getLogger(__name__)


def dask_setup(worker) -> None:
    """Called by Dask in each worker process before it takes tasks; a broken engine stops the worker here."""
    settings = load_settings()
    engines = engines_for(settings.engine, settings.state_path())
    log.info("facesidecar: %s loaded in Dask worker %s", engines.primary.describe(), worker.name)


__all__ = ["dask_setup"]
