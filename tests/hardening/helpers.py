"""Shared pieces of the hardening tests: the real CLI as a subprocess, configs, small real photos."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
PYTHON = PROJECT / ".venv" / "bin" / "python"
FACES = PROJECT / "tests" / "data" / "faces"
# 250 x 250 photos with one face each: the real dlib engine needs a few ms for them
SMALL = [FACES / "george_w_bush" / f"{n}.jpg" for n in range(1, 6)] + [FACES / "colin_powell" / "1.jpg"]


def small_photo(n: int = 0) -> Path:
    return SMALL[n % len(SMALL)]


def put_photo(target: Path, n: int = 0) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(small_photo(n), target)
    return target


def write_config(path: Path, root: Path | None = None, *, metadata: bool = True, state: Path | None = None,
                 extra: str = "") -> Path:
    roots = f'[[roots]]\npath = "{root}"\n' if root is not None else ""
    path.write_text(
        f'state_dir = "{state or path.parent / "state"}"\n{extra}{roots}'
        f'[metadata]\nenabled = {str(metadata).lower()}\n'
        '[daemon]\ndebounce_seconds = 0.2\nstable_seconds = 0.3\nnice = 0\nlog_level = "info"\n',
        encoding="utf-8",
    )
    return path


def wait_for_catch_up(state: Path, timeout: float = 90.0) -> None:
    """Until the daemon's status file says its start-up catch-up is over."""
    deadline = time.monotonic() + timeout
    while not any('"catchup_finished": true' in f.read_text(errors="replace") for f in state.glob("*.status.json")):
        assert time.monotonic() < deadline, f"the daemon never finished its catch-up (status in {state})"
        time.sleep(0.2)


def cli(*args: str | Path, config: Path, timeout: float = 300, env: dict | None = None,
        prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``facesidecar ARGS --config CONFIG`` as a user runs it; stdout and stderr as text."""
    command = [*prefix, str(PYTHON), "-m", "facesidecar", str(args[0]), "--config", str(config), *map(str, args[1:])]
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=PROJECT)


def tree_snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """path -> (size, mtime_ns, first bytes) of every file below ``folder`` (to prove nothing changed)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            info = path.stat()
            found[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns, path.read_bytes()[:4096])
    return found
