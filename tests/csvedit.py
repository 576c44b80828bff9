"""Editing faces.csv in tests the way a person in a text editor would."""

from __future__ import annotations

from pathlib import Path

from facesidecar.store.cells import from_cell


def with_name(data: bytes, file: str, face_nr: int, name: str) -> bytes:
    """faces.csv ``data`` with ``name`` typed into the name column of the row (file, face_nr)."""
    lines = data.decode("utf-8").split("\n")
    for i, line in enumerate(lines):
        cells = line.split(",")
        if cells[:2] == [file, str(face_nr)]:
            cells[6] = name
            lines[i] = ",".join(cells)
    return "\n".join(lines).encode("utf-8")


def type_name(folder: Path, file: str, face_nr: int, name: str) -> None:
    """Put ``name`` into the name column of the row (file, face_nr) and save the file in place."""
    path = folder / "faces.csv"
    path.write_bytes(with_name(path.read_bytes(), file, face_nr, name))


def rows(folder: Path) -> dict[tuple[str, int], dict]:
    """faces.csv as {(file, face_nr): row}, with guess/distance/cluster read from the raw file (the
    text cells as a spreadsheet shows them, store/cells.py)."""
    import csv

    with (folder / "faces.csv").open(newline="", encoding="utf-8") as handle:
        table = [{k: from_cell(v) for k, v in r.items()} for r in csv.DictReader(handle)]
    return {(r["file"], int(r["face_nr"])): r for r in table}
