"""faces.pkl loading under hostile bytes (issue 13 rule 5): amplifying pickles are refused within the
memory bound, and random mutations of a valid file are either refused or loaded, never a crash."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facesidecar.model import Box, Face, FolderState, PhotoState
from facesidecar.store.folder import FolderStore
from facesidecar.store.merge import render_rows
from facesidecar.store.pklfile import dumps_state, loads_state, memory_bound
from tests import bombs
from tests.hardening.helpers import PROJECT

PEAK = """
import json, pickle, sys
from tests import bombs
from facesidecar.store.pklfile import loads_state

def peak_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024

data = bombs.PKL_BOMBS[sys.argv[1]]()
before = peak_mb()
try:
    loads_state(data)
    outcome = "loaded"
except pickle.UnpicklingError as exc:
    outcome = str(exc)
print(json.dumps({"peak_mb": peak_mb() - before, "outcome": outcome, "size": len(data)}))
"""


@pytest.mark.parametrize("kind", sorted(bombs.PKL_BOMBS))
def test_an_amplifying_pickle_is_refused_within_the_memory_bound(kind):
    done = subprocess.run([sys.executable, "-c", PEAK, kind], capture_output=True, text=True, timeout=120,
                          cwd=PROJECT, check=True)
    result = json.loads(done.stdout)
    assert result["outcome"] != "loaded"
    assert result["peak_mb"] <= memory_bound(result["size"]) / (1 << 20), result


def test_a_refused_pickle_is_set_aside_and_the_state_rebuilt(tmp_path):
    store = FolderStore(tmp_path)
    store.pkl_path.write_bytes(bombs.pkl_shared_faces(200, 200))
    with store.transaction() as txn:
        assert txn.state.photos == {}
    assert len(list(tmp_path.glob("faces.pkl.bad-*"))) == 1
    assert loads_state(store.pkl_path.read_bytes()).photos == {}


def valid_state() -> FolderState:
    """Every kind of value faces.pkl holds: names, guesses, history, rejections, metadata, pending rows."""
    state = FolderState(csv_gen=3, csv_sha256="ab" * 32,
                        pending_rows=[{"file": "gone.jpg", "face_nr": 1, "box": [0.1, 0.1, 0.2, 0.2], "name": "Zoë"}])
    for n in range(3):
        photo = PhotoState(file=f"IMG_{n}.jpg", size=1000 + n, mtime_ns=10**18 + n, sha256="cd" * 32,
                           model="dlib_resnet_v1", width=640, height=480, orientation=6, scanned_at=1.5e9,
                           metadata_written={"people": [["Anna", [0.1, 0.2, 0.3, 0.4]]],
                                             "record": {"XMP-dc:Subject": ["Anna"]}})
        photo.faces = [
            Face(face_id=f"f{n}a", box=Box(0.1, 0.2, 0.3, 0.4), name="Anna", rev=2, name_history={1: "Ana"},
                 encodings={"dlib_resnet_v1": np.linspace(-1, 1, 128, dtype=np.float32)}, named_at=1.6e9),
            Face(face_id=f"f{n}b", box=Box(0.5, 0.5, 0.2, 0.2), guess="Bo", distance=0.41, cluster="c1",
                 not_names=["Anna"], encodings={"dlib_resnet_v1": np.zeros(128, dtype=np.float32)}),
        ]
        state.photos[photo.file] = photo
    return state


VALID = dumps_state(valid_state())

mutation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, len(VALID) - 1), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, len(VALID)), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, len(VALID) - 1), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.integers(0, len(VALID) - 1), st.just(0)),
)


def mutate(data: bytes, changes: list[tuple]) -> bytes:
    for kind, where, what in changes:
        where = min(where, len(data))
        if kind == "set" and where < len(data):
            data = data[:where] + bytes([what]) + data[where + 1:]
        elif kind == "insert":
            data = data[:where] + what + data[where:]
        elif kind == "delete":
            data = data[:where] + data[where + what:]
        elif kind == "truncate":
            data = data[:where]
    return data


@settings(max_examples=max(400, settings().max_examples), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation, min_size=1, max_size=6))
def test_a_mutated_faces_pkl_is_refused_or_loaded_never_a_crash(changes):
    data = mutate(VALID, changes)
    tracemalloc.start()
    try:
        state = loads_state(data)
    except pickle.UnpicklingError:
        state = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak <= memory_bound(len(data))
    if state is not None:  # what loads must also work: written back, rendered as faces.csv
        loads_state(dumps_state(state))
        render_rows(state)
