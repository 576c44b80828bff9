"""faces.csv through a real spreadsheet (LibreOffice Calc, headless): opened with formulas evaluated
and saved as CSV again, every name and file name comes back the same and no cell was evaluated
(issue 13, rule 6). Skipped, loudly, where LibreOffice is not installed
(``apt-get install libreoffice-calc-nogui``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from facesidecar.model import IGNORE, PhotoState
from facesidecar.store.csvfile import parse_csv, read_csv
from facesidecar.store.folder import FolderStore
from tests.store.helpers import face

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
NOT_TESTED = ("LibreOffice is not installed (apt-get install libreoffice-calc-nogui): the spreadsheet round trip "
              "of faces.csv is NOT tested")
if SOFFICE is None:
    warnings.warn(NOT_TESTED, stacklevel=1)  # in the warnings summary, not only in the skip list
pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("no_settle"),
    pytest.mark.skipif(SOFFICE is None, reason=NOT_TESTED),
]

IMPORT = "CSV:44,34,76,1,,1033,false,false,false,false,false,0,true"
"""Comma, double quote, UTF-8, from line 1, English, ..., token 13: evaluate formulas (the worst case)."""
EXPORT = "csv:Text - txt - csv (StarCalc):44,34,76,1,,1033,false,true,false,false,false"

NAMES = ["=1+1", "=HYPERLINK(\"http://example.invalid\",\"click\")", "+1+1", "-1+1", "@SUM(1,2)", IGNORE, "'t Hooft",
         "'=kept", "Smith, John \"Jack\"", "مهر\u200cآسا", "👩\u200d👩\u200d👧", "Zoë"]
FILES = ["=2+2.jpg", "-minus.jpg", "+plus.jpg", "@at.jpg", " spaced .jpg", "back\\slash.jpg", "new\nline.jpg",
         os.fsdecode(b"caf\xe9.jpg"), "100%.jpg", "a%41.jpg", "tab\tin.jpg", "plain.jpg"]


def through_calc(source: Path, out_dir: Path) -> bytes:
    """``source`` opened in LibreOffice Calc and saved as CSV (what a person's "open, save" does)."""
    profile = out_dir / "profile"
    result = subprocess.run(
        [SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", f"--infilter={IMPORT}",
         "--convert-to", EXPORT, "--outdir", str(out_dir / "saved"), str(source)],
        capture_output=True, text=True, timeout=300)
    saved = out_dir / "saved" / source.name
    assert saved.is_file(), f"LibreOffice saved nothing: {result.stdout}\n{result.stderr}"
    return saved.read_bytes()


@pytest.fixture
def folder(tmp_path) -> FolderStore:
    store = FolderStore(tmp_path / "album")
    store.folder.mkdir()
    with store.transaction() as txn:
        for i, (file, name) in enumerate(zip(FILES, NAMES, strict=True)):
            txn.state.photos[file] = PhotoState(file=file, faces=[face(0.1, name, fid=f"face{i}")])
    return store


def test_calc_evaluates_nothing_and_every_name_comes_back(folder, tmp_path):
    written = folder.csv_path.read_bytes()
    saved = through_calc(folder.csv_path, tmp_path)
    assert b"#NAME?" not in saved and b"\n2," not in saved and ",2," not in saved.decode()
    assert sorted((r.file, r.name) for r in parse_csv(saved)) == sorted(zip(FILES, NAMES, strict=True))
    assert read_csv(saved).problems == []
    folder.csv_path.write_bytes(saved)
    with folder.transaction() as txn:
        assert txn.changes == [] and txn.rejected == [] and txn.csv_problems == []
    assert sorted((r.file, r.name) for r in parse_csv(folder.csv_path.read_bytes())) == \
        sorted((r.file, r.name) for r in parse_csv(written))


def test_the_same_cells_unguarded_are_evaluated_by_calc(tmp_path):
    """The check above means something: Calc, as run here, does evaluate a bare formula cell."""
    raw = tmp_path / "faces.csv"
    raw.write_text("file,face_nr,name\na.jpg,1,=1+1\n=2+2.jpg,1,x\n", encoding="utf-8")
    saved = through_calc(raw, tmp_path).decode()
    assert "a.jpg,1,2" in saved and "=1+1" not in saved and "=2+2.jpg" not in saved
