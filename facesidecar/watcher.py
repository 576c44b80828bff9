"""From file-system events to folder jobs: filter, classify, debounce, enqueue.

watchdog's observer threads call :class:`FolderEventHandler`, which only classifies the event
into :class:`Change` values and hands them to the :class:`Debouncer` (a dict update under a
lock): no detection, no decoding and no waiting happen on an observer thread. The debouncer's own
thread turns quiet, stable groups of changes into :class:`Job` values for the daemon's queue.

Why groups and not single files: the scanner works per folder and sees moves only between the
folders of one call, so a photo moved from A to B must become *one* job for A and B together.
Why stability: uploads (WebDAV PUT, phone sync, rsync) write a photo over seconds; a photo is
handed on only when its size and mtime have not changed for ``stable_seconds`` and its tail looks
like a finished JPEG/PNG.
"""

from __future__ import annotations

import enum
import fnmatch
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import (
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
    FileSystemEventHandler,
)

from .library import NOFACES_MARKER, is_photo_name
from .store import CSV_NAME, PKL_NAME

log = logging.getLogger(__name__)

IGNORED_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", "_exiftool_tmp", "~")
"""Names uploaders, editors and exiftool use while a file is not finished yet."""

COMPLETE_GRACE_FACTOR = 4
"""A stable photo whose tail does not look finished is handed on after this many stable periods."""


class Priority(enum.IntEnum):
    """Queue order: a person's CSV edit first, then new photos, then rescans."""

    CSV = 0
    PHOTO = 1
    RESCAN = 2


@dataclass(frozen=True)
class Job:
    """One call into the scanner: ``process_folders(folders, csv_only)`` then ``scan_paths(trees)``."""

    priority: Priority
    folders: frozenset[Path] = frozenset()
    trees: frozenset[Path] = frozenset()
    csv_only: bool = False
    polled: bool = False
    """Every change came from a polling observer, which cannot tell our own faces.csv writes apart."""

    @property
    def keys(self) -> frozenset[Path]:
        return self.folders | self.trees

    def merge(self, other: Job) -> Job:
        """One job doing the work of both (the queue de-duplicates per folder this way)."""
        trees = self.trees | other.trees
        folders = frozenset(f for f in self.folders | other.folders if not _under_any(f, trees))
        return Job(
            priority=min(self.priority, other.priority),
            folders=folders,
            trees=trees,
            csv_only=self.csv_only and other.csv_only,
            polled=self.polled and other.polled,
        )

    def describe(self) -> str:
        parts = [str(p) for p in sorted(self.folders)] + [f"{p}/…" for p in sorted(self.trees)]
        kind = "names" if self.csv_only else self.priority.name.lower()
        return f"{kind}: {', '.join(parts)}"


def _under_any(path: Path, tops: Iterable[Path]) -> bool:
    return any(path == top or top in path.parents for top in tops)


class ChangeKind(enum.Enum):
    FILE = "file"  # a photo or faces.csv was written or arrived: wait until it is stable
    REMOVED = "removed"  # a photo or faces.csv went away
    TREE = "tree"  # a folder appeared (created, moved in, .nofaces removed): walk it
    VANISHED = "vanished"  # a folder went away: its state goes


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    path: Path
    link: Path | None = None
    """Another folder that must be in the same job (the other end of a move)."""
    polled: bool = False

    @property
    def folder(self) -> Path:
        return self.path if self.kind in (ChangeKind.TREE, ChangeKind.VANISHED) else self.path.parent

    @property
    def is_csv(self) -> bool:
        return self.kind in (ChangeKind.FILE, ChangeKind.REMOVED) and self.path.name == CSV_NAME


def is_ignored_name(name: str) -> bool:
    """Temporary, partial, lock and hidden files (our own temp files are dotfiles too)."""
    return (
        name.startswith(".")
        or name.startswith("~$")
        or name == PKL_NAME
        or name.lower().endswith(IGNORED_SUFFIXES)
    )


def own_temp_prefix(pid: int | None = None) -> str:
    """The prefix of the temp file this process renames over faces.csv (see store/atomic.py)."""
    return f".{CSV_NAME}.tmp-{os.getpid() if pid is None else pid}-"


def is_own_csv_swap(src_name: str, dest_name: str) -> bool:
    """Our own atomic write of faces.csv: a rename from our temp file, or a renameat2 exchange
    (which inotify reports as two moves, faces.csv -> temp and temp -> faces.csv)."""
    prefix = own_temp_prefix()
    return (src_name == CSV_NAME and dest_name.startswith(prefix)) or (
        dest_name == CSV_NAME and src_name.startswith(prefix)
    )


# -- classification (runs on observer threads: cheap and pure) -----------------------------------
class Classifier:
    """Turns one watchdog event below ``root`` into the changes that matter to the scanner."""

    def __init__(self, root: Path, extensions: Iterable[str], exclude: Iterable[str], polled: bool = False):
        self.root = root
        self.extensions = tuple(e.lower() for e in extensions)
        self.exclude = tuple(exclude)
        self.polled = polled

    def classify(self, event: FileSystemEvent) -> list[Change]:
        if event.is_synthetic:
            return []  # children of a moved/created folder: the folder's TREE change covers them
        src = Path(os.fsdecode(event.src_path))
        if event.event_type == EVENT_TYPE_MOVED:
            return self._moved(src, Path(os.fsdecode(event.dest_path)), event.is_directory)
        if event.is_directory:
            return self._folder_event(src, event.event_type)
        if event.event_type in (EVENT_TYPE_CREATED, EVENT_TYPE_MODIFIED, EVENT_TYPE_CLOSED):
            return self._file(src, ChangeKind.FILE)
        if event.event_type == EVENT_TYPE_DELETED:
            return self._file(src, ChangeKind.REMOVED)
        return []  # opened, closed without writing, attributes

    def _change(self, kind: ChangeKind, path: Path, link: Path | None = None) -> Change:
        return Change(kind, path, link, self.polled)

    def _file(self, path: Path, kind: ChangeKind) -> list[Change]:
        if path.name == NOFACES_MARKER and self._folder_wanted(path.parent):
            # a folder that stops being skipped gets walked; a new marker needs nothing done
            return [self._change(ChangeKind.TREE, path.parent)] if kind is ChangeKind.REMOVED else []
        if not self.relevant_file(path):
            return []
        return [self._change(kind, path)]

    def _folder_event(self, path: Path, event_type: str) -> list[Change]:
        if not self._folder_wanted(path):
            return []
        if event_type == EVENT_TYPE_CREATED:
            return [self._change(ChangeKind.TREE, path)]
        if event_type == EVENT_TYPE_DELETED:
            return [self._change(ChangeKind.VANISHED, path)]
        return []

    def _moved(self, src: Path, dest: Path, is_directory: bool) -> list[Change]:
        if is_directory:
            changes = self._folder_event(src, EVENT_TYPE_DELETED) + self._folder_event(dest, EVENT_TYPE_CREATED)
            return self._linked(changes)
        if is_own_csv_swap(src.name, dest.name):
            return []
        changes = self._file(src, ChangeKind.REMOVED) + self._file(dest, ChangeKind.FILE)
        return self._linked(changes)

    def _linked(self, changes: list[Change]) -> list[Change]:
        """Both ends of a move go into one job so the scanner sees the photo leave and arrive."""
        if len(changes) != 2:
            return changes
        first, second = changes
        return [
            Change(first.kind, first.path, second.folder, first.polled),
            Change(second.kind, second.path, first.folder, second.polled),
        ]

    def relevant_file(self, path: Path) -> bool:
        if not self._folder_wanted(path.parent):
            return False
        name = path.name
        if name == CSV_NAME:
            return True
        return not is_ignored_name(name) and is_photo_name(name, self.extensions)

    def _folder_wanted(self, folder: Path) -> bool:
        """Not hidden, not excluded, inside our root (the same rules as the scanner's walk)."""
        try:
            parts = folder.relative_to(self.root).parts
        except ValueError:
            return False
        return not any(p.startswith(".") or any(fnmatch.fnmatch(p, pat) for pat in self.exclude) for p in parts)


class FolderEventHandler(FileSystemEventHandler):
    """The watchdog handler of one root: classify and pass on, nothing else."""

    def __init__(self, classifier: Classifier, debouncer: Debouncer):
        super().__init__()
        self.classifier = classifier
        self.debouncer = debouncer

    def on_any_event(self, event: FileSystemEvent) -> None:
        changes = self.classifier.classify(event)
        if changes:
            log.debug("%s %s -> %s", event.event_type, event.src_path, [c.kind.value for c in changes])
            self.debouncer.add(changes)


# -- debouncing (its own thread) -------------------------------------------------------------------
Signature = tuple[int, int]


def signature(path: Path, stat: Callable[[Path], os.stat_result] = os.stat) -> Signature | None:
    """Size and mtime: what "the upload is still going" changes."""
    try:
        info = stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def looks_complete(path: Path) -> bool:
    """Whether a JPEG ends with its EOI marker and a PNG with its IEND chunk.

    A half-written JPEG is accepted by exiftool and half-decoded by some readers; checking the last
    bytes costs one small read and saves a decode of a file that is still arriving.
    """
    suffix = path.suffix.lower()
    if suffix not in (".jpg", ".jpeg", ".png"):
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64))
            tail = handle.read()
    except OSError:
        return True  # gone or unreadable: the scanner reports it properly
    if suffix == ".png":
        return b"IEND" in tail
    return b"\xff\xd9" in tail


@dataclass
class _Pending:
    sig: Signature | None
    since: float


@dataclass
class _Group:
    """Changes that will become one job: folders tied together by moves."""

    folders: set[Path] = field(default_factory=set)
    trees: set[Path] = field(default_factory=set)
    files: dict[Path, _Pending] = field(default_factory=dict)
    priority: Priority = Priority.RESCAN
    csv_only: bool = True
    polled: bool = True
    last_event: float = 0.0

    def absorb(self, other: _Group) -> None:
        self.folders |= other.folders
        self.trees |= other.trees
        self.files.update(other.files)
        self.priority = min(self.priority, other.priority)
        self.csv_only = self.csv_only and other.csv_only
        self.polled = self.polled and other.polled
        self.last_event = max(self.last_event, other.last_event)

    def keys(self) -> set[Path]:
        return self.folders | self.trees

    def job(self) -> Job:
        trees = frozenset(self.trees)
        folders = frozenset(f for f in self.folders if not _under_any(f, trees))
        return Job(self.priority, folders, trees, self.csv_only and not trees, self.polled)


class Debouncer:
    """Collects changes per folder group and emits a :class:`Job` once the group is quiet and stable.

    ``add`` is called from observer threads and only updates dicts under a lock; ``poll`` does the
    stat calls and runs on this object's own thread (or directly in tests, with a fake clock).
    """

    def __init__(
        self,
        sink: Callable[[Job], None],
        *,
        debounce_seconds: float,
        stable_seconds: float,
        skip_folder: Callable[[Path], bool] = lambda folder: False,
        clock: Callable[[], float] = time.monotonic,
        stat: Callable[[Path], os.stat_result] = os.stat,
    ):
        self.sink = sink
        self.debounce_seconds = debounce_seconds
        self.stable_seconds = stable_seconds
        self.skip_folder = skip_folder
        self.clock = clock
        self.stat = stat
        self._lock = threading.Lock()
        self._groups: dict[Path, _Group] = {}  # folder -> its group (several folders share one)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- intake ---------------------------------------------------------------------------------
    def add(self, changes: Iterable[Change]) -> None:
        now = self.clock()
        with self._lock:
            for change in changes:
                self._add_one(change, now)

    def _add_one(self, change: Change, now: float) -> None:
        group = self._group_for(change.folder)
        if change.link is not None:
            group = self._join(group, self._group_for(change.link))
            group.folders.add(change.link)
        group.last_event = now
        group.polled = group.polled and change.polled
        if change.kind is ChangeKind.TREE:
            group.trees.add(change.path)
            group.priority = min(group.priority, Priority.PHOTO)
            group.csv_only = False
            return
        group.folders.add(change.folder)
        group.priority = min(group.priority, Priority.CSV if change.is_csv else Priority.PHOTO)
        group.csv_only = group.csv_only and change.is_csv
        if change.kind is ChangeKind.FILE:
            group.files[change.path] = _Pending(signature(change.path, self.stat), now)
        else:
            group.files.pop(change.path, None)

    def _group_for(self, folder: Path) -> _Group:
        group = self._groups.get(folder)
        if group is None:
            group = self._groups[folder] = _Group(folders={folder})
        return group

    def _join(self, first: _Group, second: _Group) -> _Group:
        if first is second:
            return first
        first.absorb(second)
        for key in list(self._groups):
            if self._groups[key] is second:
                self._groups[key] = first
        return first

    @property
    def pending(self) -> int:
        with self._lock:
            return len({id(g) for g in self._groups.values()})

    # -- output ---------------------------------------------------------------------------------
    def poll(self) -> list[Job]:
        """Emit every group that is quiet and whose files are stable; returns what was emitted."""
        now = self.clock()
        with self._lock:
            groups = {id(g): g for g in self._groups.values()}.values()
            due = [g for g in groups if now - g.last_event >= self.debounce_seconds]
        ready = [g for g in due if self._files_ready(g, now)]
        jobs = []
        with self._lock:
            for group in ready:
                if self._groups.get(next(iter(group.keys()), None)) is not group or group.last_event + self.debounce_seconds > now:
                    continue  # something new arrived meanwhile: wait for the next round
                for key in group.keys():
                    self._groups.pop(key, None)
                jobs.append(group)
        emitted = [j for j in (self._finish(g) for g in jobs) if j is not None]
        for job in emitted:
            self.sink(job)
        return emitted

    def _files_ready(self, group: _Group, now: float) -> bool:
        """Stat the group's files; ready when none changed for ``stable_seconds`` (and looks whole)."""
        ready = True
        for path, pending in list(group.files.items()):
            sig = signature(path, self.stat)
            if sig is None:
                continue  # gone again: the folder job will notice
            if sig != pending.sig:
                pending.sig, pending.since = sig, now
            stable_for = now - pending.since
            if stable_for < self.stable_seconds:
                ready = False
            elif not looks_complete(path) and stable_for < self.stable_seconds * COMPLETE_GRACE_FACTOR:
                ready = False
        return ready

    def _finish(self, group: _Group) -> Job | None:
        group.folders = {f for f in group.folders if not self.skip_folder(f)}
        group.trees = {t for t in group.trees if not self.skip_folder(t)}
        if not group.folders and not group.trees:
            return None
        return group.job()

    # -- thread lifecycle -----------------------------------------------------------------------
    @property
    def tick(self) -> float:
        return min(0.5, max(0.05, min(self.debounce_seconds, self.stable_seconds) / 4))

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="facesidecar-debouncer")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.poll()
            except OSError as exc:
                log.error("watching: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def skip_folder(folder: Path, roots: Iterable[Path]) -> bool:
    """Whether ``folder`` or a folder above it (up to its root) holds a ``.nofaces`` marker."""
    for root in roots:
        if folder == root or root in folder.parents:
            current = folder
            while True:
                if (current / NOFACES_MARKER).exists():
                    return True
                if current == root:
                    return False
                current = current.parent
    return False


__all__ = [
    "Change", "ChangeKind", "Classifier", "Debouncer", "FolderEventHandler", "Job", "Priority",
    "is_ignored_name", "looks_complete", "own_temp_prefix", "skip_folder",
]
