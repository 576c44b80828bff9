"""What the review page's buttons do. Every change is one ``Scanner.update_folder`` transaction.

``update_folder`` takes the folder lock, merges what a person saved in faces.csv meanwhile, applies
the change, guesses, writes the photo's metadata and the mirror; ``refresh`` then updates guesses
and clusters everywhere. A face action carries the name/guess the page showed (``expected``), so a
click on an outdated page never overwrites a name somebody typed in faces.csv since.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .. import names, naming_commands
from ..errors import FacesidecarError
from ..librarysync import LibrarySync
from ..model import Face, PhotoState
from ..names import NameRuleError
from ..store.folder import Transaction
from ..store.merge import set_name

SOURCE = "review"


class ActionError(ValueError):
    """An action that cannot be done as asked (bad name, face changed meanwhile): told to the user."""


@dataclass
class Outcome:
    changed: int = 0
    conflicts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def message(self, done: str) -> str:
        parts = [done.format(n=self.changed)] if self.changed or not (self.conflicts or self.errors) else []
        parts += self.conflicts + self.errors
        return "; ".join(parts)


def typed_name(raw: str, allow_empty: bool = False) -> str:
    """A typed name in stored form (:func:`facesidecar.names.clean_name`), or ActionError saying why
    it cannot be one; an empty field is refused unless ``allow_empty``."""
    try:
        return names.clean_name(raw or "", allow_empty=allow_empty)
    except NameRuleError as exc:
        raise ActionError(str(exc)) from None


class Actions:
    """The review page's writes, serialised (the scanner is not thread-safe)."""

    def __init__(self, scanner):
        self.scanner = scanner
        self.lock = threading.Lock()
        self._sync = LibrarySync()

    def sync_library(self) -> None:
        """Re-read the folders whose faces.pkl changed since the scanner indexed them.

        The daemon (or a scan) writes while the review page runs; guesses and clusters must be
        computed from what is on disk now, not from what was there when the page started.
        """
        settings = self.scanner.settings
        self._sync.sync(self.scanner.clusters.library, settings.root_paths(), settings.exclude)

    def _apply(self, folders: list[Path], change: Callable[[Transaction, Outcome], None]) -> Outcome:
        outcome = Outcome()
        with self.lock:
            self.sync_library()
            for folder in dict.fromkeys(folders):
                report = self.scanner.update_folder(folder, lambda txn: change(txn, outcome))
                outcome.errors.extend(message for _, message in report.errors)
            if outcome.changed:
                report = self.scanner.refresh()
                outcome.errors.extend(message for _, message in report.errors)
        return outcome

    def _face_change(self, face_id: str, expected: str | None, new_name: Callable[[Face], str | None]):
        def change(txn: Transaction, outcome: Outcome) -> None:
            found = txn.state.find_face(face_id)
            if found is None or not found[1].visible:
                outcome.conflicts.append("that face is no longer in faces.csv; reload the page")
                return
            photo, face = found
            shown = face.name or f"guess:{face.guess}"
            if expected is not None and shown != expected:
                outcome.conflicts.append(f"{photo.file}: the face changed meanwhile (now {_describe(face)}); nothing done")
                return
            name = new_name(face)
            if name is not None:
                _set(txn, photo, face, name, outcome)
        return change

    # -- one face -----------------------------------------------------------------------------
    def name_face(self, folder: Path, face_id: str, name: str, expected: str | None = None) -> Outcome:
        name = typed_name(name, allow_empty=True)
        return self._apply([folder], self._face_change(face_id, expected, lambda face: name))

    def confirm_guess(self, folder: Path, face_id: str, guess: str) -> Outcome:
        """The face's guess becomes its name, if it is still unnamed and still guessed as ``guess``."""
        return self._apply([folder], self._face_change(face_id, f"guess:{guess}", lambda face: face.guess or None))

    def reject_guess(self, folder: Path, face_id: str, guess: str) -> Outcome:
        """"Not this person": stored with the face (faces.pkl), so it is never guessed as them again."""
        def change(txn: Transaction, outcome: Outcome) -> None:
            found = txn.state.find_face(face_id)
            if found is None or not found[1].visible:
                outcome.conflicts.append("that face is no longer in faces.csv; reload the page")
                return
            face = found[1]
            if guess and guess not in face.not_names:
                face.not_names.append(guess)
                outcome.changed += 1
        return self._apply([folder], change)

    # -- many faces ---------------------------------------------------------------------------
    def name_cluster(self, folders: list[Path], label: str, name: str, face_ids: set[str] | None = None) -> Outcome:
        """The unnamed faces of cluster ``label`` (or only ``face_ids`` of it) get ``name``."""
        name = typed_name(name)

        def change(txn: Transaction, outcome: Outcome) -> None:
            for photo, face in txn.state.faces():
                if face.visible and not face.name and face.cluster == label and (face_ids is None or face.face_id in face_ids):
                    _set(txn, photo, face, name, outcome)
        return self._apply(folders, change)

    def suggest_cluster(self, folders: list[Path], label: str, name: str) -> Outcome:
        """The cluster's faces get ``name`` as a guess only (``naming_commands.name_cluster``, as the CLI does)."""
        name = typed_name(name)
        with self.lock:
            self.sync_library()
            try:
                count = naming_commands.name_cluster(self.scanner, folders, label, name)
            except FacesidecarError as exc:
                raise ActionError(str(exc)) from None
        return Outcome(changed=count)

    def confirm_guesses(self, folders: list[Path], name: str, max_distance: float) -> Outcome:
        """Every guess of ``name`` at most ``max_distance`` away becomes the name (``naming_commands.confirm_guesses``,
        as ``facesidecar confirm --name N --max-distance D`` does)."""
        with self.lock:
            self.sync_library()
            try:
                done = naming_commands.confirm_guesses(self.scanner, folders, name=name, max_distance=max_distance)
            except FacesidecarError as exc:
                raise ActionError(str(exc)) from None
        return Outcome(changed=len(done))

    def rename_person(self, folders: list[Path], old: str, new: str) -> Outcome:
        """Every face confirmed as ``old`` becomes ``new`` (``naming_commands.rename_person``, as the CLI does)."""
        new = typed_name(new)
        with self.lock:
            self.sync_library()
            try:
                done = naming_commands.rename_person(self.scanner, folders, old, new)
            except FacesidecarError as exc:
                raise ActionError(str(exc)) from None
        return Outcome(changed=len(done))


def _set(txn: Transaction, photo: PhotoState, face: Face, name: str, outcome: Outcome) -> None:
    change = set_name(photo, face, name, SOURCE, txn.now)
    if change is not None:
        txn.changes.append(change)
        outcome.changed += 1


def _describe(face: Face) -> str:
    if face.name:
        return f"named {face.name}"
    return f"guessed {face.guess}" if face.guess else "unknown"
