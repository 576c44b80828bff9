"""clusters: clusters kept up to date change by change equal clusters recomputed from scratch."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from facesidecar.clusters import (
    ClusterChanges,
    ClusterKeeper,
    Linker,
    VectorIndex,
    content_label,
    group_label,
    groups_of,
    recluster,
)

THRESHOLD = 0.5
STEP = 0.3
"""Faces on a grid STEP apart: neighbours (and diagonal neighbours, 0.42) link, two steps (0.6) do not."""


def point(cell: int) -> np.ndarray:
    return np.array([cell % 6 * STEP, cell // 6 * STEP], np.float32)


def full_labels(faces: dict[str, np.ndarray], stored: dict[str, str], min_size: int) -> dict[str, str]:
    ids = sorted(faces)
    if not ids:
        return {}
    steps = recluster(ids, np.stack([faces[f] for f in ids]), [stored.get(f, "") for f in ids], "euclidean",
                      THRESHOLD, min_size)
    return [s for s in steps if s is not None][0]


operations = st.lists(st.tuples(st.sampled_from(["add", "add", "remove", "move", "name-cluster", "batch"]),
                                st.integers(0, 35), st.integers(0, 10**6)), min_size=1, max_size=40)


class Simulation:
    """Unnamed faces on the grid, changed the way the library reports changes."""

    def __init__(self, min_size: int):
        self.keeper = ClusterKeeper("euclidean", THRESHOLD, min_size)
        self.faces: dict[str, np.ndarray] = {}
        self.counter = 0

    def apply(self, op: str, cell: int, pick: int, changes: ClusterChanges) -> None:
        ids = sorted(self.faces)
        if op in ("add", "batch") or not ids:
            self.counter += 1
            face_id = f"{pick:07d}-{self.counter}"
            self.faces[face_id] = point(cell)
            changes.joined.add(face_id)
            if op == "batch" and ids:
                gone = ids[pick % len(ids)]
                del self.faces[gone]
                changes.left.add(gone)
            return
        face_id = ids[pick % len(ids)]
        if op == "remove":  # deleted, or named by a person: it leaves the unnamed faces
            del self.faces[face_id]
            changes.left.add(face_id)
        elif op == "move":  # a new vector (scanned again with another result), or moved folders
            self.faces[face_id] = point(cell)
            changes.left.add(face_id)
            changes.joined.add(face_id)
        elif self.keeper.label(face_id):  # name-cluster: every member of the group gets a name
            label = self.keeper.label(face_id)
            for member in self.keeper.members[label].copy():
                changes.relabeled[member] = f"Person {cell % 3}"

    def update(self, changes: ClusterChanges) -> None:
        self.keeper.update(changes, self.faces.get)


@settings(max_examples=150, deadline=None)
@given(operations, st.sampled_from([2, 3]))
def test_kept_clusters_equal_a_full_recomputation(ops, min_size):
    sim = Simulation(min_size)
    for op, cell, pick in ops:
        changes = ClusterChanges()
        sim.apply(op, cell, pick, changes)
        sim.update(changes)
        assert set(sim.keeper.labels) == set(sim.faces)
        assert sim.keeper.labels == full_labels(sim.faces, sim.keeper.labels, min_size)
        assert len(sim.keeper.index) == len(sim.faces)


@settings(max_examples=60, deadline=None)
@given(operations, operations, st.sampled_from([2, 3]))
def test_a_full_recomputation_taken_late_catches_up_with_the_changes_since(before, during, min_size):
    sim = Simulation(min_size)
    for op, cell, pick in before:
        changes = ClusterChanges()
        sim.apply(op, cell, pick, changes)
        sim.update(changes)
    snapshot = dict(sim.faces)
    ids = sorted(snapshot)
    steps = recluster(ids, np.stack([snapshot[f] for f in ids]) if ids else np.zeros((0, 2), np.float32),
                      [sim.keeper.label(f) for f in ids], "euclidean", THRESHOLD, min_size)
    for op, cell, pick in during:
        changes = ClusterChanges()
        sim.apply(op, cell, pick, changes)
        sim.update(changes)
    result = [s for s in steps if s is not None][0]
    sim.keeper.replace(result, snapshot, sim.faces.get)
    assert sim.keeper.labels == full_labels(sim.faces, sim.keeper.labels, min_size)


def test_a_face_joining_links_two_clusters_and_leaving_splits_them():
    keeper = ClusterKeeper("euclidean", THRESHOLD, 2)
    faces = {"a": point(0), "b": point(1), "d": point(3), "e": point(4)}
    keeper.update(ClusterChanges(joined=set(faces)), faces.get)
    assert keeper.label("a") == keeper.label("b") == content_label("a")
    assert keeper.label("d") == keeper.label("e") == content_label("d")
    faces["c"] = point(2)
    changed = keeper.update(ClusterChanges(joined={"c"}), faces.get)
    assert {keeper.label(f) for f in faces} == {content_label("a")}
    assert changed == {"c", "d", "e"}, "only the faces whose label changed are reported"
    del faces["c"]
    keeper.update(ClusterChanges(left={"c"}), faces.get)
    assert keeper.label("d") == content_label("d") and keeper.label("a") == content_label("a")
    faces["0"] = point(5)
    keeper.update(ClusterChanges(joined={"0"}), faces.get)
    assert keeper.label("0") == content_label("d"), "a group that grows keeps its label"


def test_labels_come_from_the_content():
    assert group_label(["b", "a", "c"], ["", "", ""], 2) == content_label("a")
    assert group_label(["b", "a", "c"], [content_label("b"), "", content_label("b")], 2) == content_label("b"), \
        "a group keeps the label its owner gave it"
    assert group_label(["b", "c", "d"], [content_label("c"), content_label("b"), content_label("a")], 2) == \
        content_label("b"), "merged groups: the smaller owner's label; a label whose owner left counts not"
    assert group_label(["b"], ["Zoe"], 2) == "", "too small to be a cluster"
    assert group_label(["a", "b", "c"], ["Zoe", "Ann", "Zoe"], 2) == "Zoe", "the name most members carry"
    assert group_label(["a", "b"], ["Zoe", "Ann"], 2) == "Ann", "ties: the first name"
    assert content_label("a").startswith("u") and content_label("a")[1:].isdigit()
    assert content_label("a") != content_label("b")


def test_linker_and_groups():
    linker = Linker(6)
    linker.link(np.array([5, 3, 1]), np.array([4, 2, 0]))
    linker.link(np.array([2]), np.array([5]))
    assert linker.roots().tolist() == [0, 0, 2, 2, 2, 2]
    vectors = np.stack([point(c) for c in (0, 1, 20, 21, 35)])
    assert sorted(sorted(g.tolist()) for g in groups_of(vectors, "euclidean", THRESHOLD)) == [[0, 1], [2, 3], [4]]


def test_vector_index_reuses_rows_and_finds_neighbours():
    index = VectorIndex("euclidean")
    for i in range(5):
        index.put(f"f{i}", point(i))
    index.remove("f2")
    index.put("g", point(2))
    assert len(index) == 5 and len(index.ids) == 5
    assert sorted(index.within(point(2)[None, :], THRESHOLD)[0]) == ["f1", "f3", "g"]


def test_recluster_links_chains_and_leaves_small_groups_out():
    ids = ["a", "b", "c", "d", "e", "f"]
    vectors = np.stack([point(c) for c in (0, 1, 2, 20, 21, 35)])
    steps = list(recluster(ids, vectors, [""] * 6, "euclidean", THRESHOLD, 2, rows=2))
    assert steps[:-1] == [None, None, None], "one step per two faces"
    assert steps[-1] == {"a": content_label("a"), "b": content_label("a"), "c": content_label("a"),
                         "d": content_label("d"), "e": content_label("d"), "f": ""}
    assert set(list(recluster(ids, vectors, [""] * 6, "euclidean", THRESHOLD, 4))[-1].values()) == {""}
    assert list(recluster([], np.zeros((0, 2), np.float32), [], "euclidean", THRESHOLD, 2)) == [{}]
