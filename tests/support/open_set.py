"""The open-set protocol (bench/open_set.py prints it, tests/test_open_set.py holds it to its floors):
folds that name about half of the identities, then strangers and look-alikes must get no name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facesidecar.compose import build_scanner
from facesidecar.config import MetadataSettings, RootSettings, Settings
from facesidecar.engines import FaceEngine, get_engine
from facesidecar.engines.base import PixelBox
from facesidecar.faceindex import Library
from facesidecar.store import SIDECAR_NAMES
from facesidecar.store.folder import FolderStore

from .accuracy import Labels, read_labels, type_name

DEFAULT_FACES = Path(__file__).resolve().parents[1] / "data" / "faces"
CATEGORIES = ("identity", "group", "noface")
"""Variants (near copies of identity photos) and corrupt files stay out: they say nothing about strangers."""
FOLDS, SEED = 5, 14
CONFIRMED = (1, 3)
SWEEP = tuple(round(t, 2) for t in np.arange(0.30, 0.66, 0.02))


class CachedEngine(FaceEngine):
    """The real engine, its answers kept in ``folder`` by the hash of the pixels it was handed.

    Encodings are the expensive part of the protocol: each photo is detected and encoded once per
    cache, every fold replays the same faces.
    """

    def __init__(self, engine: FaceEngine, folder: Path):
        self.engine, self.folder = engine, folder
        self.model_name, self.detector_name = engine.model_name, engine.detector_name
        self.metric, self.threshold = engine.metric, engine.threshold
        folder.mkdir(parents=True, exist_ok=True)

    def _memo(self, call: str, image: np.ndarray, *args):
        digest = hashlib.sha256(repr((call, image.shape, args)).encode())
        digest.update(np.ascontiguousarray(image).tobytes())
        path = self.folder / f"{digest.hexdigest()}.pkl"
        if path.exists():
            return pickle.loads(path.read_bytes())  # our own cache folder, written just below
        result = getattr(self.engine, call)(image, *args)
        path.write_bytes(pickle.dumps(result))
        return result

    def detect(self, image: np.ndarray) -> list[PixelBox]:
        return self._memo("detect", image)

    def encode(self, image: np.ndarray, boxes: list[PixelBox]) -> list[np.ndarray]:
        return self._memo("encode", image, tuple(boxes))

    def encode_with_landmarks(self, image, boxes):
        return self._memo("encode_with_landmarks", image, tuple(boxes))


# -- the library and the folds --------------------------------------------------------------
@dataclass(frozen=True)
class Fold:
    number: int
    named: frozenset[str]
    confirmed: int
    """Photos confirmed per named person (the first ones; all of them where a person has fewer)."""

    def confirmed_photos(self, labels: Labels) -> dict[str, str]:
        """Photo -> the name typed for its largest face."""
        return {photo: who for who in sorted(self.named) for photo in labels.identities[who][:self.confirmed]}


def make_folds(labels: Labels, count: int = FOLDS, confirmed: Iterable[int] = CONFIRMED) -> list[Fold]:
    """``count`` random halves of the identities (fixed seed), each with 1 and 3 confirmed faces."""
    rng = random.Random(SEED)
    people = sorted(labels.identities)
    halves = [frozenset(rng.sample(people, len(people) // 2)) for _ in range(count)]
    return [Fold(n, half, c) for c in confirmed for n, half in enumerate(halves, start=1)]


def settings_for(root: Path, state: Path, **engine) -> Settings:
    """Default settings (metadata writing off: this measures naming) with ``root`` as the only root."""
    settings = Settings(roots=[RootSettings(path=str(root))], metadata=MetadataSettings(enabled=False),
                        state_dir=str(state))
    if engine:
        settings = dataclasses.replace(settings, engine=dataclasses.replace(settings.engine, **engine))
    return settings


def scan(root: Path, engine: FaceEngine, state: Path, **overrides) -> None:
    """One pass of the real scanner over ``root`` (as ``facesidecar scan`` does)."""
    scanner = build_scanner(settings_for(root, state, **overrides), sidecars_only=True, engine=engine)
    try:
        report = scanner.scan_paths([root])
    finally:
        scanner.close()
    unexpected = [e for e in report.errors if "corrupt" not in e[0]]
    if unexpected:
        raise RuntimeError(f"scan of {root} failed: {unexpected[:3]}")


def scanned_library(faces: Path, labels_of: dict[str, str], work: Path, engine: FaceEngine) -> Path:
    """The photos of the protocol copied to ``work/base`` and scanned once."""
    base = work / "base"
    for photo in labels_of:
        target = base / photo
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(faces / photo, target)
    scan(base, engine, work / "state")
    return base


def fold_library(base: Path, target: Path) -> Path:
    """A copy of the scanned library: photos hard-linked (never written: metadata is off), sidecars copied."""
    def copy(src: str, dst: str) -> None:
        if Path(src).name in SIDECAR_NAMES:
            shutil.copy2(src, dst)
        else:
            os.link(src, dst)

    shutil.copytree(base, target, copy_function=copy)
    return target


# -- judging ----------------------------------------------------------------------------------
@dataclass
class Score:
    right: int = 0
    wrong: int = 0
    """A named person's face with another name."""
    strangers: int = 0
    """Names on strangers, no-face photos, people absent from a group photo, a name twice in a photo."""
    missed: int = 0
    unjudged: int = 0
    false_list: list[str] = field(default_factory=list)
    false_faces: list[str] = field(default_factory=list)
    """Face ids of the false names (every face of a name given twice in one photo)."""
    right_faces: list[str] = field(default_factory=list)

    @property
    def false(self) -> int:
        return self.wrong + self.strangers

    @property
    def precision(self) -> float:
        return self.right / (self.right + self.false) if self.right + self.false else 1.0

    @property
    def recall(self) -> float:
        total = self.right + self.wrong + self.missed
        return self.right / total if total else 0.0


@dataclass(frozen=True)
class Seen:
    """One face of the library as the judge sees it."""

    photo: str
    face_id: str
    largest: bool
    width: float
    """Width of the face in pixels of the photo as displayed (a measure of its quality)."""


def library_faces(root: Path, photos: Iterable[str], model: str) -> tuple[list[Seen], Library]:
    """Every visible face with an encoding, in photo order, and the library index of ``root``."""
    library = Library(model)
    seen = []
    states: dict[Path, object] = {}
    for photo in sorted(photos):
        folder = root / Path(photo).parent
        if folder not in states:
            states[folder] = FolderStore(folder).load()
            library.set_folder(folder, states[folder])
        state = states[folder].photos.get(Path(photo).name)
        faces = [f for f in state.visible_faces if model in f.encodings] if state else []
        top = max(faces, key=lambda f: f.box.area, default=None)
        across = state.height if state and state.orientation >= 5 else state.width if state else 0
        seen += [Seen(photo, f.face_id, f is top, f.box.w * across) for f in faces]
    return seen, library


def judge(labels: Labels, category: dict[str, str], identity: dict[str, str], fold: Fold,
          seen: list[Seen], guesses: dict[str, str]) -> Score:
    """Score the guesses (face id -> name) of one fold against the ground truth."""
    score = Score()
    confirmed = fold.confirmed_photos(labels)
    unjudged: dict[tuple[str, str], list[str]] = {}
    for face in seen:
        if face.photo in confirmed and face.largest:
            continue
        name, who, kind = guesses.get(face.face_id, ""), identity.get(face.photo, ""), category[face.photo]
        if face.largest and kind == "identity" and who in fold.named:
            if _judge_named(score, face.photo, who, name):
                score.false_faces.append(face.face_id)
            elif name:
                score.right_faces.append(face.face_id)
        elif name and _is_false(face, name, who, kind, labels.groups.get(face.photo)):
            score.strangers += 1
            score.false_faces.append(face.face_id)
            smaller = "" if face.largest or kind != "identity" else "a smaller face than "
            score.false_list.append(f"stranger {face.photo}: {smaller}{who or kind} named {name}")
        elif name:
            unjudged.setdefault((face.photo, name), []).append(face.face_id)
    for (photo, name), faces in unjudged.items():
        score.unjudged += 1
        if len(faces) > 1:
            score.strangers += len(faces) - 1
            score.false_faces += faces
            score.false_list.append(f"twice {photo}: {name} on {len(faces)} faces")
    return score


def _judge_named(score: Score, photo: str, who: str, name: str) -> bool:
    """Count one named person's face; True when it got a wrong name."""
    if name == who:
        score.right += 1
    elif name:
        score.wrong += 1
        score.false_list.append(f"wrong {photo}: {who} named {name}")
        return True
    else:
        score.missed += 1
    return False


def _is_false(face: Seen, name: str, who: str, kind: str, present: set[str] | None) -> bool:
    """Whether a name on a face that is not a named person's largest face is certainly wrong.

    No-face photos have nobody; the largest face of an identity photo is its (here unnamed) person,
    who appears once; a group photo whose people the source lists has nobody else. Smaller faces of
    identity photos and group photos without a list can show anyone: those names are unjudged.
    """
    if kind == "noface":
        return True
    if kind == "identity":
        return face.largest or name == who
    return present is not None and name not in present


def sidecar_guesses(seen: list[Seen], library: Library) -> dict[str, str]:
    """face id -> the ``guess`` the scan wrote (faces.pkl and faces.csv carry the same)."""
    ids = {f.face_id for f in seen}
    return {f.face_id: f.guess for f in library.all_faces() if f.face_id in ids and f.guess and not f.name}


# -- the rules compared --------------------------------------------------------------------------
Rule = Callable[[Path, FaceEngine, float], dict[str, str]]
"""(fold library, engine, model threshold) -> face id -> name."""


def old_rule(margin: float) -> Rule:
    """The decision before issue 14: nearest person within the model's threshold, ``margin`` ahead of the second."""
    def guesses(root: Path, engine: FaceEngine, threshold: float) -> dict[str, str]:
        scanner = fold_scanner(root, engine, threshold)
        gallery, probes = scanner.guesser.gallery(), scanner.clusters.library.unnamed()
        if not probes or not gallery.people:
            return {}
        per_person = gallery.person_distances(np.stack([f.vector for f in probes]))
        ordered = np.sort(per_person, axis=1)
        second = ordered[:, 1] if len(gallery.people) > 1 else np.full(len(probes), np.inf)
        named = (ordered[:, 0] <= threshold) & (second - ordered[:, 0] >= margin)
        best = per_person.argmin(axis=1)
        return {f.face_id: gallery.people[b] for f, b, k in zip(probes, best, named, strict=True) if k}

    return guesses


def open_set_rule(root: Path, engine: FaceEngine, threshold: float) -> dict[str, str]:
    """The scanner's own decision (``Scanner.decide``) with the model's threshold set to ``threshold``."""
    scanner = fold_scanner(root, engine, threshold)
    gallery, probes = scanner.guesser.gallery(), scanner.clusters.library.unnamed()
    if not probes:
        return {}
    decisions = scanner.guesser.decide(np.stack([f.vector for f in probes]), [str(f.folder / f.file) for f in probes],
                               [f.cluster for f in probes], gallery)
    return {f.face_id: d.name for f, d in zip(probes, decisions, strict=True) if d.name}


def bar_only_rule(root: Path, engine: FaceEngine, threshold: float) -> dict[str, str]:
    """Part of the open-set rule, to see what each part brings: the per-person thresholds and the margin
    only (no look-alikes asked, no photo rule)."""
    scanner = fold_scanner(root, engine, threshold)
    gallery, probes = scanner.guesser.gallery(), scanner.clusters.library.unnamed()
    if not probes:
        return {}
    decisions = gallery.decide(np.stack([f.vector for f in probes]))
    return {f.face_id: d.name for f, d in zip(probes, decisions, strict=True) if d.name}


def fold_scanner(root: Path, engine: FaceEngine, threshold: float):
    return build_scanner(settings_for(root, root.parent / "state", threshold=threshold), sidecars_only=True,
                         engine=engine)


OLD_RULE, DEFAULT_THRESHOLD = "margin 0.05 (old default)", 0.6
RULES: dict[str, Rule] = {OLD_RULE: old_rule(0.05), "1-NN (seed)": old_rule(0.0),
                          "per-person bar only": bar_only_rule, "open set (new default)": open_set_rule}


# -- the run ----------------------------------------------------------------------------------
@dataclass
class Result:
    fold: Fold
    root: Path
    """The fold's library, as the scan left it."""
    scanned: Score
    curves: dict[str, dict[float, Score]]
    caught: Counter
    """Why the scan gave no name (or another) to the faces the old rule named falsely at its default."""
    false_widths: list[float]
    """Face widths (pixels) of the old default's false names."""
    right_widths: list[float]
    """Face widths (pixels) of the scan's right names."""


def run(faces: Path, work: Path, cache: Path, folds: int = FOLDS, confirmed: Iterable[int] = CONFIRMED,
        sweep: Iterable[float] = SWEEP, log: Callable[[str], None] = print) -> list[Result]:
    sweep = tuple(sweep)
    labels = read_labels(faces)
    rows = _label_rows(faces)
    category = {f: r["category"] for f, r in rows.items()}
    identity = {f: r["identity"] for f, r in rows.items()}
    engine = CachedEngine(get_engine(Settings().engine), cache)
    started = time.monotonic()
    base = scanned_library(faces, category, work, engine)
    log(f"scanned {len(category)} photos once in {time.monotonic() - started:.0f} s (cache {cache})")
    plan = make_folds(labels, folds, confirmed)
    for fold in plan:
        root = fold_library(base, work / f"fold{fold.number}-{fold.confirmed}")
        for photo, name in fold.confirmed_photos(labels).items():
            if not type_name(root, photo, name):
                raise RuntimeError(f"{photo}: no face to type {name} into")
    time.sleep(1.1)  # an editor's save is taken once it has settled (faces.csv older than 1 s)
    results = []
    for fold in plan:
        root = work / f"fold{fold.number}-{fold.confirmed}"
        scan(root, engine, work / "state")
        seen, library = library_faces(root, category, engine.model_name)
        scanned = judge(labels, category, identity, fold, seen, sidecar_guesses(seen, library))
        curves = {name: {t: judge(labels, category, identity, fold, seen, rule(root, engine, t)) for t in sweep}
                  for name, rule in RULES.items()}
        why = {f.face_id: f.why.get("reason", "") for f in library.all_faces()}
        old = curves[OLD_RULE][DEFAULT_THRESHOLD].false_faces if DEFAULT_THRESHOLD in sweep else []
        width = {f.face_id: f.width for f in seen}
        results.append(Result(fold, root, scanned, curves, Counter(why.get(f, "") or "named" for f in old),
                              [width[f] for f in old], [width[f] for f in scanned.right_faces]))
    return results


def _label_rows(faces: Path) -> dict[str, dict]:
    import csv

    with (faces / "labels.csv").open(newline="", encoding="utf-8") as handle:
        return {r["file"]: r for r in csv.DictReader(handle) if r["category"] in CATEGORIES}


# -- the report ---------------------------------------------------------------------------------
def mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def report(results: list[Result]) -> str:
    lines = []
    for confirmed in sorted({r.fold.confirmed for r in results}):
        group = [r for r in results if r.fold.confirmed == confirmed]
        lines.append(f"\n== {confirmed} confirmed face(s) per named person, {len(group)} folds "
                     f"({', '.join(str(len(r.fold.named)) for r in group)} people named) ==")
        lines.append("default config through the real scan (guess column of the sidecars):")
        for r in group:
            s = r.scanned
            lines.append(f"  fold {r.fold.number}: precision {s.precision:.3f} recall {s.recall:.3f} "
                         f"({s.right} right, {s.false} false, {s.missed} missed, {s.unjudged} unjudged)")
        lines.append(f"  average: precision {mean(r.scanned.precision for r in group):.3f} "
                     f"(lowest fold {min(r.scanned.precision for r in group):.3f}), "
                     f"recall {mean(r.scanned.recall for r in group):.3f}")
        lines.append("curves (precision / recall averaged over folds; lowest fold precision in brackets):")
        names = list(group[0].curves)
        lines.append("  threshold  " + "  ".join(f"{n:>26}" for n in names))
        for t in group[0].curves[names[0]]:
            cells = []
            for n in names:
                scores = [r.curves[n][t] for r in group]
                cells.append(f"{mean(s.precision for s in scores):.3f} / {mean(s.recall for s in scores):.3f} "
                             f"[{min(s.precision for s in scores):.3f}]")
            lines.append(f"  {t:9.2f}  " + "  ".join(f"{c:>26}" for c in cells))
        caught = sum((r.caught for r in group), Counter())
        lines.append(f"what the new rule said to the old default's {sum(caught.values())} false names: "
                     + ", ".join(f"{reason} {n}" for reason, n in caught.most_common()))
        lines.append(quality_line([w for r in group for w in r.false_widths], [w for r in group for w in r.right_widths]))
        for r in group:
            lines += [f"  fold {r.fold.number}: {f}" for f in r.scanned.false_list]
    return "\n".join(lines)


def quality_line(false: list[float], right: list[float]) -> str:
    """Would a bar on small (poor) faces help? Face widths of false and of right names side by side."""
    if not false or not right:
        return "face width: nothing to compare"
    narrowest = min(false)
    return (f"face width in pixels: old default's false names {min(false):.0f}-{max(false):.0f} "
            f"(median {np.median(false):.0f}), new rule's right names {min(right):.0f}-{max(right):.0f} "
            f"(median {np.median(right):.0f}); a bar on faces narrower than the narrowest false name "
            f"({narrowest:.0f} px) would remove no false name and cost {sum(w < narrowest for w in right)} "
            f"of {len(right)} right names")
