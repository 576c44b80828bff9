"""The plan stage: what changed in a folder since its faces.pkl was written (a stat per photo).

Also decides, before any photo is decoded, whether the folder can take its sidecars at all, and
pairs new photos with vanished ones of the same content (moves and renames keep their faces).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pwd
import shlex
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import SidecarError
from ..folders import file_sha256, list_folder
from ..identity import check_identities
from ..model import FolderPlan, PhotoState, ScanReport
from ..store import confined
from ..store.folder import FolderStore, Snapshot

log = logging.getLogger(__name__)


def needs_scan(photo: PhotoState | None, info: os.stat_result, model: str) -> bool:
    """Whether a photo must be decoded: new, changed on disk, or scanned with another model."""
    if photo is None or not photo.same_file_as(info.st_size, info.st_mtime_ns):
        return True
    return not photo.error and photo.model != model


def plan_folder(folder: Path, *, extensions: Iterable[str], model: str, csv_only: bool,
                recover: Callable[[Path], list[Path]] | None, report: ScanReport) -> tuple[FolderPlan, Snapshot] | None:
    """The folder's plan and the faces.pkl read it was made from (its transaction starts from that
    read while the file is unchanged); None (with the reason in ``report``) when the folder has
    nothing for us or cannot take its sidecars.

    ``recover`` finishes metadata writes a crash left in the folder, before its photos are read.
    """
    store = FolderStore(folder)
    if recover is not None:
        for photo in recover(folder):
            log.warning("%s: finished a metadata write that was interrupted", photo)
    try:
        listing = list_folder(folder, extensions)
    except OSError as exc:
        report.errors.append((str(folder), f"cannot read folder: {exc.strerror}"))
        log.error("cannot read folder %s: %s (check its permissions); its sidecars are left as they are", folder, exc.strerror)
        return None
    on_disk = listing.photos
    if not on_disk and not store.exists():
        return None  # a folder without photos gets no sidecars
    snapshot = store.snapshot()
    state = snapshot.state
    known = state.photos
    missing = tuple(name for name in known if name not in on_disk)
    to_scan = () if csv_only else tuple(n for n, info in sorted(on_disk.items()) if needs_scan(known.get(n), info, model))
    problem = unwritable_reason(folder) if to_scan or missing else ""
    if problem:
        report.errors.append((str(folder), problem))
        log.error("%s", problem)
        return None
    plan = FolderPlan(folder, on_disk, known, to_scan, missing, csv_sha256=state.csv_sha256,
                      leftovers=listing.leftovers)
    return (plan if csv_only else with_identities_checked(plan)), snapshot


def with_identities_checked(plan: FolderPlan) -> FolderPlan:
    """Photos that look unchanged but are other files (identity.py): replaced ones are scanned as new
    photos; a new inode or ctime of the same bytes is recorded (where the folder can be written)."""
    check = check_identities(plan.folder, plan.known, plan.on_disk, plan.to_scan, file_sha256)
    restat = check.restat if check.restat and not unwritable_reason(plan.folder) else {}
    if not check.replaced and not restat:
        return plan
    return dataclasses.replace(plan, to_scan=tuple(sorted(plan.to_scan + tuple(check.replaced))),
                               replaced=tuple(check.replaced), restat=restat)


def unchanged(plan: FolderPlan) -> bool:
    """Nothing to do here: no photo to scan, none gone or moved in, no leftover save to merge,
    faces.csv as we wrote it."""
    if plan.to_scan or plan.missing or plan.moved_in or plan.leftovers or plan.restat:
        return False
    try:
        data = confined.read_file(plan.folder / "faces.csv", confined.limits().csv)
    except (OSError, SidecarError):
        return False
    if data is None:
        return False
    return hashlib.sha256(data).hexdigest() == plan.csv_sha256


def match_moves(plans: list[FolderPlan]) -> tuple[list[FolderPlan], int]:
    """The plans with new photos whose content equals a vanished photo's taking over its faces and
    names (``moved_in``, no longer to scan); and how many moved."""
    gone = {p.known[name].sha256: (p.folder, name) for p in plans for name in p.missing + p.replaced
            if p.known[name].sha256}
    if not gone:
        return plans, 0
    matched, moved = [], 0
    for plan in plans:
        moved_in = {}
        for name in plan.to_scan:
            if name in plan.known and name not in plan.replaced:
                continue
            try:
                digest = file_sha256(plan.folder / name)
            except (OSError, SidecarError):
                continue
            source = gone.pop(digest, None)
            if source is not None:
                moved_in[name] = source
        moved += len(moved_in)
        matched.append(dataclasses.replace(plan, moved_in=moved_in,
                                           to_scan=tuple(n for n in plan.to_scan if n not in moved_in))
                       if moved_in else plan)
    return matched, moved


def unwritable_reason(folder: Path) -> str:
    """Why the sidecars of ``folder`` cannot be written, with what to do ("" when they can).

    Checked before any photo of the folder is decoded: a folder that cannot take its sidecars would
    otherwise cost a full decode on every pass and end in an error about a file that never existed.
    """
    if os.access(folder, os.W_OK):
        return ""
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        return (f"cannot write {folder / 'faces.csv'}: Read-only file system (under systemd: the folder is not in "
                "the unit's ReadWritePaths=; run scripts/install-service.sh again with this root). Its photos are "
                "scanned once it is writable; to skip it, add its name to exclude in the config")
    user = _user_name()
    return (f"cannot write {folder / 'faces.csv'}: Permission denied (user {user} may not write in that folder). "
            f"Give it access (setfacl -m u:{user}:rwX {shlex.quote(str(folder))}, or the folder's group), or put "
            "a file named .nofaces in the folder to skip it; its photos are scanned once it is writable")


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


__all__ = ["match_moves", "needs_scan", "plan_folder", "unchanged", "unwritable_reason"]
