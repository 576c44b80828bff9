"""One persistent exiftool process, and how paths and failures cross its command line.

pyexiftool runs exiftool with ``-stay_open``, so a call costs one round trip instead of a Perl
start-up. This module makes that process safe for a daemon: a dead or hung exiftool is noticed,
killed and started again on the next call, and every failure is a MetadataError.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import secrets
import select
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import exiftool as pyexiftool
import exiftool.exiftool as _pyexiftool_core
from exiftool.exceptions import ExifToolException, ExifToolExecuteError

from ...errors import MetadataError
from ...store import confined

log = logging.getLogger(__name__)

READ_TIMEOUT = 300.0
"""Seconds without any output from exiftool before it is considered hung and restarted."""


def _read_until(fd: int, ending: bytes, block_size: int) -> bytes:
    """pyexiftool's reader, but one that notices a dead or hung exiftool.

    pyexiftool 0.5.6 loops forever when exiftool dies in the middle of a command (``os.read``
    keeps returning b""), which would hang the daemon. This replacement raises instead, and the
    :class:`ExifTool` wrapper then starts a fresh process.
    """
    chunks: list[bytes] = []
    tail = b""
    while not tail.rstrip().endswith(ending):
        ready, _, _ = select.select([fd], [], [], READ_TIMEOUT)
        if not ready:
            raise TimeoutError(f"exiftool gave no output for {READ_TIMEOUT:.0f} s")
        chunk = os.read(fd, block_size)
        if not chunk:
            raise BrokenPipeError("it exited in the middle of a command (killed or crashed)")
        chunks.append(chunk)
        tail = (tail + chunk)[-(len(ending) + 8):]
    return b"".join(chunks)


_pyexiftool_core._read_fd_endswith = _read_until


class ExifToolCommandError(MetadataError):
    """exiftool ran the command and reported failure (non-zero status); ``stderr`` says why."""

    def __init__(self, status: int, stderr: str) -> None:
        self.status = status
        self.stderr = stderr
        super().__init__(stderr_summary(stderr) or f"exit status {status}")


class ExifTool:
    """One persistent exiftool process (pyexiftool ``ExifToolHelper``).

    It starts on first use and restarts when it died or stopped answering, so one killed exiftool
    costs one failed call, never the daemon. Calls are serialized with a lock because the process
    speaks one command at a time. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, executable: str = "exiftool") -> None:
        self.executable = executable
        self._helper: pyexiftool.ExifToolHelper | None = None
        self._lock = threading.RLock()

    def __enter__(self) -> ExifTool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The process id of the running exiftool, if one runs (tests kill it)."""
        process = getattr(self._helper, "_process", None)
        return process.pid if process is not None and process.poll() is None else None

    def close(self) -> None:
        """Stop the exiftool process; the next call starts a new one."""
        with self._lock:
            helper, self._helper = self._helper, None
            if helper is None:
                return
            with warnings.catch_warnings():  # pyexiftool warns when the process had died already
                warnings.simplefilter("ignore")
                try:
                    helper.terminate()
                except (ExifToolException, OSError, ValueError):
                    _kill(helper)

    def _ensure(self) -> pyexiftool.ExifToolHelper:
        """The running helper, started (again) if needed."""
        if self._helper is not None and self.pid is None:
            log.warning("exiftool had stopped; starting it again")
            self.close()
        if self._helper is None:
            try:
                helper = pyexiftool.ExifToolHelper(executable=self.executable, common_args=[], encoding="utf-8")
                helper.run()
            except (FileNotFoundError, RuntimeError, ExifToolException) as exc:
                raise MetadataError(
                    f"cannot start exiftool ({self.executable}): {exc}; install it"
                    " (apt-get install libimage-exiftool-perl) or set its path"
                ) from None
            except OSError as exc:  # killed while starting (BrokenPipeError, TimeoutError)
                _kill(helper)
                raise MetadataError(f"exiftool failed while starting: {exc}; it is started again on the next call") from None
            self._helper = helper
        return self._helper

    def execute(self, *args: str | bytes) -> str:
        """Run one exiftool command and return what it printed.

        Raises ExifToolCommandError when exiftool reports failure. Any other failure (a dead, hung
        or garbled process) stops the process, so the next call starts clean, and is a MetadataError.
        """
        return self._run(args, raw_bytes=False)

    def execute_bytes(self, *args: str | bytes) -> bytes:
        """Like :meth:`execute` for binary output (``-b``: embedded previews)."""
        return self._run(args, raw_bytes=True)

    def _run(self, args: tuple[str | bytes, ...], raw_bytes: bool):
        with self._lock:
            helper = self._ensure()
            try:
                return helper.execute(*args, raw_bytes=raw_bytes)
            except ExifToolExecuteError as exc:
                stderr = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else str(exc.stderr or "")
                raise ExifToolCommandError(exc.returncode, stderr) from None
            except (OSError, ExifToolException, UnicodeDecodeError, ValueError) as exc:
                _kill(helper)
                self.close()
                raise MetadataError(f"exiftool failed: {exc}; it is started again on the next call") from None

    def execute_json(self, *args: str | bytes) -> list[dict]:
        """Run a reading command with ``-j`` and return exiftool's JSON (one dict per file)."""
        output = self.execute("-j", *args)
        if not output.strip():
            return []
        try:
            return json.loads(output)
        except json.JSONDecodeError as exc:
            raise MetadataError(f"exiftool printed invalid JSON ({exc})") from None

    @property
    def last_stderr(self) -> str:
        return str(getattr(self._helper, "last_stderr", "") or "")

    def version(self) -> str:
        return self.execute("-ver").strip()

    def has_mwg(self) -> bool:
        """Whether this exiftool can write MWG face regions (``XMP-mwg-rs:RegionInfo``)."""
        try:
            return "RegionInfo" in self.execute("-listw", "-XMP-mwg-rs:All").split()
        except ExifToolCommandError:
            return False


def _kill(helper: pyexiftool.ExifToolHelper) -> None:
    """Stop a helper's process without asking it (it may be hung or dead)."""
    process = getattr(helper, "_process", None)
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def path_arg(path: Path) -> bytes:
    """A path as exiftool gets it: absolute (a name may start with "-"), bytes (any encoding)."""
    raw = os.fsencode(os.path.abspath(path))
    if b"\n" in raw or b"\r" in raw:
        raise MetadataError(f"{path}: the file name contains a line break, which exiftool cannot be given; rename it")
    return raw


@contextlib.contextmanager
def source_arg(path: Path) -> Iterator[bytes]:
    """A file exiftool is to read, given as a path to the very file facesidecar opened and checked.

    exiftool is another process that takes paths, so a name inside a photo root could be swapped
    for a link between a check and exiftool's open. Instead the file is opened here through the
    confined layer (a regular file, reached without links) and exiftool gets ``/proc/<pid>/fd/<n>``
    of that open file, through a link in a private folder of ours that keeps the file's extension
    (exiftool tells a RAW format from its extension). XMP sidecars are capped at ``limits.max_xmp_mb``.
    """
    try:
        handle = confined.open_file(path)
    except confined.RefusedFile as exc:
        raise MetadataError(str(exc)) from None
    except FileNotFoundError:
        raise MetadataError(f"{path}: file not found (moved or deleted meanwhile?)") from None
    except OSError as exc:
        raise MetadataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    with handle:
        if Path(path).suffix.lower() == ".xmp":
            try:
                confined.check_size(handle, confined.limits().xmp, path)
            except confined.RefusedFile as exc:
                raise MetadataError(str(exc)) from None
        link = _private_folder() / f"{handle.fileno()}-{secrets.token_hex(4)}{_safe_suffix(path)}"
        os.symlink(confined.proc_path(handle.fileno()), link)
        try:
            yield path_arg(link)
        finally:
            link.unlink()


def _safe_suffix(path: Path) -> str:
    suffix = Path(path).suffix
    return suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", suffix) else ""


_private: Path | None = None


def _private_folder() -> Path:
    """An owner-only folder of this process outside every root, removed when the process ends."""
    global _private
    if _private is None or not _private.is_dir():
        _private = Path(tempfile.mkdtemp(prefix="facesidecar-exiftool-"))
        atexit.register(shutil.rmtree, _private, True)
    return _private


def stderr_summary(stderr: str) -> str:
    """exiftool's warnings and errors on one line, for a message that names the file."""
    return "; ".join(line.strip() for line in stderr.splitlines() if line.strip())
