"""Benchmark: the metadata pass with one persistent exiftool vs one exiftool process per photo.

Both sides do the same job on their own copies of the same photos: write two names as keywords
(Subject, HierarchicalSubject, PersonInImage) and as MWG face regions. The persistent side is
:class:`facesidecar.adapters.exiftool.writer.MetadataWriter` with everything it does (read, plan, write a copy,
read it back, copy in place). The per-photo side is the naive plan: one ``exiftool`` command per
photo with the same tag arguments and ``-overwrite_original_in_place -P``, no reading or checking.

    .venv/bin/python bench/metadata_bench.py [--photos 50] [--source DIR]

Photos come from ``--source`` (JPEGs, copied) or are made with Pillow (1600x1200 noise + EXIF).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facesidecar.adapters.exiftool.plan import serialize_struct  # noqa: E402
from facesidecar.adapters.exiftool.process import ExifTool  # noqa: E402
from facesidecar.adapters.exiftool.writer import MetadataWriter  # noqa: E402
from facesidecar.config import MetadataSettings  # noqa: E402
from facesidecar.model import Box, PersonRegion  # noqa: E402
from facesidecar.regions import to_mwg_area  # noqa: E402

PEOPLE = [PersonRegion("Alice Example", Box(0.1, 0.2, 0.2, 0.25)), PersonRegion("Zoë Ñúñez", Box(0.6, 0.3, 0.15, 0.2))]
SIZE = (1600, 1200)


def make_photos(folder: Path, count: int, source: Path | None) -> list[Path]:
    """``count`` photos in ``folder``: copies of ``source``'s JPEGs (cycled) or generated ones."""
    folder.mkdir(parents=True)
    if source is not None:
        originals = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
        if not originals:
            raise SystemExit(f"{source}: no JPEG photos to copy")
        return [Path(shutil.copyfile(originals[i % len(originals)], folder / f"p{i:03}.jpg")) for i in range(count)]
    rng = np.random.default_rng(1)
    base = Image.fromarray(rng.integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8))
    first = folder / "p000.jpg"
    base.save(first, quality=90)
    return [first] + [Path(shutil.copy2(first, folder / f"p{i:03}.jpg")) for i in range(1, count)]


def per_photo_args(photo: Path) -> list[str]:
    """The same write as MetadataWriter.sync does for a fresh photo, as one command line."""
    names = [p.name for p in PEOPLE]
    info = {"AppliedToDimensions": {"W": SIZE[0], "H": SIZE[1], "Unit": "pixel"},
            "RegionList": [{"Area": to_mwg_area(p.box, 1), "Name": p.name, "Type": "Face"} for p in PEOPLE]}
    args = ["exiftool", "-q", "-overwrite_original_in_place", "-P"]
    for name in names:
        args += [f"-XMP-dc:Subject+={name}", f"-XMP-lr:HierarchicalSubject+=People|{name}",
                 f"-XMP-iptcExt:PersonInImage+={name}"]
    return [*args, f"-XMP-mwg-rs:RegionInfo={serialize_struct(info)}", str(photo)]


def bench_persistent(photos: list[Path]) -> float:
    with ExifTool() as tool:
        tool.version()  # start-up is paid once per daemon, not per photo: keep it out
        writer = MetadataWriter(tool, MetadataSettings())
        start = time.perf_counter()
        for photo in photos:
            writer.sync(photo, PEOPLE, 1, SIZE, {})
        return time.perf_counter() - start


def bench_per_photo(photos: list[Path]) -> float:
    start = time.perf_counter()
    for photo in photos:
        subprocess.run(per_photo_args(photo), check=True)
    return time.perf_counter() - start


def bench_noop(photos: list[Path], records: dict[Path, dict]) -> float:
    """A second pass where nothing changed: the persistent process only reads."""
    with ExifTool() as tool:
        tool.version()
        writer = MetadataWriter(tool, MetadataSettings())
        start = time.perf_counter()
        for photo in photos:
            writer.sync(photo, PEOPLE, 1, SIZE, records.get(photo, {}))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=50)
    parser.add_argument("--source", type=Path, help="folder (searched recursively) of JPEGs to copy (default: generated photos)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        persistent = make_photos(Path(tmp) / "persistent", args.photos, args.source)
        per_photo = make_photos(Path(tmp) / "per_photo", args.photos, args.source)
        t_persistent = bench_persistent(persistent)
        t_per_photo = bench_per_photo(per_photo)
        with ExifTool() as tool:
            writer = MetadataWriter(tool, MetadataSettings())
            records = {p: writer.sync(p, PEOPLE, 1, SIZE, {}) for p in persistent}
        t_noop = bench_noop(persistent, records)
        size_mb = sum(p.stat().st_size for p in persistent) / len(persistent) / 1e6
    n = args.photos
    print(f"metadata pass, {n} photos of {size_mb:.1f} MB, exiftool {subprocess.run(['exiftool', '-ver'], capture_output=True, text=True).stdout.strip()}")
    print(f"{'mode':<44}{'seconds':>9}{'photos/s':>10}")
    rows = [
        ("persistent exiftool (sync: read+write+check)", t_persistent),
        ("one exiftool process per photo (write only)", t_per_photo),
        ("persistent exiftool, second pass (no change)", t_noop),
    ]
    for label, seconds in rows:
        print(f"{label:<44}{seconds:>9.2f}{n / seconds:>10.1f}")
    print(f"speed-up of the persistent process on writes: {t_per_photo / t_persistent:.1f}x")


if __name__ == "__main__":
    main()
