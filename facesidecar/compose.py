"""The composition root: the one place that builds the scanner with the adapters the config asks for.

Every command, the daemon, the review page and the serve/worker side get their scanner here, so
that a name set anywhere reaches the photos' metadata and the database the same way. A scanner
that keeps only the sidecars (no metadata writer, no mirror) is asked for by name
(``sidecars_only=True``), never had by accident. Adapters are imported only when they are built:
``status`` and ``doctor`` load neither exiftool's nor MySQL's code.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable

from .config import Settings
from .detection import Detector
from .engines import FaceEngine
from .engines.source import EngineSource
from .extras import require
from .guessing import Guesser
from .liveclusters import LiveClusters
from .photojob import DetectExecutor
from .pipeline.update import FolderUpdater
from .ports import MetadataWriter, Mirror
from .progress import Progress
from .refresh import Refresher
from .scan import Scanner

log = logging.getLogger(__name__)


def metadata_adapter(settings: Settings) -> MetadataWriter | None:
    """The exiftool adapter, or None (with a warning) when switched off or exiftool is missing."""
    if not settings.metadata.enabled:
        return None
    if shutil.which("exiftool") is None:
        log.warning("exiftool not found: names are kept in faces.csv only, not written into the photos "
                    "(install it: apt-get install libimage-exiftool-perl)")
        return None
    from .adapters.exiftool.process import ExifTool
    from .adapters.exiftool.writer import MetadataWriter as ExifToolWriter

    return ExifToolWriter(ExifTool(), settings.metadata)


def mirror_adapter(settings: Settings) -> Mirror | None:
    """The database mirror when ``[mysql] enabled = true``; nothing needs a database otherwise."""
    if not settings.mysql.enabled:
        return None
    from .adapters.mysql.mirror import Mirror as MysqlMirror

    return MysqlMirror(settings.mysql, outbox_dir=settings.state_path())


def detect_executor(settings: Settings) -> DetectExecutor | None:
    """Where photos are analysed: the Dask cluster of ``[cluster] scheduler`` (with this machine's
    pool when it cannot be reached), else worker processes here (``engine.workers``, within
    ``daemon.memory_limit_mb``); None (this process) with ``engine.workers = 1`` (one worker gains
    nothing from a second process and shows an engine's errors where they happen) and when this
    user cannot start the interpreter again, as when a service user runs a venv whose Python lies
    in a folder only root can enter."""
    from .workers import LocalPool

    if settings.engine.workers == 1 and not settings.cluster.scheduler:
        return None
    if not os.access(sys.executable, os.X_OK):
        log.warning("worker processes cannot be started (%s is not executable for this user); "
                    "photos are analysed in this process", sys.executable)
        return None

    def local() -> LocalPool:
        return LocalPool(settings.engine, workers=settings.engine.workers,
                         memory_limit_mb=settings.daemon.memory_limit_mb, state_dir=settings.state_path())

    if not settings.cluster.scheduler:
        return local()
    require("distributed", "cluster", "[cluster] scheduler")
    from .adapters.dask_cluster import ClusterExecutor

    return ClusterExecutor(settings.cluster, settings.engine, local)


def build_scanner(settings: Settings, *, sidecars_only: bool = False, engine: FaceEngine | None = None,
                  should_stop: Callable[[], bool] = lambda: False, progress: Progress | None = None,
                  publish_seconds: float | None = None) -> Scanner:
    """The scanner with its metadata writer and mirror (as configured); the caller closes it.

    ``sidecars_only``: without metadata writer and mirror, for work that writes nothing into the
    photos or the database (``match``). ``engine`` replaces the configured engine (tests, tools) and
    then photos are analysed in this process; otherwise by worker processes (:func:`detect_executor`).
    ``publish_seconds``: see Refresher.publish_seconds (the daemon bounds a job's writes of other folders).
    """
    metadata = None if sidecars_only else metadata_adapter(settings)
    mirror = None if sidecars_only else mirror_adapter(settings)
    executor = detect_executor(settings) if engine is None else None
    return assemble_scanner(settings, engine=engine, metadata=metadata, mirror=mirror, executor=executor,
                            should_stop=should_stop, progress=progress, publish_seconds=publish_seconds)


def assemble_scanner(settings: Settings, *, engine: FaceEngine | None = None, metadata: MetadataWriter | None = None,
                     mirror: Mirror | None = None, executor: DetectExecutor | None = None,
                     should_stop: Callable[[], bool] = lambda: False, progress: Progress | None = None,
                     publish_seconds: float | None = None) -> Scanner:
    """The scanner's parts wired together around the given adapters (None: without that adapter;
    no executor: photos are analysed in this process). Tests hand over their own adapters here."""
    engines = EngineSource(settings, engine)
    clusters = LiveClusters(settings, engines)
    guesser = Guesser(settings, engines, clusters, mirror)
    updater = FolderUpdater(settings, clusters, guesser, metadata=metadata, mirror=mirror)
    return Scanner(
        settings, engines, clusters, guesser,
        detector=Detector(settings, engines, executor=executor, metadata=metadata, should_stop=should_stop),
        updater=updater,
        refresher=Refresher(clusters, guesser, updater, should_stop=should_stop, publish_seconds=publish_seconds),
        metadata=metadata, mirror=mirror, should_stop=should_stop, progress=progress or Progress("scan"))


__all__ = ["assemble_scanner", "build_scanner", "detect_executor", "metadata_adapter", "mirror_adapter"]
