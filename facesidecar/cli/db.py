"""``facesidecar db sync`` (full resync) and ``facesidecar db check`` (sidecars vs database).

``db check`` exits 0 when the database equals the sidecars below the roots, 1 when it differs
or cannot be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings, with_roots
from ..errors import FacesidecarError
from ..folders import walk_folders
from ..model import FolderState
from ..store.folder import FolderStore
from .common import existing_paths, settings_from

TABLES = ("photos", "faces", "encodings", "names")
SHOWN = 20


def library_roots(settings: Settings, raw: list[str]) -> Settings:
    """Settings whose roots are ``--root`` paths if given, else the configured roots."""
    if raw:
        return with_roots(settings, [str(p) for p in existing_paths(raw)])
    if not settings.roots:
        raise FacesidecarError("no roots: set [[roots]] in the config or give --root PATH")
    return settings


def open_mirror(settings: Settings):
    if not settings.mysql.enabled:
        raise FacesidecarError("the database mirror is off: set enabled = true in the [mysql] section of the config")
    from ..adapters.mysql.mirror import Mirror

    return Mirror(settings.mysql, outbox_dir=settings.state_path())


def _under(folder: str, roots: list[Path]) -> bool:
    return any(folder == str(r) or folder.startswith(str(r).rstrip(os.sep) + os.sep) for r in roots)


def _roots(settings: Settings) -> list[Path]:
    from ..adapters.mysql.rows import folder_text

    return [Path(folder_text(r)) for r in settings.root_paths()]


def sidecar_folders(settings: Settings) -> list[Path]:
    from ..adapters.mysql.rows import folder_text

    return [Path(folder_text(f)) for f in walk_folders(_roots(settings), settings.exclude) if FolderStore(f).exists()]


def vanished_folders(mirror, settings: Settings, present: list[Path]) -> list[str]:
    """Folders below the roots the database holds photos of but that have no sidecars any more."""
    roots = _roots(settings)
    here = {str(p) for p in present}
    return sorted(f for f in mirror.known_folders() if _under(f, roots) and f not in here)


def db_sync(settings: Settings, mirror) -> dict:
    """Queue every folder below the roots (and every vanished one) and push them all now."""
    folders = sidecar_folders(settings)
    gone = vanished_folders(mirror, settings, folders)
    for folder in [*folders, *gone]:
        mirror.folder_changed(Path(folder))
    result = mirror.flush(force=True)
    if result.unreachable:
        raise FacesidecarError(f"{result.error or 'the database cannot be reached'}; "
                               f"{result.pending} folders wait in the outbox")
    return {"folders": len(folders), "vanished": len(gone), "pushed": result.pushed, "failed": result.failed,
            "pending": result.pending}


@dataclass
class CheckResult:
    folders: int = 0
    sidecars: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    database: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    differences: list[dict] = field(default_factory=list)
    pending: int = 0

    @property
    def clean(self) -> bool:
        return not self.differences

    def to_json(self) -> dict:
        return {"clean": self.clean, "folders": self.folders, "sidecars": self.sidecars, "database": self.database,
                "differences": self.differences, "outbox_pending": self.pending}


def db_check(settings: Settings, mirror) -> CheckResult:
    """Compare every folder's sidecars below the roots with the database."""
    from ..adapters.mysql.rows import folder_rows

    result = CheckResult()
    folders = sidecar_folders(settings)
    gone = vanished_folders(mirror, settings, folders)
    for folder in [*folders, *(Path(g) for g in gone)]:
        state = FolderStore(folder).load() if folder.is_dir() and FolderStore(folder).exists() else FolderState()
        diffs = mirror.check_folder(folder, state)
        expected = folder_rows(state).counts()
        result.folders += 1
        for table in TABLES:
            diff = diffs[table]
            result.sidecars[table] += expected[table]
            result.database[table] += expected[table] - len(diff.missing) + len(diff.extra)
            for kind in ("missing", "extra", "changed"):
                for key in getattr(diff, kind):
                    result.differences.append({"folder": str(folder), "table": table, "kind": kind,
                                               "key": list(key) if isinstance(key, tuple) else key})
    result.pending = len(mirror.outbox)
    return result


def print_check(result: CheckResult) -> None:
    print(f"{result.folders} folders checked")
    print(f"{'':10} {'sidecars':>9} {'database':>9}")
    for table in TABLES:
        print(f"{table:10} {result.sidecars[table]:>9} {result.database[table]:>9}")
    if result.pending:
        print(f"{result.pending} changed folders wait in the outbox (sent on the next scan or 'facesidecar db sync')")
    if result.clean:
        print("the database matches the sidecars")
        return
    print(f"{len(result.differences)} differences:")
    for item in result.differences[:SHOWN]:
        where = {"missing": "missing in the database", "extra": "only in the database",
                 "changed": "differs"}[item["kind"]]
        print(f"  {item['folder']}: {item['table']} {item['key']}: {where}")
    if len(result.differences) > SHOWN:
        print(f"  … and {len(result.differences) - SHOWN} more (--json lists all)")
    print("run 'facesidecar db sync' to bring the database up to date")


def run_sync(args: argparse.Namespace) -> int:
    settings = library_roots(settings_from(args), args.paths)
    with contextlib.closing(open_mirror(settings)) as mirror:
        done = db_sync(settings, mirror)
    print(f"{done['pushed']} folders written to the database ({done['folders']} with sidecars, "
          f"{done['vanished']} gone from disk), {done['failed']} failed, {done['pending']} still waiting")
    return 0 if not done["failed"] and not done["pending"] else 1


def run_check(args: argparse.Namespace) -> int:
    settings = library_roots(settings_from(args), args.paths)
    with contextlib.closing(open_mirror(settings)) as mirror:
        result = db_check(settings, mirror)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        print_check(result)
    return 0 if result.clean else 1


def _inner_options(parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The common options again for ``db sync``/``db check``, without defaults, so that
    ``db --config X sync`` keeps X (argparse lets a sub-parser's default overwrite it)."""
    inner = argparse.ArgumentParser(add_help=False)
    for action in parent._actions:
        if action.option_strings:
            kwargs = {"dest": action.dest, "help": action.help, "default": argparse.SUPPRESS}
            if isinstance(action, argparse._CountAction):
                kwargs["action"] = "count"
            elif isinstance(action, argparse._StoreTrueAction):
                kwargs["action"] = "store_true"
            else:
                kwargs["metavar"] = action.metavar
            inner.add_argument(*action.option_strings, **kwargs)
    return inner


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "db", parents=[parent], help="the MySQL/MariaDB mirror: full resync, compare with the sidecars",
        description="Work with the database mirror configured in [mysql].",
    )
    commands = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    parent = _inner_options(parent)
    sync = commands.add_parser(
        "sync", parents=[parent], help="write every folder below the roots into the database now",
        description="Full resync: every folder below the roots is written into the database (upserts; rows of "
        "photos, faces and folders that no longer exist are deleted). Exit status 1 when the database cannot be "
        "reached or a folder failed.",
    )
    check = commands.add_parser(
        "check", parents=[parent], help="compare the sidecars with the database",
        description="Compare faces.pkl/faces.csv below the roots with the database: counts per table and every "
        "difference. Exit status 0 when they match, 1 when they differ or the database cannot be reached.",
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")
    for sub, func in ((sync, run_sync), (check, run_check)):
        sub.add_argument("--root", dest="paths", action="append", default=[], metavar="PATH",
                         help="check/sync below PATH instead of the configured roots (repeatable)")
        sub.set_defaults(func=func)
