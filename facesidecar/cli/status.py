"""``facesidecar status [PATH] [--json] [--why]``: what a running daemon is doing, counts, per-person numbers,
photos that failed, and why each unnamed face got its guess or none."""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ..config import Settings
from ..daemonstatus import overlaps, running_daemons
from ..folders import list_photos, walk_folders
from ..gallery import describe
from ..model import IGNORE, FolderState
from ..names import shown
from ..naming_commands import no_roots_error
from ..pipeline.plan import unwritable_reason
from ..progress import duration
from ..store import confined
from ..store.folder import FolderStore
from .common import existing_paths, settings_from

log = logging.getLogger(__name__)


def _has_photos(folder: Path, extensions: list[str]) -> bool:
    try:
        return bool(list_photos(folder, extensions))
    except OSError:
        return False


def state_counts(state: FolderState) -> dict[str, int]:
    """What ``status`` counts in one folder: photos, visible faces, and how they are named."""
    visible = [f for _, f in state.faces() if f.visible]
    return {
        "photos": len(state.photos),
        "faces": len(visible),
        "confirmed": sum(1 for f in visible if f.confirmed),
        "ignored": sum(1 for f in visible if f.name == IGNORE),
        "guessed": sum(1 for f in visible if not f.name and f.guess),
        "errors": sum(1 for p in state.photos.values() if p.error),
    }


def collect_status(paths: list[Path], exclude: list[str], extensions: list[str] | None = None) -> dict:
    totals: Counter = Counter()
    confirmed: Counter = Counter()
    guessed: Counter = Counter()
    errors = []
    csv_problems = []
    unwritable = []
    decisions = []
    folders = 0
    for folder in walk_folders(paths, exclude):
        problem = unwritable_reason(folder)
        if problem and _has_photos(folder, extensions or Settings().extensions):
            unwritable.append({"folder": str(folder), "error": problem})
        store = FolderStore(folder)
        if confined.lstat(store.pkl_path) is None:
            continue
        folders += 1
        state = store.load()
        totals.update(state_counts(state))
        for _photo, face in state.faces():
            if not face.visible:
                continue
            if face.confirmed:
                confirmed[face.name] += 1
            elif not face.name and face.guess:
                guessed[face.guess] += 1
        errors.extend({"file": str(folder / p.file), "error": p.error} for p in state.photos.values() if p.error)
        decisions.extend(_decisions(folder, state))
        csv_problems.extend({"file": str(store.csv_path), "problem": m} for m in state.csv_problems)
    people = sorted(set(confirmed) | set(guessed), key=str.casefold)
    return {
        "folders": folders,
        **{k: totals.get(k, 0) for k in ("photos", "faces", "confirmed", "guessed", "ignored", "errors")},
        "people": [{"name": n, "confirmed": confirmed[n], "guessed": guessed[n]} for n in people],
        "error_list": errors,
        "csv_problems": csv_problems,
        "unwritable_folders": unwritable,
        "decisions": decisions,
    }


def _decisions(folder: Path, state) -> list[dict]:
    """Why each unnamed face got its guess or none, as the last guessing weighed it (``Face.why``)."""
    found = []
    for photo in state.photos.values():
        for number, face in enumerate(photo.visible_faces, start=1):
            if not face.name and face.why:
                found.append({"file": str(folder / photo.file), "face_nr": number, **face.why,
                              "why": describe(face.why)})
    return found


def collect_model_agreement(paths: list[Path], settings) -> list[dict]:
    """Per configured model: how its encodings name the confirmed faces (leave-one-out)."""
    from ..agreement import agreement
    from ..engines import get_engine

    state = settings.state_path()
    engines = [get_engine(settings.engine, state_dir=state)] + [
        get_engine(settings.engine, model=m, state_dir=state) for m in settings.engine.extra_models]
    confirmed = [face for folder in walk_folders(paths, settings.exclude) if confined.lstat(FolderStore(folder).pkl_path) is not None
                 for _photo, face in FolderStore(folder).load().faces() if face.visible and face.confirmed]
    results = []
    for engine in {e.model_name: e for e in engines}.values():
        faces = [f for f in confirmed if engine.model_name in f.encodings]
        vectors = np.stack([f.encodings[engine.model_name] for f in faces]) if faces else np.zeros((0, 1))
        threshold = engine.threshold
        results.append(agreement(engine.model_name, [f.name for f in faces], vectors, engine.metric, threshold).as_dict())
    return results


def print_models(models: list[dict]) -> None:
    print("\nmodels on the confirmed faces (leave-one-out: nearest other confirmed face within the threshold)")
    print(f"{'model':<28} {'faces':>6} {'named':>6} {'right':>6} {'precision':>9} {'recall':>7}")
    for m in models:
        precision = "-" if m["precision"] is None else f"{m['precision']:.3f}"
        recall = "-" if m["recall"] is None else f"{m['recall']:.3f}"
        print(f"{m['model']:<28} {m['faces']:>6} {m['predicted']:>6} {m['correct']:>6} {precision:>9} {recall:>7}")


def print_status(status: dict) -> None:
    print(f"{status['folders']} folders, {status['photos']} photos, {status['faces']} faces: "
          f"{status['confirmed']} confirmed, {status['guessed']} guessed, {status['ignored']} ignored, "
          f"{status['errors']} photos with errors")
    if status["people"]:
        width = max(len(p["name"]) for p in status["people"])
        print(f"\n{'person':<{width}}  confirmed  guessed")
        for person in status["people"]:
            print(f"{person['name']:<{width}}  {person['confirmed']:>9}  {person['guessed']:>7}")
    print_section("folders whose sidecars cannot be written (their photos are not scanned)",
                  [item["error"] for item in status["unwritable_folders"]])
    print_section("faces.csv saves that could not be read whole (fix the file and save it again)",
                  [item["problem"] for item in status["csv_problems"]])
    print_section("photos that could not be read (retried when they change)",
                  [item["error"] if item["file"] in item["error"] else f"{item['file']}: {item['error']}"
                   for item in status["error_list"]])


def print_section(title: str, lines: list[str]) -> None:
    """A titled list of problems, each shown safely (file names are hostile input); nothing when empty."""
    if lines:
        print(f"\n{title}:")
        for line in lines:
            print(f"  {shown(line)}")


def collect_daemons(state_dirs: list[Path], paths: list[Path]) -> list[dict]:
    """The running daemons (``watch``) working on ``paths``, from their status files in ``state_dirs``
    (the configured state folder, and the one this user falls back to when that is not theirs)."""
    found: dict[int, dict] = {}
    for state_dir in dict.fromkeys(state_dirs):
        try:
            daemons = running_daemons(state_dir)
        except PermissionError:
            log.warning("cannot read the daemon's status in %s (permission denied): run status as root, as the "
                        "service's user or as a member of its group", state_dir)
            continue
        found.update((d["pid"], d) for d in daemons if overlaps(d.get("roots", []), paths))
    return list(found.values())


def print_daemons(daemons: list[dict]) -> None:
    for daemon in daemons:
        up = duration(time.time() - float(daemon.get("started", time.time())))
        print(f"daemon: {daemon.get('state', '?')} (pid {daemon['pid']}: {daemon.get('command', '?')}; up {up})")
        catchup = daemon.get("catchup")
        if catchup and not daemon.get("catchup_finished"):
            print(f"  {catchup['line']}")
        elif catchup:
            print(f"  start-up {catchup['line']}")
        if daemon.get("folder"):
            print(f"  now in: {shown(daemon['folder'])}")
        print(f"  queue: {daemon.get('queued', 0)} folders waiting, {daemon.get('pending', 0)} settling; "
              f"{daemon.get('errors', 0)} errors since start")
        recent = daemon.get("recent_errors") or []
        if recent:
            print("  last errors:")
            for item in recent[-10:]:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(item.get("time", 0))))
                print(f"    {stamp} {shown(item.get('message', ''))}")
        if daemon.get("age", 0) > 60:
            print(f"  (its status is {duration(daemon['age'])} old: the daemon may be stuck; see its log)")
    if daemons:
        print()


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    paths = existing_paths(args.paths) if args.paths else settings.root_paths()
    if not paths:
        raise no_roots_error(settings)
    state_dirs = [Path(settings.state_dir), settings.state_path()] if settings.state_dir else [settings.state_path()]
    daemons = collect_daemons(state_dirs, [p.resolve() for p in paths])
    status = collect_status(paths, settings.exclude, settings.extensions)
    status["daemons"] = daemons
    if args.models:
        status["models"] = collect_model_agreement(paths, settings)
    if args.json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
    else:
        print_daemons(daemons)
        print_status(status)
        if args.models:
            print_models(status["models"])
        if args.why:
            print_decisions(status["decisions"])
    return 0


def print_decisions(decisions: list[dict]) -> None:
    print("\nwhy each unnamed face got its guess or none:")
    for item in decisions:
        print(f"  {item['file']} #{item['face_nr']}: {item['why']}")


def register(subparsers, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "status", parents=[parent],
        help="what the daemon is doing; photos, faces, confirmed, guessed, errors; per-person counts",
        description="Show what a running daemon (facesidecar watch) is doing for PATH: its catch-up's progress, "
        "the folder it works on, its queue and its last errors; then summarise the sidecars below PATH "
        "(default: the configured roots).",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--why", action="store_true",
                        help="why each unnamed face got its guess or none (distance, its bar, the next person, "
                             "look-alikes); --json always has them under \"decisions\"")
    parser.add_argument("--models", action="store_true",
                        help="how each configured model (engine.model + engine.extra_models) names the confirmed faces")
    parser.set_defaults(func=run)
