"""model: the stored state survives a round trip through plain data (what faces.pkl holds) and refuses
an unknown format; boxes overlap as intersection over union; faces.csv numbers visible faces left to
right; a photo replaced on disk is told from the one its state was made from; reports add up without
counting an error twice and name each error's file."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest

from facesidecar.model import IGNORE, Box, Face, FolderState, PhotoState, ScanReport, best_overlap
from facesidecar.store.pklfile import PlainDataUnpickler


def a_face(face_id: str, x: float, **fields) -> Face:
    return Face(face_id=face_id, box=Box(x, 0.2, 0.1, 0.1), **fields)


def test_the_state_survives_plain_data_with_nothing_but_builtins():
    face = a_face("f", 0.3, encodings={"m": np.arange(4, dtype=np.float32)}, name="Anna", rev=3,
                  name_history={2: "Ann", 3: "Anna"}, not_names=["Bea"], saved_file=(8, 99),
                  distance=0.25, why={"reason": "named"})
    state = FolderState({"a.jpg": PhotoState(file="a.jpg", size=10, faces=[face], inode=5)}, csv_gen=4,
                        pending_rows=[{"file": "b.jpg"}], csv_problems=["row 3 left out"])
    plain = state.to_plain()
    again = FolderState.from_plain(PlainDataUnpickler(io.BytesIO(pickle.dumps(plain))).load())  # refuses any global
    restored = again.photos["a.jpg"].faces[0]
    assert np.array_equal(restored.encodings["m"], face.encodings["m"])
    assert (restored.name_history, restored.saved_file, restored.not_names) == ({2: "Ann", 3: "Anna"}, (8, 99), ["Bea"])
    assert again.to_plain() == plain


def test_an_unknown_format_is_refused_and_a_malformed_file_id_dropped():
    with pytest.raises(ValueError, match="unknown faces.pkl format"):
        FolderState.from_plain({"format": 999, "photos": {}})
    with pytest.raises(ValueError, match="list"):
        FolderState.from_plain([])
    plain = a_face("f", 0.1).to_plain() | {"saved_file": ["8", 99]}
    assert Face.from_plain(plain).saved_file is None


def test_boxes_overlap_as_intersection_over_union():
    box = Box(0.0, 0.0, 0.2, 0.2)
    assert box.iou(box) == 1.0 and box.iou(Box(0.5, 0.5, 0.1, 0.1)) == 0.0
    assert box.iou(Box(0.1, 0.0, 0.2, 0.2)) == pytest.approx(1 / 3)
    near, far = a_face("near", 0.31), a_face("far", 0.6)
    assert best_overlap(Box(0.3, 0.2, 0.1, 0.1), [far, near], floor=0.5) is near
    assert best_overlap(Box(0.3, 0.2, 0.1, 0.1), [far], floor=0.5) is None


def test_visible_faces_are_numbered_left_to_right_and_ignored_ones_still_count():
    photo = PhotoState(file="a.jpg", faces=[a_face("right", 0.7), a_face("gone", 0.1, rejected=True),
                                             a_face("left", 0.2, name=IGNORE), a_face("off", 0.4, forgotten=True)])
    assert [f.face_id for f in photo.visible_faces] == ["left", "right"]
    assert not photo.visible_faces[0].confirmed


def test_a_replaced_file_is_told_from_the_one_the_state_was_made_from(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(b"first")
    photo = PhotoState(file="a.jpg")
    assert photo.same_inode_as(os.stat(path)), "nothing recorded yet: taken as the same file"
    photo.take_stat(os.stat(path))
    replacement = tmp_path / "b.jpg"
    replacement.write_bytes(b"other")
    os.utime(replacement, ns=(photo.mtime_ns, photo.mtime_ns))
    replacement.replace(path)
    info = os.stat(path)
    assert photo.same_file_as(info.st_size, info.st_mtime_ns) and not photo.same_inode_as(info)


def test_reports_add_up_and_each_error_names_its_file():
    total = ScanReport(folders=1, faces=2, errors=[("/p/a.jpg", "cannot decode")])
    total.add(ScanReport(folders=1, faces=3, errors=[("/p/a.jpg", "cannot decode"), ("/p/b.jpg", "/p/b.jpg: too big")]))
    assert (total.folders, total.faces) == (2, 5)
    assert total.error_lines() == ["/p/a.jpg: cannot decode", "/p/b.jpg: too big"]
    assert "2 errors" in total.summary()
