"""Processes the tests start: stopped with Ctrl-C as at a terminal, and none left behind.

A test run started in the background by a non-interactive shell (``bash scripts/test.sh &``, as the
whole-suite runner is) ignores SIGINT, and every process it starts inherits that: Python then never
raises KeyboardInterrupt, so a ``facesidecar scan`` or ``review`` a test stops with SIGINT ran on
until the test's timeout. Those tests passed alone in a terminal and timed out in the full run.
"""

from __future__ import annotations

import os
import signal

import psutil

SESSION_MARK = "FACESIDECAR_TEST_SESSION"
"""Set in the environment of the test run: every process a test starts inherits it, even one whose
parent died (a Dask worker process whose nanny was killed), so the run can find what it left."""

OURS = ("facesidecar", "distributed", "dask", "multiprocessing", "exiftool")
"""Command-line words of the processes the tests start and must end (not a database server a
session fixture started and leaves running)."""


def sigint_default() -> None:
    """``preexec_fn`` of a child that the test stops with SIGINT: Ctrl-C's default action there,
    whatever this run ignores (see the module's docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stray_processes(mark: str) -> list[psutil.Process]:
    """Processes other than this one that carry the run's ``mark`` and look like ours."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(SESSION_MARK) != mark:
                continue
            command = " ".join(proc.cmdline())
            own_tracker = proc.ppid() == os.getpid() and "resource_tracker" in command  # ends with this run
        except psutil.Error:  # gone, or a zombie waiting for its parent
            continue
        if not own_tracker and any(word in command for word in OURS):
            found.append(proc)
    return found


def end_strays(mark: str, grace: float = 5.0) -> list[str]:
    """Give the run's stray processes ``grace`` seconds to end, kill the rest; their command lines."""
    strays = stray_processes(mark)
    _, alive = psutil.wait_procs(strays, timeout=grace)
    described = []
    for proc in alive:
        try:
            described.append(f"{proc.pid}: {' '.join(proc.cmdline())[:200]}")
            proc.kill()
        except psutil.Error:
            continue
    return described
