"""How fast and how big reading a hostile 50 MB faces.csv is (issue 13, rule 4), against peers in the
same run: Python's csv module alone (the floor: split cells, nothing checked) and pandas.read_csv (what
a data script would use; it does not check cells either).

    .venv/bin/python bench/csv_read.py [MEGABYTES]

Prints CPU seconds, rows/s and the peak of traced Python memory for each reader.
"""

from __future__ import annotations

import csv
import io
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facesidecar.store.csvfile import read_csv  # noqa: E402

HEADER = "file,face_nr,x,y,w,h,name,guess,distance,cluster,rev\n"
ROW = "ghost-{:07d}.jpg,1,0.1000,0.1000,0.2000,0.2000,Nobody At All,,,,1\n"
BAD = "bad-{:07d}.jpg,1,inf,0.1000,0.2000,0.2000,Eve,,,,1\n"


def faces_csv(megabytes: float) -> bytes:
    """``megabytes`` of rows of photos that do not exist, one bad cell in every 1000 rows."""
    count = int(megabytes * 2**20) // len(ROW.format(0))
    return (HEADER + "".join((BAD if i % 1000 == 999 else ROW).format(i) for i in range(count))).encode()


def measure(label: str, read, data: bytes) -> None:
    """CPU time of one untraced run, then the traced peak of a second one (tracing slows Python code)."""
    started = time.process_time()
    rows = read(data)
    cpu = time.process_time() - started
    tracemalloc.start()
    read(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<28} {rows:>9,} rows  {cpu:6.2f} s CPU  {rows / cpu:>10,.0f} rows/s  peak {peak / 2**20:6.0f} MB")


def facesidecar(data: bytes) -> int:
    read = read_csv(data)
    return len(read.rows) + len(read.problems)


def plain_csv(data: bytes) -> int:
    return len(list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))) - 1


def pandas(data: bytes) -> int:
    import pandas as pd

    return len(pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False))


def main() -> None:
    megabytes = float(sys.argv[1]) if len(sys.argv) > 1 else 50.0
    data = faces_csv(megabytes)
    print(f"faces.csv of {len(data) / 2**20:.0f} MB (rows of photos that do not exist, 1 bad cell per 1000 rows)")
    measure("facesidecar read_csv", facesidecar, data)
    measure("peer: csv.reader (no checks)", plain_csv, data)
    try:
        measure("peer: pandas.read_csv", pandas, data)
    except ImportError:
        print("peer: pandas.read_csv        not installed")


if __name__ == "__main__":
    main()
