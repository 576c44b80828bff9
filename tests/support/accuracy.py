"""The naming accuracy protocol on the shared photos (bench/accuracy.py prints it,
tests/test_accuracy.py holds it to its floors): verification pairs, then scan, name, scan, count.
"""

from __future__ import annotations

import csv
import io
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facesidecar.config import EngineSettings
from facesidecar.engines import FaceEngine, get_engine
from facesidecar.errors import FacesidecarError

DEFAULT_FACES = Path(__file__).resolve().parents[1] / "data" / "faces"
DATA_FILES = ("labels.csv", "pairs.csv", "face_annotations.csv", "README.md")

ALIASES = {
    # group/6's caption lists the FRIENDS cast; the README of the test data says one of its faces
    # is close to deepface_jennifer, which is why that identity is on this side of the split.
    "jennifer aniston": "deepface_jennifer",
}


@dataclass
class Labels:
    identities: dict[str, list[str]]
    """identity -> its photos (relative paths), photo 1 first."""
    variants: dict[str, str]
    """variant photo -> identity."""
    noface: list[str]
    groups: dict[str, set[str] | None]
    """group photo -> identities allowed in it (None: not stated)."""


def read_labels(faces: Path) -> Labels:
    with (faces / "labels.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    identities: dict[str, list[str]] = {}
    for row in rows:
        if row["category"] == "identity":
            identities.setdefault(row["identity"], []).append(row["file"])
    for files in identities.values():
        files.sort(key=lambda f: int(Path(f).stem))
    variants = {r["file"]: r["identity"] for r in rows if r["category"] == "variant" and r["identity"]}
    noface = [r["file"] for r in rows if r["category"] == "noface"]
    groups = {r["file"]: _present(r["identities_present"], identities) for r in rows if r["category"] == "group"}
    return Labels(identities, variants, noface, groups)


def _present(text: str, identities: dict[str, list[str]]) -> set[str] | None:
    """The identities a group photo's ``identities_present`` allows (None when not stated)."""
    if not text.strip():
        return None
    lowered = text.lower()
    allowed = {i for i in identities if i in lowered}
    if "bbt_*" in lowered:
        allowed |= {i for i in identities if i.startswith("bbt_")}
    allowed |= {identity for alias, identity in ALIASES.items() if alias in lowered}
    return allowed


# -- (a) verification ---------------------------------------------------------------------------
@dataclass
class Verification:
    pairs: int
    accuracy: float
    same_recall: float
    different_recall: float
    threshold: float
    faceless: int


def largest_vector(engine: FaceEngine, path: Path) -> np.ndarray | None:
    from facesidecar.imaging import decode_photo
    from facesidecar.pipeline.detect import find_faces

    settings = EngineSettings()
    photo = decode_photo(path, settings.max_image_pixels, settings.pixel_limit)
    found = find_faces(engine, photo, settings.min_face_size)
    if not found:
        return None
    return max(found, key=lambda f: f.box.area).encoding


def read_pairs(faces: Path) -> list[tuple[str, str, bool]]:
    with (faces / "pairs.csv").open(newline="", encoding="utf-8") as handle:
        return [(r["file_a"], r["file_b"], r["same"] == "1") for r in csv.DictReader(handle)]


def library_vectors(library: Path, files: set[str], model: str) -> dict[str, np.ndarray | None]:
    """The largest face's encoding of each photo as a scan stored it in faces.pkl."""
    from facesidecar.store.folder import FolderStore

    states: dict[Path, object] = {}
    vectors: dict[str, np.ndarray | None] = {}
    for file in sorted(files):
        rel = Path(file)
        folder = library / rel.parent
        if folder not in states:
            states[folder] = FolderStore(folder).load()
        photo = states[folder].photos.get(rel.name)
        faces = [f for f in photo.visible_faces if model in f.encodings] if photo else []
        vectors[file] = max(faces, key=lambda f: f.box.area).encodings[model] if faces else None
    return vectors


def verification(faces: Path, engine: FaceEngine | None = None, library: Path | None = None) -> Verification:
    """Pairs judged on the largest faces: detected afresh, or as the scan of ``library`` stored them."""
    engine = engine or get_engine(EngineSettings())
    pairs = read_pairs(faces)
    files = {f for a, b, _ in pairs for f in (a, b)}
    if library is not None:
        vectors = library_vectors(library, files, engine.model_name)
    else:
        vectors = {file: largest_vector(engine, faces / file) for file in sorted(files)}
    right = Counter()
    total = Counter()
    for a, b, same in pairs:
        va, vb = vectors[a], vectors[b]
        said_same = va is not None and vb is not None and float(engine.distances(va, vb)[0, 0]) <= engine.threshold
        total[same] += 1
        right[same] += said_same == same
    return Verification(
        pairs=len(pairs), accuracy=(right[True] + right[False]) / len(pairs),
        same_recall=right[True] / max(total[True], 1), different_recall=right[False] / max(total[False], 1),
        threshold=engine.threshold, faceless=sum(v is None for v in vectors.values()),
    )


# -- (b) the user protocol ----------------------------------------------------------------------
@dataclass
class Protocol:
    right: int = 0
    wrong: int = 0
    missed: int = 0
    no_face: int = 0
    variants_right: int = 0
    variants_wrong: int = 0
    variants_missed: int = 0
    noface_faces: int = 0
    noface_guesses: int = 0
    group_faces: int = 0
    group_guesses: int = 0
    group_wrong: list[tuple[str, str, str]] = field(default_factory=list)
    """(photo, guessed name, distance) for names of people not in the photo."""
    group_unjudged: int = 0
    named: int = 0
    wrong_list: list[tuple[str, str, str, float]] = field(default_factory=list)
    missed_list: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def precision(self) -> float:
        return self.right / max(self.right + self.wrong, 1)

    @property
    def recall(self) -> float:
        return self.right / max(self.right + self.wrong + self.missed, 1)


def read_rows(folder: Path) -> list[dict]:
    path = folder / "faces.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def faces_of(library: Path, photo: str) -> list[dict]:
    rel = Path(photo)
    return [r for r in read_rows(library / rel.parent) if r["file"] == rel.name]


def largest(rows: list[dict]) -> dict | None:
    return max(rows, key=lambda r: float(r["w"]) * float(r["h"]), default=None)


def type_name(library: Path, photo: str, name: str) -> bool:
    """What a person does: open faces.csv, type ``name`` into the largest face's row, save."""
    rel = Path(photo)
    path = library / rel.parent / "faces.csv"
    if not path.exists():
        return False
    text = path.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    col = {c: i for i, c in enumerate(header)}
    mine = [r for r in body if r[col["file"]] == rel.name]
    if not mine:
        return False
    target = max(mine, key=lambda r: float(r[col["w"]]) * float(r[col["h"]]))
    target[col["name"]] = name
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *body])
    path.write_text(out.getvalue(), encoding="utf-8")
    return True


def copy_photos(faces: Path, library: Path) -> None:
    shutil.copytree(faces, library, ignore=lambda d, names: [n for n in names if Path(d) == faces and n in DATA_FILES])


def write_config(path: Path, margin: float | None, threshold: float | None) -> Path:
    lines = ["[metadata]", "enabled = false", "", "[engine]"]
    if margin is not None:
        lines.append(f"margin = {margin}")
    if threshold is not None:
        lines.append(f"threshold = {threshold}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(*argv: str) -> None:
    from facesidecar.cli.main import main

    status = main(list(argv))
    if status != 0:
        raise FacesidecarError(f"facesidecar {' '.join(argv)} exited with {status}")


def scan_and_name(faces: Path, work: Path, margin: float | None = None, threshold: float | None = None) -> Path:
    """Steps 1-3 of the protocol in ``work``; returns the library folder (the slow part)."""
    labels = read_labels(faces)
    library = work / "photos"
    copy_photos(faces, library)
    config = write_config(work / "config.toml", margin, threshold)
    run_cli("scan", "-q", "--config", str(config), str(library))
    for identity, files in sorted(labels.identities.items()):
        type_name(library, files[0], identity)
    # an editor's save is taken once it has settled (the store waits for a file younger than 1 s)
    time.sleep(1.1)
    run_cli("scan", "-q", "--config", str(config), str(library))
    return library


def count(faces: Path, library: Path) -> Protocol:
    """Step 4: compare the guesses in the sidecars with the ground truth."""
    labels = read_labels(faces)
    result = Protocol()
    for identity, files in sorted(labels.identities.items()):
        first = largest(faces_of(library, files[0]))
        result.named += bool(first and first["name"] == identity)
        for photo in files[1:]:
            _judge(result, photo, identity, largest(faces_of(library, photo)), "")
    for photo, identity in sorted(labels.variants.items()):
        _judge(result, photo, identity, largest(faces_of(library, photo)), "variants_")
    for photo in labels.noface:
        rows = faces_of(library, photo)
        result.noface_faces += len(rows)
        result.noface_guesses += sum(1 for r in rows if r["guess"] or r["name"])
    for photo, allowed in sorted(labels.groups.items()):
        rows = faces_of(library, photo)
        result.group_faces += len(rows)
        guessed = [r for r in rows if r["guess"]]
        result.group_guesses += len(guessed)
        if allowed is None:
            result.group_unjudged += len(guessed)
            continue
        result.group_wrong.extend((photo, r["guess"], r["distance"]) for r in guessed if r["guess"] not in allowed)
    return result


def _judge(result: Protocol, photo: str, identity: str, row: dict | None, prefix: str) -> None:
    if row is None:
        if not prefix:
            result.no_face += 1
            result.missed_list.append(f"{photo} (no face found)")
        setattr(result, f"{prefix}missed", getattr(result, f"{prefix}missed") + 1)
        return
    guess = row["guess"]
    if guess == identity:
        setattr(result, f"{prefix}right", getattr(result, f"{prefix}right") + 1)
    elif guess:
        setattr(result, f"{prefix}wrong", getattr(result, f"{prefix}wrong") + 1)
        if not prefix:
            result.wrong_list.append((photo, identity, guess, float(row["distance"] or "nan")))
    else:
        setattr(result, f"{prefix}missed", getattr(result, f"{prefix}missed") + 1)
        if not prefix:
            result.missed_list.append(photo)


def protocol(faces: Path, work: Path, margin: float | None = None, threshold: float | None = None) -> Protocol:
    started = time.monotonic()
    library = scan_and_name(faces, work, margin, threshold)
    result = count(faces, library)
    result.seconds = time.monotonic() - started
    return result


def report(ver: Verification | None, proto: Protocol | None) -> str:
    lines = []
    if ver is not None:
        lines.append(f"verification: {ver.accuracy:.1%} of {ver.pairs} pairs at threshold {ver.threshold} "
                     f"(same {ver.same_recall:.1%}, different {ver.different_recall:.1%}; {ver.faceless} photos without a face)")
    if proto is not None:
        p = proto
        lines += [
            f"protocol ({p.seconds:.0f} s): {p.named} people named on their photo 1",
            f"  other photos: {p.right} right, {p.wrong} wrong, {p.missed} without guess ({p.no_face} without a face)"
            f" -> precision {p.precision:.1%}, recall {p.recall:.1%}",
            f"  variants: {p.variants_right} right, {p.variants_wrong} wrong, {p.variants_missed} without guess",
            f"  no-face photos: {p.noface_faces} faces found, {p.noface_guesses} guesses",
            f"  group photos: {p.group_faces} faces, {p.group_guesses} guesses, {len(p.group_wrong)} for people "
            f"not present, {p.group_unjudged} where presence is not stated",
        ]
        lines += [f"  wrong: {photo} is {who}, guessed {guess} ({dist})" for photo, who, guess, dist in p.wrong_list]
        lines += [f"  wrong in group: {photo}: {guess} ({dist})" for photo, guess, dist in p.group_wrong]
        lines += [f"  missed: {m}" for m in p.missed_list]
    return "\n".join(lines)
