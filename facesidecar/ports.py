"""What the core asks of its adapters: the metadata writer and the database mirror.

The scan pipeline, the naming commands and the GDPR erasure talk to exiftool and MySQL only
through these Protocols (as Immich's ``ModelSession``), so that the core never imports an adapter
and a test or a new target (another metadata tool, another database) only has to provide these
methods. The composition root (:mod:`facesidecar.compose`) builds the real adapters
(:mod:`facesidecar.adapters.exiftool`, :mod:`facesidecar.adapters.mysql`).

Each adapter keeps its own caches and clears them in its own methods (``forget_person``): the
core never reaches into an adapter's attributes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .model import FolderState, PersonRegion


class MetadataWriter(Protocol):
    """Names into the photos' own metadata, and names other tools put there out of them.

    A *record* is plain data (kept per photo in faces.pkl) of what the writer added to a photo;
    the core stores it and hands it back on the next ``sync``, without looking inside.
    """

    def sync(self, path: Path, people: list[PersonRegion], orientation: int,
             stored_size: tuple[int, int], previous: dict) -> dict:
        """Make the photo hold exactly ``people`` among the names we own; the new record.
        Raises MetadataError (naming the file) with the photo unchanged."""
        ...

    def read_people(self, path: Path, orientation: int, stored_size: tuple[int, int]) -> list[PersonRegion]:
        """Named face regions other tools wrote into the photo, as displayed boxes."""
        ...

    def raw_preview(self, path: Path) -> bytes:
        """The JPEG a RAW file embeds for display; MetadataError when it has none."""
        ...

    def finish_interrupted_writes(self, folder: Path) -> list[Path]:
        """Finish or drop the writes a crash left in ``folder`` (before its photos are read);
        the photos it finished."""
        ...

    def claim_names(self, record: dict, names: set[str]) -> dict:
        """``record`` changed so that the next ``sync`` removes ``names`` from every tag and region
        of the photo, whoever wrote them there (GDPR erasure)."""
        ...

    def close(self) -> None: ...


@dataclass
class FlushResult:
    """What one push of the mirror's queue did."""

    pushed: int = 0
    pending: int = 0
    failed: int = 0
    unreachable: bool = False
    error: str = ""


class Mirror(Protocol):
    """A copy of the sidecars in a database. Queueing never raises and never waits for the network."""

    def folder_changed(self, folder: Path, state: FolderState | None = None) -> None:
        """Queue ``folder`` for the next flush."""
        ...

    def flush(self, force: bool = False) -> FlushResult:
        """Push what is queued; never raises. ``force`` ignores the back-off after a failure."""
        ...

    def confirmed_faces(self, model: str, exclude: Collection[str] = ()) -> list[tuple[str, np.ndarray]]:
        """(name, encoding) of the confirmed faces in the database, for a gallery shared between
        servers, without the face ids in ``exclude``; empty while the database is away."""
        ...

    def forget_person(self, name: str) -> dict[str, int]:
        """Erase the person's rows now, or queue the erasure (``{"queued": 1}``); the mirror's own
        caches forget them too."""
        ...

    def person_rows(self, name: str) -> dict:
        """Every row that mentions ``name``, by table; raises MirrorError when unreachable."""
        ...

    def close(self) -> None: ...


__all__ = ["FlushResult", "MetadataWriter", "Mirror"]
