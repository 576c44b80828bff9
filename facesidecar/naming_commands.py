"""The work behind the naming commands: name, confirm, rename, people, clusters, name-cluster,
match and enroll.

Every write goes through ``Scanner.update_folder`` (folder lock, merge of a person's CSV edits,
``store.merge.set_name`` as the one place a name changes, guesses, metadata, mirror) exactly like a
CSV edit, and ends with ``Scanner.refresh()`` so guesses everywhere follow the new names. Only the
functions here that a person calls explicitly (name, confirm, rename, enroll) set ``name``;
``name_cluster`` touches guesses only. Read-only functions load faces.pkl without the lock.

Errors meant for the user are :class:`FacesidecarError` with the photo and what to do.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import Settings, with_roots
from .errors import FacesidecarError
from .folders import is_photo_name, list_photos, walk_folders
from .gallery import is_named_cluster
from .model import IGNORE, Box, Face, FolderState, PhotoState, ScanReport
from .names import clean_name
from .pipeline.plan import needs_scan
from .scan import Scanner
from .store import confined
from .store.folder import FolderStore, Transaction
from .store.merge import set_name

log = logging.getLogger(__name__)

SOURCE = "cli"
SAMPLES = 5


# -- where the commands work --------------------------------------------------------------------
def library_settings(settings: Settings, fallback: Iterable[Path]) -> Settings:
    """``settings`` with roots: the configured ones, else ``fallback`` (the folders given).

    The roots decide which confirmed faces form the gallery and where guesses are refreshed. With
    neither, the command says so: walking whatever the current folder is (a home, ``/``) is never
    what was meant.
    """
    if settings.roots:
        return settings
    given = [Path(p).resolve() for p in fallback]
    if not given:
        raise no_roots_error(settings)
    return with_roots(settings, [str(p) for p in _outermost(given)])


def no_roots_error(settings: Settings) -> FacesidecarError:
    return FacesidecarError(f"no photo folders: none given and no [[roots]] in {settings.source}; give a folder "
                            "(e.g. facesidecar status ~/Pictures) or add [[roots]] path = \"...\" to the config "
                            "(--config PATH or $FACESIDECAR_CONFIG)")


def roots_for_photos(photos: Iterable[Path]) -> list[Path]:
    """Without configured roots: the folders of the photos given (never the whole current folder)."""
    return _outermost([p.resolve().parent for p in photos])


def _outermost(paths: list[Path]) -> list[Path]:
    unique = sorted(set(paths), key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in unique:
        if not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return kept


def sidecar_folders(paths: Iterable[Path], exclude: list[str]) -> list[Path]:
    """The folders below ``paths`` that have sidecars (were scanned)."""
    return [f for f in walk_folders(list(paths), exclude) if FolderStore(f).exists()]


# -- one photo, one face --------------------------------------------------------------------------
def photo_file(raw: Path, extensions: list[str]) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise FacesidecarError(f"no photo {raw}" + (" (that is a folder)" if path.is_dir() else ""))
    if not is_photo_name(path.name, extensions):
        raise FacesidecarError(f"{raw} is not a photo facesidecar reads (extensions: {', '.join(extensions)})")
    return path.resolve()


def face_number(photo: PhotoState, face_nr: int, label: str) -> Face:
    """Face ``face_nr`` (1-based, left to right, as in faces.csv) of ``photo``."""
    if photo.error:
        raise FacesidecarError(f"{label} could not be read ({photo.error}); its faces are unknown")
    faces = photo.visible_faces
    if not faces:
        raise FacesidecarError(f"{label} has no faces")
    if not 1 <= face_nr <= len(faces):
        count = f"{len(faces)} face" + ("s" if len(faces) != 1 else "")
        raise FacesidecarError(f"{label} has {count}, face {face_nr} does not exist")
    return faces[face_nr - 1]


def scanned_photo(state: FolderState, path: Path) -> PhotoState:
    photo = state.photos.get(path.name)
    if photo is None:
        raise FacesidecarError(f"{path} has not been scanned yet: run 'facesidecar scan {path.parent}' first")
    return photo


@dataclass(frozen=True)
class Named:
    """A name a command set: where, which face, from what to what."""

    folder: Path
    file: str
    face_nr: int
    old: str
    new: str
    distance: float | None = None

    @property
    def path(self) -> Path:
        return self.folder / self.file


def _check_report(report: ScanReport, folder: Path) -> None:
    """A folder transaction that could not save is an error: nothing of the change was kept.

    A photo whose metadata could not be written is not (as for ``scan``): the names are saved in
    faces.csv and faces.pkl, and the next scan writes the photo. Failing the command for it told
    the person the name was not set while faces.csv had it (issue 20), and stopped a rename
    half-way through the folders. A set-aside faces.csv is only a warning.
    """
    fatal = [msg for where, msg in report.errors if where == str(folder)]
    if fatal:
        raise FacesidecarError(fatal[0])
    for where, _ in report.errors:
        if not where.endswith("faces.csv"):
            log.warning("%s: the names are saved in faces.csv; the next scan writes them into the photo", where)


def name_face(scanner: Scanner, image: Path, face_nr: int, name: str) -> Named:
    """Give face ``face_nr`` of ``image`` the confirmed ``name`` ("" clears it, ``-ignore-`` ignores it)."""
    path = photo_file(image, scanner.settings.extensions)
    name = clean_name(name)
    face_number(scanned_photo(FolderStore(path.parent).load(), path), face_nr, str(path))
    result: list[Named] = []

    def change(txn: Transaction) -> None:
        photo = scanned_photo(txn.state, path)
        face = face_number(photo, face_nr, str(path))
        old = face.name
        named = set_name(photo, face, name, SOURCE, txn.now)
        if named:
            txn.changes.append(named)
        result.append(Named(txn.folder, photo.file, face_nr, old, name))

    _check_report(scanner.update_folder(path.parent, change), path.parent)
    scanner.refresh()
    return result[0]


# -- confirm, rename ------------------------------------------------------------------------------
def _guessed(photo: PhotoState, name: str | None, max_distance: float | None) -> list[tuple[int, Face]]:
    picked = []
    for number, face in enumerate(photo.visible_faces, start=1):
        if face.name or not face.guess or (name is not None and face.guess != name):
            continue
        if max_distance is not None and (face.distance is None or face.distance > max_distance):
            continue
        picked.append((number, face))
    return picked


def confirm_guesses(scanner: Scanner, folders: list[Path], name: str | None = None,
                    max_distance: float | None = None, dry_run: bool = False) -> list[Named]:
    """Turn guesses into confirmed names (only ``name``'s, only within ``max_distance``)."""
    done: list[Named] = []
    for folder in folders:
        state = FolderStore(folder).load()
        if not any(_guessed(p, name, max_distance) for p in state.photos.values()):
            continue
        if dry_run:
            done.extend(Named(folder, p.file, n, "", f.guess, f.distance)
                        for p in state.photos.values() for n, f in _guessed(p, name, max_distance))
            continue

        def change(txn: Transaction) -> None:
            for photo in txn.state.photos.values():
                for number, face in _guessed(photo, name, max_distance):
                    guess, distance = face.guess, face.distance
                    named = set_name(photo, face, guess, SOURCE, txn.now)
                    if named:
                        txn.changes.append(named)
                        done.append(Named(txn.folder, photo.file, number, "", guess, distance))

        _check_report(scanner.update_folder(folder, change), folder)
    if done and not dry_run:
        scanner.refresh()
    return sorted(done, key=lambda n: (str(n.folder), n.file, n.face_nr))


def _mentions(folder: Path, name: str) -> bool:
    """Whether ``name`` may be a confirmed name in the folder (state, or typed into faces.csv)."""
    if any(f.name == name for _, f in FolderStore(folder).load().faces()):
        return True
    try:
        return name.encode("utf-8") in (confined.read_file(folder / "faces.csv", confined.limits().csv) or b"")
    except (OSError, FacesidecarError):
        return False


def rename_person(scanner: Scanner, folders: list[Path], old: str, new: str) -> list[Named]:
    """Rename every confirmed ``old`` to ``new`` (``new`` may be an existing person: they merge)."""
    old, new = clean_name(old, allow_empty=False), clean_name(new, allow_empty=False)
    if IGNORE in (old, new):
        raise FacesidecarError(f"{IGNORE} is not a person; use 'facesidecar name' to ignore or un-ignore a face")
    if old == new:
        raise FacesidecarError("the old and the new name are the same")
    done: list[Named] = []
    for folder in folders:
        if not _mentions(folder, old):
            continue

        def change(txn: Transaction) -> None:
            for photo in txn.state.photos.values():
                for number, face in enumerate(photo.visible_faces, start=1):
                    if face.name == old:
                        named = set_name(photo, face, new, SOURCE, txn.now)
                        if named:
                            txn.changes.append(named)
                            done.append(Named(txn.folder, photo.file, number, old, new))

        _check_report(scanner.update_folder(folder, change), folder)
    if not done:
        raise FacesidecarError(f"nobody is named {old!r} in {', '.join(str(f) for f in scanner.settings.root_paths())}")
    scanner.refresh()
    return done


# -- people, clusters -----------------------------------------------------------------------------
@dataclass
class Person:
    name: str
    confirmed: int = 0
    guessed: int = 0
    photos: set = field(default_factory=set)

    def to_json(self) -> dict:
        return {"name": self.name, "confirmed": self.confirmed, "guessed": self.guessed, "photos": len(self.photos)}


def people_counts(folders: list[Path]) -> list[Person]:
    """Every confirmed or guessed name with its counts, by name (case-insensitive)."""
    people: dict[str, Person] = {}
    for folder in folders:
        for photo, face in FolderStore(folder).load().faces():
            if not face.visible or face.name == IGNORE:
                continue
            who = face.name or face.guess
            if not who:
                continue
            person = people.setdefault(who, Person(who))
            if face.name:
                person.confirmed += 1
                person.photos.add(str(folder / photo.file))
            else:
                person.guessed += 1
    return sorted(people.values(), key=lambda p: (p.name.casefold(), p.name))


@dataclass
class ClusterInfo:
    id: str
    size: int = 0
    photos: list[str] = field(default_factory=list)
    """Distinct photos with faces of the cluster (all of them; ``samples`` are the first few)."""
    face_ids: list[str] = field(default_factory=list)

    @property
    def named(self) -> bool:
        return is_named_cluster(self.id)

    def samples(self, count: int = SAMPLES) -> list[str]:
        return self.photos[:count]

    def to_json(self, count: int = SAMPLES) -> dict:
        return {"id": self.id, "size": self.size, "named": self.named, "photos": len(self.photos),
                "samples": self.samples(count)}


def list_clusters(folders: list[Path]) -> list[ClusterInfo]:
    """Groups of unnamed faces that look alike (the ``cluster`` column), largest first."""
    clusters: dict[str, ClusterInfo] = {}
    for folder in folders:
        state = FolderStore(folder).load()
        for file in sorted(state.photos):
            for face in state.photos[file].visible_faces:
                if face.name or not face.cluster:
                    continue
                info = clusters.setdefault(face.cluster, ClusterInfo(face.cluster))
                info.size += 1
                info.face_ids.append(face.face_id)
                path = str(folder / file)
                if path not in info.photos:
                    info.photos.append(path)
    return sorted(clusters.values(), key=lambda c: (-c.size, _cluster_order(c.id)))


def _cluster_order(label: str) -> tuple:
    return (0, int(label[1:]), "") if label[1:].isdigit() else (1, 0, label)


LISTED = "clusters-listed.json"
"""In the state folder: the faces of each cluster as ``facesidecar clusters`` last listed them."""


def remember_listing(settings: Settings, clusters: list[ClusterInfo]) -> None:
    """Keep what a listing showed, so that ``name-cluster`` can refuse a cluster that changed since
    (the daemon may have added faces of someone else to it meanwhile)."""
    path = settings.state_path() / LISTED
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({c.id: sorted(c.face_ids) for c in clusters}), encoding="utf-8")
    except OSError as exc:
        log.warning("cannot write %s: %s; name-cluster cannot check that a cluster is still as listed", path,
                    exc.strerror)


def listed_faces(settings: Settings, cluster_id: str) -> frozenset[str] | None:
    """The faces of ``cluster_id`` when ``facesidecar clusters`` last listed it (None: not listed)."""
    try:
        listed = json.loads((settings.state_path() / LISTED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    faces = listed.get(cluster_id) if isinstance(listed, dict) else None
    return frozenset(faces) if isinstance(faces, list) else None


def name_cluster(scanner: Scanner, folders: list[Path], cluster_id: str, name: str,
                 listed: frozenset[str] | None = None) -> int:
    """Suggest ``name`` for the unnamed faces of cluster ``cluster_id``: guesses only, nothing confirmed.

    The cluster takes the name as its label (the ``cluster`` column shows it), and guessing gives
    its faces that name wherever the confirmed faces do not point clearly to someone else; the
    label stays with the group on later scans. ``listed``: the faces the person saw in the cluster;
    a cluster that has other faces now is refused. Returns the number of faces.
    """
    name = clean_name(name, allow_empty=False)
    if name == IGNORE:
        raise FacesidecarError(f"a cluster cannot be named {IGNORE}; ignore faces one by one with 'facesidecar name'")
    if not is_named_cluster(name):
        raise FacesidecarError(f"{name!r} looks like a cluster id; choose a person's name")
    members = {c.id: c for c in list_clusters(folders)}
    if cluster_id not in members:
        known = ", ".join(list(members)[:10]) or "none (scan first; clusters need 2 similar unnamed faces)"
        gone = " (it was listed, but its faces have been named or regrouped since)" if listed else ""
        raise FacesidecarError(f"no cluster {cluster_id!r}{gone}; clusters: {known}")
    if listed is not None and frozenset(members[cluster_id].face_ids) != listed:
        raise FacesidecarError(
            f"cluster {cluster_id} changed since 'facesidecar clusters' listed it ({len(listed)} faces then, "
            f"{members[cluster_id].size} now); nothing was named: list the clusters again and look at its photos")
    touched = 0
    wanted = {str(Path(p).parent) for p in members[cluster_id].photos}

    def change(txn: Transaction) -> None:
        nonlocal touched
        for _photo, face in txn.state.faces():
            if face.visible and not face.name and face.cluster == cluster_id:
                face.cluster = name
                touched += 1

    for folder in folders:
        if str(folder) in wanted:
            _check_report(scanner.update_folder(folder, change), folder)
    scanner.refresh()
    return touched


# -- match, enroll --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Match:
    face_nr: int
    box: Box
    name: str
    distance: float | None

    def to_json(self) -> dict:
        return {"face_nr": self.face_nr, "box": [round(v, 4) for v in self.box.to_plain()],
                "name": self.name, "distance": None if self.distance is None else round(self.distance, 4)}


@dataclass
class PhotoMatch:
    path: Path
    faces: list[Match] = field(default_factory=list)
    error: str = ""

    def to_json(self) -> dict:
        return {"file": str(self.path), "error": self.error, "faces": [m.to_json() for m in self.faces]}


def match_photos(scanner: Scanner, images: list[Path]) -> list[PhotoMatch]:
    """Who is in each photo, by the gallery of the roots; nothing is written anywhere."""
    gallery = scanner.guesser.gallery()
    results = []
    for image in images:
        try:
            path = photo_file(image, scanner.settings.extensions)
        except FacesidecarError as exc:
            results.append(PhotoMatch(Path(image), error=str(exc)))
            continue
        analysed = scanner.detector.analyse(path)
        if analysed.error or analysed.engine_error:
            results.append(PhotoMatch(path, error=analysed.error or analysed.engine_error))
            continue
        found = analysed.faces
        decisions = scanner.guesser.decide(np.stack([f.encoding for f in found]), [str(path)] * len(found),
                                   gallery=gallery) if found else []
        guesses = [d.guess() for d in decisions]
        results.append(PhotoMatch(path, [
            Match(n, f.box, g.name if g else "", g.distance if g else None)
            for n, (f, g) in enumerate(zip(found, guesses, strict=True), start=1)
        ]))
    return results


def enroll_photos(raw: list[Path], extensions: list[str]) -> list[Path]:
    """The photos named by ``raw``: photo files, and the photos directly inside folders."""
    photos: list[Path] = []
    for item in raw:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(path.resolve() / n for n in list_photos(path, extensions))
            if not found:
                raise FacesidecarError(f"no photos in {item}")
            photos.extend(found)
        else:
            photos.append(photo_file(path, extensions))
    return list(dict.fromkeys(photos))


@dataclass
class Enrolled:
    named: list[Named] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def enroll(scanner: Scanner, name: str, raw: list[Path], force: bool = False) -> Enrolled:
    """The largest face of each photo becomes ``name`` (folders scanned first where needed).

    A largest face that already has another confirmed name keeps it unless ``force``.
    """
    name = clean_name(name, allow_empty=False)
    if name == IGNORE:
        raise FacesidecarError(f"enroll gives a person's name; use 'facesidecar name IMAGE FACE_NR {IGNORE}'")
    photos = enroll_photos(raw, scanner.settings.extensions)
    by_folder: dict[Path, list[Path]] = {}
    for photo in photos:
        by_folder.setdefault(photo.parent, []).append(photo)
    outcome = Enrolled()
    for folder, members in by_folder.items():
        _scan_if_needed(scanner, folder, members)
        _enroll_folder(scanner, folder, members, name, force, outcome)
    if outcome.named:
        scanner.refresh()
    return outcome


def _scan_if_needed(scanner: Scanner, folder: Path, photos: list[Path]) -> None:
    known = FolderStore(folder).load().photos
    stale = []
    for photo in photos:
        info = confined.lstat(photo)  # never through a link swapped in meanwhile
        if info is not None:
            stale.append(needs_scan(known.get(photo.name), info, scanner.engines.model))
    if any(stale):
        log.info("scanning %s first", folder)
        scanner.process_folders([folder])


def _enroll_folder(scanner: Scanner, folder: Path, photos: list[Path], name: str, force: bool,
                   outcome: Enrolled) -> None:
    def change(txn: Transaction) -> None:
        for path in photos:
            photo = txn.state.photos.get(path.name)
            if photo is None or photo.error:
                outcome.failed.append((path, photo.error if photo else "not scanned (could not be read)"))
                continue
            faces = photo.visible_faces
            if not faces:
                outcome.failed.append((path, "no face found"))
                continue
            face = max(faces, key=lambda f: f.box.area)
            number = faces.index(face) + 1
            if face.name == name:
                outcome.unchanged.append(path)
                continue
            if face.name and not force:
                outcome.failed.append((path, f"its largest face (face {number}) is already named {face.name!r}; "
                                             "--force renames it"))
                continue
            old = face.name
            named = set_name(photo, face, name, SOURCE, txn.now)
            if named:
                txn.changes.append(named)
                outcome.named.append(Named(txn.folder, photo.file, number, old, name))

    _check_report(scanner.update_folder(folder, change), folder)
