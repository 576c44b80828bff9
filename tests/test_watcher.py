"""Classifying events, debouncing with a fake clock, stability of partial files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
)

from facesidecar.config import Settings
from facesidecar.watcher import (
    Change,
    ChangeKind,
    Classifier,
    Debouncer,
    Job,
    Priority,
    is_ignored_name,
    looks_complete,
    own_temp_prefix,
    skip_folder,
    stored_echoes,
)

JPEG_END = b"\xff\xd9"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def root(tmp_path) -> Path:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    return tmp_path


@pytest.fixture
def classifier(root) -> Classifier:
    settings = Settings()
    return Classifier(root, settings.extensions, settings.exclude)


def write_photo(path: Path, size: int = 100, complete: bool = True) -> Path:
    path.write_bytes(b"\xff\xd8" + b"x" * size + (JPEG_END if complete else b""))
    return path


# -- names -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [
    "IMG_1.jpg.part", "upload.tmp", ".~lock.faces.csv#", "~$faces.csv", ".davfs.tmp1", ".faces.csv.swp",
    ".faces.csv.tmp-12-abcd", ".hidden.jpg", "faces.pkl", "IMG_2.jpg_exiftool_tmp", "photo.jpg.crdownload",
])
def test_temporary_and_partial_names_are_ignored(name):
    assert is_ignored_name(name)


@pytest.mark.parametrize("name", ["IMG_1.jpg", "faces.csv", "Zoë.HEIC"])
def test_real_names_pass(name):
    assert not is_ignored_name(name)


# -- classification --------------------------------------------------------------------------------
def kinds(changes: list[Change]) -> list[tuple[str, str]]:
    return [(c.kind.value, c.path.name) for c in changes]


def test_new_photo_is_a_file_change(classifier, root):
    path = str(root / "a" / "IMG_1.jpg")
    for event in (FileCreatedEvent(path), FileModifiedEvent(path), FileClosedEvent(path)):
        assert kinds(classifier.classify(event)) == [("file", "IMG_1.jpg")]
    assert classifier.classify(FileOpenedEvent(path)) == []


@pytest.mark.parametrize("name", ["IMG_1.jpg.part", ".~lock.faces.csv#", "faces.pkl", "notes.txt", ".x.jpg"])
def test_irrelevant_files_give_no_change(classifier, root, name):
    assert classifier.classify(FileCreatedEvent(str(root / "a" / name))) == []


def test_deleted_photo_is_a_removal(classifier, root):
    assert kinds(classifier.classify(FileDeletedEvent(str(root / "a" / "x.png")))) == [("removed", "x.png")]


def test_csv_edit_is_a_csv_change(classifier, root):
    (change,) = classifier.classify(FileModifiedEvent(str(root / "a" / "faces.csv")))
    assert change.is_csv and change.kind is ChangeKind.FILE


def test_final_rename_of_an_upload_is_a_new_photo(classifier, root):
    event = FileMovedEvent(str(root / "a" / "IMG_1.jpg.part"), str(root / "a" / "IMG_1.jpg"))
    assert kinds(classifier.classify(event)) == [("file", "IMG_1.jpg")]
    event = FileMovedEvent(str(root / "a" / ".IMG_1.jpg.Xy12"), str(root / "a" / "IMG_1.jpg"))  # rsync
    assert kinds(classifier.classify(event)) == [("file", "IMG_1.jpg")]


def test_our_own_csv_writes_are_not_changes(classifier, root):
    folder = root / "a"
    temp = folder / f"{own_temp_prefix()}ab12cd34"
    assert classifier.classify(FileMovedEvent(str(temp), str(folder / "faces.csv"))) == []
    assert classifier.classify(FileMovedEvent(str(folder / "faces.csv"), str(temp))) == []  # renameat2 exchange


def test_another_writers_csv_rename_is_a_change(classifier, root):
    folder = root / "a"
    other = folder / f"{own_temp_prefix(os.getpid() + 1)}ab12cd34"
    assert kinds(classifier.classify(FileMovedEvent(str(other), str(folder / "faces.csv")))) == [("file", "faces.csv")]
    libreoffice = folder / "lu1234abcd.tmp"
    assert kinds(classifier.classify(FileMovedEvent(str(libreoffice), str(folder / "faces.csv")))) == [("file", "faces.csv")]


def test_a_save_into_a_gone_writers_temp_file_is_a_csv_change(classifier, root):
    """A person's in-place save landed in the faces.csv a killed writer moved aside (issue 20):
    only a transaction merges it, so it must reach the queue like an edit of faces.csv."""
    folder = root / "a"
    orphan = str(folder / f"{own_temp_prefix(999_999)}ab12cd34")
    for event in (FileCreatedEvent(orphan), FileModifiedEvent(orphan), FileClosedEvent(orphan)):
        (change,) = classifier.classify(event)
        assert change.is_csv and change.kind is ChangeKind.FILE and change.folder == folder
    assert classifier.classify(FileDeletedEvent(orphan)) == [], "its removal after the merge is no new work"
    ours = str(folder / f"{own_temp_prefix()}ab12cd34")
    assert classifier.classify(FileModifiedEvent(ours)) == [], "a live writer merges its own temp file"


def test_move_between_folders_links_both(classifier, root):
    src, dest = root / "a" / "1.jpg", root / "b" / "1.jpg"
    removed, arrived = classifier.classify(FileMovedEvent(str(src), str(dest)))
    assert (removed.kind, removed.path, removed.link) == (ChangeKind.REMOVED, src, root / "b")
    assert (arrived.kind, arrived.path, arrived.link) == (ChangeKind.FILE, dest, root / "a")


def test_folder_events(classifier, root):
    assert kinds(classifier.classify(DirCreatedEvent(str(root / "new")))) == [("tree", "new")]
    assert kinds(classifier.classify(DirDeletedEvent(str(root / "a")))) == [("vanished", "a")]
    gone, arrived = classifier.classify(DirMovedEvent(str(root / "a"), str(root / "c")))
    assert (gone.kind, arrived.kind) == (ChangeKind.VANISHED, ChangeKind.TREE)
    assert gone.link == root / "c" and arrived.link == root / "a"


def test_synthetic_child_events_of_a_moved_folder_are_covered_by_the_folder(classifier, root):
    event = FileMovedEvent(str(root / "a" / "1.jpg"), str(root / "c" / "1.jpg"), is_synthetic=True)
    assert classifier.classify(event) == []


def test_excluded_hidden_and_outside_paths_are_ignored(classifier, root, tmp_path_factory):
    assert classifier.classify(FileCreatedEvent(str(root / "@eaDir" / "x.jpg"))) == []
    assert classifier.classify(FileCreatedEvent(str(root / ".thumbs" / "x.jpg"))) == []
    assert classifier.classify(DirCreatedEvent(str(root / "a" / "#recycle"))) == []
    outside = tmp_path_factory.mktemp("elsewhere") / "x.jpg"
    assert classifier.classify(FileCreatedEvent(str(outside))) == []


def test_nofaces_marker(classifier, root):
    marker = str(root / "a" / ".nofaces")
    assert classifier.classify(FileCreatedEvent(marker)) == []
    assert kinds(classifier.classify(FileDeletedEvent(marker))) == [("tree", "a")]


def test_skip_folder_looks_up_to_the_root(root):
    (root / "a" / "deep").mkdir()
    assert not skip_folder(root / "a" / "deep", [root])
    (root / "a" / ".nofaces").touch()
    assert skip_folder(root / "a" / "deep", [root])
    assert not skip_folder(root / "b", [root])


# -- jobs ------------------------------------------------------------------------------------------
def test_job_merge_keeps_the_urgent_priority_and_trees_win():
    a, b = Path("/p/a"), Path("/p/b")
    merged = Job(Priority.CSV, folders=frozenset({a}), csv_only=True).merge(Job(Priority.PHOTO, folders=frozenset({b})))
    assert merged.priority is Priority.CSV and not merged.csv_only and merged.folders == {a, b}
    covered = merged.merge(Job(Priority.RESCAN, trees=frozenset({Path("/p")})))
    assert covered.folders == frozenset() and covered.trees == {Path("/p")}


# -- debouncing ------------------------------------------------------------------------------------
@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def jobs() -> list[Job]:
    return []


@pytest.fixture
def debouncer(clock, jobs) -> Debouncer:
    return Debouncer(jobs.append, debounce_seconds=1.0, stable_seconds=2.0, clock=clock)


def test_photo_is_handed_on_once_quiet_and_stable(debouncer, clock, jobs, root):
    photo = write_photo(root / "a" / "1.jpg")
    debouncer.add([Change(ChangeKind.FILE, photo)])
    clock.advance(1.5)
    assert debouncer.poll() == []  # quiet, but not stable for 2 s yet
    clock.advance(0.6)
    (job,) = debouncer.poll()
    assert job == Job(Priority.PHOTO, folders=frozenset({root / "a"}))
    assert debouncer.pending == 0 and jobs == [job]


def test_a_growing_upload_waits(debouncer, clock, root):
    photo = write_photo(root / "a" / "1.jpg", 10, complete=False)
    debouncer.add([Change(ChangeKind.FILE, photo)])
    for size in (20, 30, 40):
        clock.advance(1.5)
        with photo.open("ab") as handle:
            handle.write(b"y" * size)
        os.utime(photo, ns=(int(clock.now * 1e9), int(clock.now * 1e9)))
        assert debouncer.poll() == []
    with photo.open("ab") as handle:
        handle.write(JPEG_END)
    clock.advance(1.0)
    assert debouncer.poll() == []  # changed at the last look
    clock.advance(2.1)
    assert len(debouncer.poll()) == 1


def test_a_truncated_jpeg_gets_a_grace_period(debouncer, clock, root):
    photo = write_photo(root / "a" / "1.jpg", complete=False)
    assert not looks_complete(photo)
    debouncer.add([Change(ChangeKind.FILE, photo)])
    clock.advance(2.5)
    assert debouncer.poll() == []
    clock.advance(6.0)
    assert len(debouncer.poll()) == 1  # handed on: the scanner records the error


def test_bursts_for_one_folder_become_one_job(debouncer, clock, root):
    for n in range(20):
        debouncer.add([Change(ChangeKind.FILE, write_photo(root / "a" / f"{n}.jpg"))])
        clock.advance(0.1)
    clock.advance(2.5)
    assert len(debouncer.poll()) == 1


def test_a_move_becomes_one_job_for_both_folders(debouncer, clock, root, classifier):
    dest = write_photo(root / "b" / "1.jpg")
    debouncer.add(classifier.classify(FileMovedEvent(str(root / "a" / "1.jpg"), str(dest))))
    debouncer.add([Change(ChangeKind.FILE, write_photo(root / "a" / "2.jpg"))])
    clock.advance(3)
    (job,) = debouncer.poll()
    assert job.folders == {root / "a", root / "b"} and job.priority is Priority.PHOTO
    assert job.ordered_folders() == [root / "b", root / "a"]  # where the photo arrived goes first


def test_csv_edit_is_csv_only_and_first_in_line(debouncer, clock, root):
    csv = root / "a" / "faces.csv"
    csv.write_text("file,face_nr\n")
    debouncer.add([Change(ChangeKind.FILE, csv)])
    clock.advance(3)
    (job,) = debouncer.poll()
    assert job.csv_only and job.priority is Priority.CSV


def test_csv_edit_with_new_photos_is_a_full_job(debouncer, clock, root):
    csv = root / "a" / "faces.csv"
    csv.write_text("file,face_nr\n")
    debouncer.add([Change(ChangeKind.FILE, csv), Change(ChangeKind.FILE, write_photo(root / "a" / "1.jpg"))])
    clock.advance(3)
    (job,) = debouncer.poll()
    assert not job.csv_only and job.priority is Priority.CSV


def test_deleted_photo_and_vanished_folder_need_no_stability(debouncer, clock, root):
    debouncer.add([Change(ChangeKind.REMOVED, root / "a" / "1.jpg"), Change(ChangeKind.VANISHED, root / "gone")])
    clock.advance(1.1)
    assert {f for job in debouncer.poll() for f in job.folders} == {root / "a", root / "gone"}


def test_new_folder_is_walked(debouncer, clock, root):
    debouncer.add([Change(ChangeKind.TREE, root / "a")])
    debouncer.add([Change(ChangeKind.FILE, write_photo(root / "a" / "1.jpg"))])
    clock.advance(3)
    (job,) = debouncer.poll()
    assert job.trees == {root / "a"} and job.folders == frozenset()


def test_skipped_folders_give_no_job(clock, jobs, root):
    debouncer = Debouncer(jobs.append, debounce_seconds=0.5, stable_seconds=0.5, clock=clock,
                          skip_folder=lambda folder: folder.name == "a")
    debouncer.add([Change(ChangeKind.FILE, write_photo(root / "a" / "1.jpg"))])
    clock.advance(1)
    assert debouncer.poll() == [] and debouncer.pending == 0


def test_debouncer_thread_starts_and_stops(root, jobs):
    debouncer = Debouncer(jobs.append, debounce_seconds=0.05, stable_seconds=0.05)
    debouncer.start()
    try:
        debouncer.add([Change(ChangeKind.FILE, write_photo(root / "a" / "1.jpg"))])
        for _ in range(100):
            if jobs:
                break
            import time

            time.sleep(0.02)
    finally:
        debouncer.stop()
    assert len(jobs) == 1


def test_a_folder_that_never_falls_quiet_is_processed_in_parts(clock, jobs, root):
    debouncer = Debouncer(jobs.append, debounce_seconds=1.0, stable_seconds=1.0, clock=clock, max_wait_seconds=10)
    for n in range(30):  # a phone syncing one photo every 0.5 s for 15 s
        photo = write_photo(root / "a" / f"{n}.jpg", complete=False)
        debouncer.add([Change(ChangeKind.FILE, photo)])
        clock.advance(0.5)
        debouncer.poll()
        if n < 29:
            with photo.open("ab") as handle:
                handle.write(JPEG_END)
    assert len(jobs) == 1  # after 10 s, with the photos finished by then
    assert debouncer.pending == 1  # the photo still arriving waits in a group of its own
    with (root / "a" / "29.jpg").open("ab") as handle:
        handle.write(JPEG_END)
    clock.advance(1.1)
    debouncer.poll()
    clock.advance(1.1)
    debouncer.poll()
    assert len(jobs) == 2 and debouncer.pending == 0


def test_copy_then_delete_between_folders_is_one_job(debouncer, clock, root):
    """Explorer over SMB and davfs2 "move" by copying and deleting: still one job, arrival first."""
    debouncer.add([Change(ChangeKind.FILE, write_photo(root / "b" / "IMG_7.jpg"))])
    debouncer.add([Change(ChangeKind.FILE, write_photo(root / "b" / "IMG_8.jpg"))])
    debouncer.add([Change(ChangeKind.REMOVED, root / "a" / "IMG_7.jpg")])
    clock.advance(3)
    (job,) = debouncer.poll()
    assert job.ordered_folders() == [root / "b", root / "a"]
    debouncer.add([Change(ChangeKind.REMOVED, root / "a" / "IMG_9.jpg")])
    debouncer.add([Change(ChangeKind.FILE, write_photo(root / "b" / "IMG_1.jpg"))])  # another name
    clock.advance(3)
    assert len(debouncer.poll()) == 2


def test_unchanged_files_are_echoes_and_give_no_job(clock, jobs, root):
    photo = write_photo(root / "a" / "1.jpg")
    recorded = {photo}
    debouncer = Debouncer(jobs.append, debounce_seconds=0.5, stable_seconds=0.5, clock=clock,
                          echoes=lambda folder, paths: {p for p in paths if p in recorded})
    debouncer.add([Change(ChangeKind.FILE, photo)])
    clock.advance(1)
    assert debouncer.poll() == []
    debouncer.add([Change(ChangeKind.FILE, photo), Change(ChangeKind.REMOVED, root / "a" / "2.jpg")])
    clock.advance(1)
    assert len(debouncer.poll()) == 1  # something went: the job runs


def test_photo_changes_wait_while_their_folder_is_processed_but_csv_edits_do_not(clock, jobs, root):
    busy = {root / "a"}
    debouncer = Debouncer(jobs.append, debounce_seconds=0.5, stable_seconds=0.5, clock=clock,
                          busy=lambda folder: folder in busy)
    csv = root / "b" / "faces.csv"
    csv.write_text("x\n")
    debouncer.add([Change(ChangeKind.FILE, write_photo(root / "a" / "1.jpg"))])
    clock.advance(1)
    assert debouncer.poll() == []
    busy.add(root / "b")
    debouncer.add([Change(ChangeKind.FILE, csv)])
    clock.advance(1)
    assert [j.folders for j in debouncer.poll()] == [frozenset({root / "b"})]
    busy.clear()
    assert [j.folders for j in debouncer.poll()] == [frozenset({root / "a"})]


def test_stored_echoes_compare_with_faces_pkl(tmp_path):
    from facesidecar.model import PhotoState
    from facesidecar.store.folder import FolderStore

    photo = write_photo(tmp_path / "1.jpg")
    other = write_photo(tmp_path / "2.jpg")
    info = photo.stat()
    with FolderStore(tmp_path).transaction() as txn:
        txn.state.photos["1.jpg"] = PhotoState(file="1.jpg", size=info.st_size, mtime_ns=info.st_mtime_ns)
    csv = tmp_path / "faces.csv"
    assert stored_echoes(tmp_path, [photo, other, csv]) == {photo, csv}
    csv.write_text(csv.read_text() + "\n")
    assert stored_echoes(tmp_path, [photo, csv]) == {photo}
    assert stored_echoes(tmp_path / "missing", [photo]) == set()
