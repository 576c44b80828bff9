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
Why our own writes cause no work: the scanner's atomic rename of faces.csv is recognised by its
temp name (it carries our pid); anything else is compared with what the folder's faces.pkl
recorded (a photo's size and mtime after exiftool wrote names into it, the hash of the faces.csv
written last), which is exactly what the scanner would find unchanged. A write into the temporary
faces.csv of a writer that is gone, though, is a person's save that only a transaction merges.
"""

from __future__ import annotations

import enum
import fnmatch
import hashlib
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

from .errors import SidecarError
from .folders import NOFACES_MARKER, is_photo_name
from .model import PhotoState
from .store import CSV_NAME, PKL_NAME, confined
from .store.folder import FolderStore
from .store.leftovers import is_csv_leftover, own_temp_prefix, writer_alive

log = logging.getLogger(__name__)

IGNORED_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", "_exiftool_tmp", "~")
"""Names uploaders, editors and exiftool use while a file is not finished yet."""

MAX_WAIT_SECONDS = 30.0
"""A folder that never falls quiet has what is stable processed after this long anyway."""

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
    arrivals: frozenset[Path] = frozenset()
    """Folders that photos were moved into: they go first, while the folders the photos left
    still hold the photos' faces and names in their sidecars."""

    @property
    def keys(self) -> frozenset[Path]:
        return self.folders | self.trees

    def ordered_folders(self) -> list[Path]:
        return sorted(self.folders, key=lambda folder: (folder not in self.arrivals, str(folder)))

    def merge(self, other: Job) -> Job:
        """One job doing the work of both (the queue de-duplicates per folder this way)."""
        trees = self.trees | other.trees
        folders = frozenset(f for f in self.folders | other.folders if not _under_any(f, trees))
        return Job(
            priority=min(self.priority, other.priority),
            folders=folders,
            trees=trees,
            csv_only=self.csv_only and other.csv_only,
            arrivals=self.arrivals | other.arrivals,
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

    @property
    def folder(self) -> Path:
        return self.path if self.kind in (ChangeKind.TREE, ChangeKind.VANISHED) else self.path.parent

    @property
    def is_csv(self) -> bool:
        """faces.csv, or a killed writer's temporary copy of it that a person saved into."""
        return self.kind in (ChangeKind.FILE, ChangeKind.REMOVED) and is_csv_name(self.path.name)


def is_csv_name(name: str) -> bool:
    return name == CSV_NAME or is_csv_leftover(name)


def is_ignored_name(name: str) -> bool:
    """Temporary, partial, lock and hidden files (our own temp files are dotfiles too)."""
    return (
        name.startswith(".")
        or name.startswith("~$")
        or name == PKL_NAME
        or name.lower().endswith(IGNORED_SUFFIXES)
    )


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

    def __init__(self, root: Path, extensions: Iterable[str], exclude: Iterable[str]):
        self.root = root
        self.extensions = tuple(e.lower() for e in extensions)
        self.exclude = tuple(exclude)

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
        return Change(kind, path, link)

    def _file(self, path: Path, kind: ChangeKind) -> list[Change]:
        if path.name == NOFACES_MARKER and self._folder_wanted(path.parent):
            # a folder that stops being skipped gets walked; a new marker needs nothing done
            return [self._change(ChangeKind.TREE, path.parent)] if kind is ChangeKind.REMOVED else []
        if is_csv_leftover(path.name):
            return [self._change(kind, path)] if self._orphan_save(path, kind) else []
        if not self.relevant_file(path):
            return []
        return [self._change(kind, path)]

    def _orphan_save(self, path: Path, kind: ChangeKind) -> bool:
        """A write into the temporary faces.csv of a writer that is gone: a person's save that the
        writer moved aside before it was killed, which only a transaction of the folder merges.
        A live writer's temporary files (ours included) are its own business, their removal none."""
        return kind is ChangeKind.FILE and self._folder_wanted(path.parent) and not writer_alive(path.name)

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
            Change(first.kind, first.path, second.folder),
            Change(second.kind, second.path, first.folder),
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
        with confined.open_file(path) as handle:  # a regular file reached without links: a FIFO never blocks
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64))
            tail = handle.read()
    except (OSError, SidecarError):
        return True  # gone, unreadable or not a regular file: the scanner reports it properly
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
    arrivals: set[Path] = field(default_factory=set)
    files: dict[Path, _Pending] = field(default_factory=dict)
    named: set[tuple[ChangeKind, Path]] = field(default_factory=set)
    priority: Priority = Priority.RESCAN
    csv_only: bool = True
    structural: bool = False
    """Something went or a folder appeared: the job runs even if every file turns out unchanged."""
    first_event: float = 0.0
    last_event: float = 0.0

    def absorb(self, other: _Group) -> None:
        self.folders |= other.folders
        self.trees |= other.trees
        self.arrivals |= other.arrivals
        self.files.update(other.files)
        self.named |= other.named
        self.priority = min(self.priority, other.priority)
        self.csv_only = self.csv_only and other.csv_only
        self.structural = self.structural or other.structural
        self.first_event = min(self.first_event, other.first_event)
        self.last_event = max(self.last_event, other.last_event)

    def keys(self) -> set[Path]:
        return self.folders | self.trees

    def job(self) -> Job:
        trees = frozenset(self.trees)
        folders = frozenset(f for f in self.folders if not _under_any(f, trees))
        return Job(self.priority, folders, trees, self.csv_only and not trees, frozenset(self.arrivals & folders))


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
        busy: Callable[[Path], bool] = lambda folder: False,
        echoes: Callable[[Path, list[Path]], set[Path]] = lambda folder, paths: set(),
        clock: Callable[[], float] = time.monotonic,
        stat: Callable[[Path], os.stat_result] = os.stat,
        max_wait_seconds: float = MAX_WAIT_SECONDS,
    ):
        self.sink = sink
        self.debounce_seconds = debounce_seconds
        self.stable_seconds = stable_seconds
        self.max_wait_seconds = max_wait_seconds
        self.skip_folder = skip_folder
        self.busy = busy
        self.echoes = echoes
        self.clock = clock
        self.stat = stat
        self._lock = threading.Lock()
        self._groups: dict[Path, _Group] = {}  # folder -> its group (several folders share one)
        self._names: dict[tuple[ChangeKind, str], set[Path]] = {}  # pending arrivals/removals by file name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- intake ---------------------------------------------------------------------------------
    def add(self, changes: Iterable[Change]) -> None:
        now = self.clock()
        with self._lock:
            for change in changes:
                self._add_one(change, now)

    def _add_one(self, change: Change, now: float) -> None:
        group = self._group_for(change.folder, now)
        link = change.link if change.link is not None else self._copy_then_delete(change)
        if link is not None:
            group = self._join(group, self._group_for(link, now))
            group.folders.add(link)
            group.arrivals.add(change.folder if change.kind is ChangeKind.FILE else link)
        self._remember_name(change, group)
        group.last_event = now
        # a faces.csv that "went" is checked like one that changed: editors and polling observers
        # report a replaced file as removed and created
        group.structural = group.structural or not (change.kind is ChangeKind.FILE or change.is_csv)
        if change.kind is ChangeKind.TREE:
            group.trees.add(change.path)
            group.priority = min(group.priority, Priority.PHOTO)
            group.csv_only = False
            return
        group.folders.add(change.folder)
        group.priority = min(group.priority, Priority.CSV if change.is_csv else Priority.PHOTO)
        group.csv_only = group.csv_only and change.is_csv
        if change.kind is ChangeKind.FILE or change.is_csv:
            group.files[change.path] = _Pending(signature(change.path, self.stat), now)
        else:
            group.files.pop(change.path, None)

    def _copy_then_delete(self, change: Change) -> Path | None:
        """The other folder of a move seen as a copy and a delete (SMB, davfs, Explorer, some
        polling rounds): a photo of the same name that went away from, or arrived in, another
        folder while this group is pending. The scanner's content hash decides if it is one."""
        if change.is_csv or change.kind not in (ChangeKind.FILE, ChangeKind.REMOVED):
            return None
        opposite = ChangeKind.REMOVED if change.kind is ChangeKind.FILE else ChangeKind.FILE
        for path in self._names.get((opposite, change.path.name), ()):
            if path.parent != change.folder and path.parent in self._groups:
                return path.parent
        return None

    def _remember_name(self, change: Change, group: _Group) -> None:
        if change.kind in (ChangeKind.FILE, ChangeKind.REMOVED) and not change.is_csv:
            self._names.setdefault((change.kind, change.path.name), set()).add(change.path)
            group.named.add((change.kind, change.path))

    def _forget_names(self, group: _Group) -> None:
        for kind, path in group.named:
            paths = self._names.get((kind, path.name))
            if paths is not None:
                paths.discard(path)
                if not paths:
                    del self._names[(kind, path.name)]

    def _group_for(self, folder: Path, now: float) -> _Group:
        group = self._groups.get(folder)
        if group is None:
            group = self._groups[folder] = _Group(folders={folder}, first_event=now, last_event=now)
        return group

    def _join(self, first: _Group, second: _Group) -> _Group:
        if first is second:
            return first
        first.absorb(second)
        for key in second.keys():
            self._groups[key] = first
        return first

    @property
    def pending(self) -> int:
        with self._lock:
            return len({id(g) for g in self._groups.values()})

    # -- output ---------------------------------------------------------------------------------
    def poll(self) -> list[Job]:
        """Emit every group that is quiet and whose files are stable; returns what was emitted.

        A group that keeps receiving events (a phone syncing hundreds of photos into one folder)
        is never quiet: after ``max_wait_seconds`` its stable part is emitted anyway and the files
        still arriving wait in a new group, so the first photos do not wait for the last.
        """
        now = self.clock()
        with self._lock:
            groups = list({id(g): g for g in self._groups.values()}.values())
        candidates = [g for g in groups if (self._quiet(g, now) or self._overdue(g, now)) and not self._deferred(g)]
        unready = {id(g): self._unready_files(g, now) for g in candidates}
        taken = []
        with self._lock:
            for group in candidates:
                if not self._intact(group):
                    continue  # joined with another group meanwhile: next round
                waiting = unready[id(group)]
                if not waiting and self._quiet(group, now):
                    self._take(group)
                elif self._overdue(group, now) and (len(waiting) < len(group.files) or not group.files):
                    self._take(group)
                    self._regroup(group, waiting, now)
                else:
                    continue
                taken.append(group)
        emitted = [j for j in (self._finish(g) for g in taken) if j is not None]
        for job in emitted:
            self.sink(job)
        return emitted

    def _deferred(self, group: _Group) -> bool:
        """Photo changes in a folder the worker is processing wait until it is done: most are the
        worker's own writes, which its saved state then tells apart. CSV edits never wait."""
        return group.priority is not Priority.CSV and any(self.busy(key) for key in group.keys())

    def _quiet(self, group: _Group, now: float) -> bool:
        return now - group.last_event >= self.debounce_seconds

    def _overdue(self, group: _Group, now: float) -> bool:
        return now - group.first_event >= self.max_wait_seconds

    def _intact(self, group: _Group) -> bool:
        return all(self._groups.get(key) is group for key in group.keys())

    def _take(self, group: _Group) -> None:
        for key in group.keys():
            self._groups.pop(key, None)
        self._forget_names(group)

    def _regroup(self, group: _Group, waiting: list[Path], now: float) -> None:
        """Put the files still arriving into a fresh group of their own folders."""
        for path in waiting:
            pending = group.files[path]
            rest = self._group_for(path.parent, now)
            rest.files[path] = pending
            self._remember_name(Change(ChangeKind.FILE, path), rest)
            rest.last_event = max(rest.last_event, group.last_event)
            is_csv = is_csv_name(path.name)
            rest.priority = min(rest.priority, Priority.CSV if is_csv else Priority.PHOTO)
            rest.csv_only = rest.csv_only and is_csv
        group.files = {p: f for p, f in group.files.items() if p not in waiting}

    def _unready_files(self, group: _Group, now: float) -> list[Path]:
        """Stat the group's files: those changed within ``stable_seconds`` (or not looking whole)."""
        waiting = []
        for path, pending in list(group.files.items()):
            sig = signature(path, self.stat)
            if sig is None:
                continue  # gone again: the folder job will notice
            if sig != pending.sig:
                pending.sig, pending.since = sig, now
            stable_for = now - pending.since
            if stable_for < self.stable_seconds or (
                not looks_complete(path) and stable_for < self.stable_seconds * COMPLETE_GRACE_FACTOR
            ):
                waiting.append(path)
        return waiting

    def _finish(self, group: _Group) -> Job | None:
        group.folders = {f for f in group.folders if not self.skip_folder(f)}
        group.trees = {t for t in group.trees if not self.skip_folder(t)}
        if not group.folders and not group.trees:
            return None
        if not group.structural and self._only_echoes(group):
            log.debug("only our own writes in %s", ", ".join(map(str, sorted(group.folders))))
            return None
        return group.job()

    def _only_echoes(self, group: _Group) -> bool:
        """Whether every file of the group is exactly what the folder's faces.pkl recorded.

        That is the case for the scanner's own writes (sidecars, names written into photos) and
        for files touched without a change; the scanner would find nothing to do.
        """
        by_folder: dict[Path, list[Path]] = {}
        for path in group.files:
            by_folder.setdefault(path.parent, []).append(path)
        return all(set(paths) <= self.echoes(folder, paths) for folder, paths in by_folder.items())

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


def stored_echoes(folder: Path, paths: list[Path]) -> set[Path]:
    """Those of ``paths`` whose current content is what the folder's faces.pkl recorded:
    a photo with the recorded size, mtime and identity (identity.py), a faces.csv with the recorded
    hash. faces.pkl is read only when it is not the file this process last read or wrote."""
    try:
        recorded = FolderStore(folder).recorded_files()
    except SidecarError:
        return set()
    same = set()
    for path in paths:
        if path.name == CSV_NAME:
            try:
                data = confined.read_file(path, confined.limits().csv)
            except (OSError, SidecarError):
                continue
            if data is None:
                continue
            digest = hashlib.sha256(data).hexdigest()
            if recorded.csv_sha256 and digest == recorded.csv_sha256:
                same.add(path)
            continue
        photo = recorded.photos.get(path.name)
        if photo is not None and _recorded_file(path, photo):
            same.add(path)
    return same


def _recorded_file(path: Path, photo: PhotoState) -> bool:
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return photo.same_file_as(info.st_size, info.st_mtime_ns) and photo.same_inode_as(info)


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
    "is_ignored_name", "looks_complete", "own_temp_prefix", "skip_folder", "stored_echoes",
]
