"""Keeping a long-running process's face index current while other processes write sidecars.

The review page and ``facesidecar serve`` keep a scanner (and its in-memory index of every face)
for hours while the daemon, a scan or a person's CSV edit changes faces.pkl files. Before they
decide anything from the index they re-read the folders whose faces.pkl changed since they last
looked (one ``stat`` per folder) and drop the folders that lost theirs.
"""

from __future__ import annotations

from pathlib import Path

from .faceindex import Library
from .folders import walk_folders
from .store.folder import FolderStore


class LibrarySync:
    """Remembers each folder's faces.pkl (mtime, size) as last read into a Library."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[int, int]] = {}

    def sync(self, library: Library, roots: list[Path], exclude: list[str]) -> None:
        """Re-read into ``library`` every folder below ``roots`` whose faces.pkl changed."""
        present = set()
        for folder in walk_folders(roots, exclude):
            store = FolderStore(folder)
            try:
                info = store.pkl_path.stat()
            except OSError:
                continue
            present.add(folder)
            stamp = (info.st_mtime_ns, info.st_size)
            if self._seen.get(folder) != stamp:
                library.set_folder(folder, store.load())
                self._seen[folder] = stamp
        for folder in [f for f in library.folders if f not in present and not FolderStore(f).pkl_path.exists()]:
            library.drop_folder(folder)
            self._seen.pop(folder, None)


__all__ = ["LibrarySync"]
