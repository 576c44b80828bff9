"""Guessing at scale: 1 000 new faces against 100 000 and 1 000 000 confirmed faces.

Generated 128-d vectors shaped like dlib's: people with heavy-tailed photo counts (a few with
thousands of faces, many with a handful), 1-4 "looks" per person (modes 0.35 from the person's
centre), faces of one look 0.3-0.55 apart, different people about 0.9 apart, and 5 % look-alikes
(0.5-0.6 from another person). The probes are 80 % new faces of known people, 20 % strangers.

For each size, in a fresh process: build the gallery (float16) and its cell index, time the
open-set decision for 1 000 probes (best of 3; the probes are also the unnamed faces whose
look-alikes are asked, each in its own photo), read the peak memory (max RSS of the process), then
compare every decision with an exact float32 search over all faces by the same rule (streamed, after
the memory reading).

    .venv/bin/python bench/guess_scale.py [--sizes 100000 1000000] [--probes 1000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facesidecar import gallery as gallery_module  # noqa: E402
from facesidecar.gallery import Gallery, Unnamed, person_thresholds  # noqa: E402

DIM = 128
THRESHOLD, MARGIN = 0.6, 0.05
CHUNK = 16_384
SIGMA_CENTRE = 0.9 / np.sqrt(2 * DIM)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class World:
    """The generated people; faces are produced chunk by chunk, identically every time."""

    def __init__(self, known: int, seed: int = 8):
        rng = np.random.default_rng(seed)
        people = max(known // 40, 10)
        weights = rng.lognormal(0.0, 1.3, people)
        sizes = np.maximum(1, np.floor(weights / weights.sum() * known)).astype(np.int64)
        sizes[np.argmax(sizes)] += known - sizes.sum()
        self.sizes = sizes
        self.labels = np.repeat(np.arange(people), sizes)
        self.centres = rng.normal(0, SIGMA_CENTRE, (people, DIM)).astype(np.float32)
        twins = rng.choice(people, people // 20, replace=False)
        for twin in twins:
            other = rng.integers(people)
            offset = rng.normal(0, 1, DIM).astype(np.float32)
            self.centres[twin] = self.centres[other] + offset / np.linalg.norm(offset) * rng.uniform(0.5, 0.6)
        self.spread = rng.uniform(0.3, 0.55, people).astype(np.float32) / np.sqrt(2 * DIM)
        # 1-4 looks per person (age, glasses, light): modes about 0.35 from the person's centre
        self.looks = rng.integers(1, 5, people)
        directions = rng.normal(0, 1, (people, 4, DIM)).astype(np.float32)
        directions /= np.linalg.norm(directions, axis=2, keepdims=True)
        self.modes = self.centres[:, None, :] + directions * 0.35
        self.modes[self.looks == 1, 0] = self.centres[self.looks == 1]
        self.seed = seed
        self.names = [f"person{i}" for i in range(people)]

    def faces_of(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        look = (rng.random(len(labels)) * self.looks[labels]).astype(np.int64)
        faces = rng.standard_normal((len(labels), DIM), dtype=np.float32)
        faces *= self.spread[labels, None]
        faces += self.modes[labels, look]
        return faces

    def chunks(self):
        """(row offset, float32 faces) for all faces in label order."""
        for lo in range(0, len(self.labels), CHUNK):
            labels = self.labels[lo:lo + CHUNK]
            yield lo, self.faces_of(labels, np.random.default_rng((self.seed, lo)))

    def faces16(self) -> np.ndarray:
        out = np.empty((len(self.labels), DIM), np.float16)
        for lo, faces in self.chunks():
            out[lo:lo + len(faces)] = faces
        return out

    def probes(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Probes and who they are (-1: a stranger)."""
        rng = np.random.default_rng(self.seed + 1)
        known = int(count * 0.8)
        who = rng.integers(len(self.centres), size=known)
        faces = self.faces_of(who, rng)
        strangers = rng.normal(0, SIGMA_CENTRE, (count - known, DIM)).astype(np.float32)
        strangers += rng.normal(0, 1, strangers.shape).astype(np.float32) * (0.45 / np.sqrt(2 * DIM))
        return np.vstack([faces, strangers]).astype(np.float32), np.concatenate([who, np.full(count - known, -1)])


def exact_decisions(world: World, probes: np.ndarray) -> list[int]:
    """Exact float32 search over every face: the person guessed per probe (-1: none), by the open-set
    rule (each person's threshold, the margin, the look-alikes among the probes, one per photo)."""
    people = len(world.centres)
    per_person = np.full((len(probes), people), np.inf, np.float32)
    starts = np.concatenate([[0], np.cumsum(world.sizes)[:-1]])
    for lo, faces in world.chunks():
        hi = lo + len(faces)
        first = np.searchsorted(starts, lo, side="right") - 1
        last = np.searchsorted(starts, hi, side="left")
        bounds = np.clip(starts[first:last], lo, hi) - lo
        for p0 in range(0, len(probes), 100):
            block = probes[p0:p0 + 100]
            sq = (block * block).sum(1)[:, None] + (faces * faces).sum(1)[None, :] - 2 * block @ faces.T
            dist = np.sqrt(np.maximum(sq, 0))
            mins = np.minimum.reduceat(dist, bounds, axis=1)
            per_person[p0:p0 + 100, first:last] = np.minimum(per_person[p0:p0 + 100, first:last], mins)
    best = per_person.argmin(1)
    ordered = np.partition(per_person, 1, axis=1)
    bars = person_thresholds(world.sizes, THRESHOLD)
    ok = (ordered[:, 0] <= bars[best]) & (ordered[:, 1] - ordered[:, 0] >= MARGIN)
    between = np.sqrt(np.maximum((probes * probes).sum(1)[:, None] + (probes * probes).sum(1)[None, :]
                                 - 2 * probes @ probes.T, 0))
    np.fill_diagonal(between, np.inf)
    for i in np.nonzero(ok)[0]:
        nearer = np.nonzero(between[i] < ordered[i, 0])[0]
        asked = nearer[np.argsort(between[i, nearer])][:gallery_module.LOOKALIKES]
        agreeing = sum(1 for n in asked if best[n] == best[i] and ordered[n, 0] <= THRESHOLD)
        ok[i] = 2 * agreeing >= len(asked)
    return [int(b) if k else -1 for b, k in zip(best, ok, strict=True)]


def measure(known: int, count: int) -> dict:
    base = rss_mb()
    world = World(known)
    faces = world.faces16()
    started = time.perf_counter()
    gallery = Gallery.from_arrays(world.names, world.labels, faces, "euclidean", THRESHOLD, MARGIN)
    del faces
    index = gallery.index
    build = time.perf_counter() - started
    probes, truth = world.probes(count)
    photos = [str(i) for i in range(count)]
    times, cpu = [], []
    for _ in range(3):
        started, started_cpu = time.perf_counter(), time.process_time()
        guesses = gallery.guess(probes, photos=photos, unnamed=Unnamed(probes, photos))
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    plain = []
    for _ in range(3):
        started = time.perf_counter()
        gallery.guess(probes)
        plain.append(time.perf_counter() - started)
    peak = rss_mb()
    decided = [int(g.name[6:]) if g else -1 for g in guesses]
    exact = exact_decisions(world, probes)
    agree = sum(a == b for a, b in zip(decided, exact, strict=True))
    right = sum(d == t for d, t in zip(decided, truth, strict=True) if d >= 0)
    return {
        "known": known, "people": len(world.centres), "largest_person": int(world.sizes.max()),
        "cells": len(index.cell_starts), "probes": count, "build_s": build, "guess_s": min(times), "guess_cpu_s": min(cpu), "plain_s": min(plain),
        "peak_rss_mb": peak, "baseline_rss_mb": base, "gallery_mb": gallery.vectors.nbytes / 2**20,
        "agreement": agree / count, "guessed": sum(d >= 0 for d in decided),
        "guessed_exact": sum(d >= 0 for d in exact), "right": right,
        "wrong": sum(d >= 0 and d != t for d, t in zip(decided, truth, strict=True)),
        "strangers_guessed": sum(d >= 0 for d, t in zip(decided, truth, strict=True) if t < 0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.probes), default=lambda o: o.item()))
        return 0
    print(f"index from {gallery_module.INDEX_MIN:,} faces: cells of about {gallery_module.CELL_SIZE} faces, {gallery_module.CANDIDATE_CELLS} "
          f"candidate cells per probe, float16 rows from {gallery_module.FLOAT16_MIN:,} faces; model threshold {THRESHOLD} "
          f"(open-set per person), margin {MARGIN}, {gallery_module.LOOKALIKES} look-alikes asked")
    failed = False
    for size in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(size), "--probes", str(args.probes)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        limit = 0.1 if size <= 100_000 else 1.0
        failed |= r["guess_s"] >= limit or r["peak_rss_mb"] >= 600
        print(f"{r['probes']} probes vs {r['known']:>9,} faces of {r['people']:,} people (largest {r['largest_person']:,}, "
              f"{r['cells']:,} cells): guess {r['guess_s']:.3f} s (cpu {r['guess_cpu_s']:.3f} s; limit {limit} s; "
              f"peer in the same run, without asking look-alikes: {r['plain_s']:.3f} s), build {r['build_s']:.1f} s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB (gallery {r['gallery_mb']:.0f} MB, before {r['baseline_rss_mb']:.0f} MB)")
        print(f"    same decision as an exact float32 search over all faces: {r['agreement']:.2%}; "
              f"guessed {r['guessed']} (exact: {r['guessed_exact']}), right {r['right']}, wrong {r['wrong']}, "
              f"strangers guessed {r['strangers_guessed']}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
