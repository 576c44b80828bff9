"""photojob: a photo's bytes in, faces as plain values out; a broken photo is an ``error`` of that photo
and a broken engine an ``engine_error``, never "no faces"; batches stay small; the inline executor
stops when asked; engine configurations that give the same vectors share engines. Coloured squares
are the faces (tests/fake_engine.py)."""

from __future__ import annotations

import dataclasses
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from facesidecar.config import EngineSettings
from facesidecar.errors import EngineError
from facesidecar.imaging import PhotoBytes, read_photo
from facesidecar.photojob import BATCH_BYTES, Engines, InlineExecutor, PhotoJob, engine_key, run_job, take_batch

from .fake_engine import FakeEngine
from .photos import ALICE, BOB, make_photo

SETTINGS = EngineSettings(min_face_size=0)


@pytest.fixture
def photo(tmp_path) -> PhotoBytes:
    """Two faces, Alice left of Bob."""
    return read_photo(make_photo(tmp_path / "two.png", (ALICE, 40), (BOB, 40)))


def test_a_job_gives_the_faces_and_the_extra_models_vectors_of_the_same_boxes(photo, fake_engine):
    extra = FakeEngine(model_name="second", scale=10.0)
    result = run_job(PhotoJob(7, photo), SETTINGS, Engines(fake_engine, {"second": extra}))
    assert (result.key, result.model, result.error, result.engine_error) == (7, fake_engine.model_name, "", "")
    assert np.allclose([f.encoding for f in result.faces], [fake_engine.vector_of(ALICE), fake_engine.vector_of(BOB)])
    assert np.allclose(result.extra["second"], [extra.vector_of(ALICE), extra.vector_of(BOB)])
    assert result.stored_width > 0 and result.stored_height > 0 and result.peak_rss > 0


def test_a_broken_photo_is_an_error_naming_it_not_no_faces(fake_engine):
    result = run_job(PhotoJob(1, PhotoBytes(Path("/photos/broken.jpg"), b"not a photo")), SETTINGS, Engines(fake_engine))
    assert "broken.jpg" in result.error and result.engine_error == "" and result.faces == []


def test_a_failing_engine_is_an_engine_error_not_a_photo_error(photo, fake_engine, monkeypatch):
    def fail(image):
        raise EngineError("the model file is unreadable")

    monkeypatch.setattr(fake_engine, "detect", fail)
    result = run_job(PhotoJob(1, photo), SETTINGS, Engines(fake_engine))
    assert result.engine_error == "the model file is unreadable" and result.error == "" and result.faces == []


def job_of(size: int, key: int = 0) -> PhotoJob:
    return PhotoJob(key, PhotoBytes(Path(f"/photos/{key}.jpg"), bytes(size)))


def test_batches_are_bounded_by_count_and_bytes_but_take_at_least_one_photo():
    waiting = deque(job_of(10, n) for n in range(6))
    assert [j.key for j in take_batch(waiting)] == [0, 1, 2, 3] and len(waiting) == 2
    waiting = deque([job_of(BATCH_BYTES * 2, 0), job_of(BATCH_BYTES // 2, 1), job_of(BATCH_BYTES // 2, 2),
                     job_of(1, 3)])
    assert [j.key for j in take_batch(waiting)] == [0], "an oversized photo travels alone"
    assert [j.key for j in take_batch(waiting)] == [1, 2]
    assert [j.key for j in take_batch(waiting)] == [3] and not take_batch(waiting)


def test_the_inline_executor_stops_when_asked(photo, fake_engine):
    asked = []

    def should_stop() -> bool:
        asked.append(True)
        return len(asked) > 2

    executor = InlineExecutor(SETTINGS, lambda: Engines(fake_engine))
    results = list(executor.run((PhotoJob(n, photo) for n in range(5)), should_stop))
    assert [r.key for r in results] == [0, 1] and fake_engine.detections == 2


def test_thresholds_do_not_make_another_engine_but_the_model_does():
    assert engine_key(dataclasses.replace(SETTINGS, threshold=0.4, min_face_size=80)) == engine_key(SETTINGS)
    assert engine_key(dataclasses.replace(SETTINGS, model="other")) != engine_key(SETTINGS)
