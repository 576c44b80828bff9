"""How well each model tells the confirmed people apart: leave-one-out on the confirmed faces.

With several models side by side (``engine.extra_models``), a person wants to know which one to
trust before making it primary. For every confirmed face, the nearest *other* confirmed face under
a model names it if it lies within that model's threshold; precision is how often that name is
right, recall how many faces of people with two or more confirmed faces got their right name.
Pure: numpy only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .engines.base import pairwise_distances


@dataclass(frozen=True)
class ModelAgreement:
    model: str
    faces: int
    predicted: int
    correct: int
    answerable: int

    @property
    def precision(self) -> float | None:
        return self.correct / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.answerable if self.answerable else None

    def as_dict(self) -> dict:
        return {"model": self.model, "faces": self.faces, "predicted": self.predicted, "correct": self.correct,
                "precision": self.precision, "recall": self.recall}


def agreement(model: str, names: list[str], vectors: np.ndarray, metric: str, threshold: float) -> ModelAgreement:
    """Leave-one-out nearest-neighbour naming of ``vectors`` (one per confirmed face) under one model."""
    count = len(names)
    if count < 2:
        return ModelAgreement(model, count, 0, 0, 0)
    distances = pairwise_distances(metric, vectors, vectors)
    np.fill_diagonal(distances, np.inf)
    nearest = np.argmin(distances, axis=1)
    within = distances[np.arange(count), nearest] <= threshold
    labels = np.asarray(names, dtype=object)
    correct = int(np.sum(within & (labels[nearest] == labels)))
    sizes = Counter(names)
    answerable = sum(1 for n in names if sizes[n] > 1)
    return ModelAgreement(model, count, int(np.sum(within)), correct, answerable)
