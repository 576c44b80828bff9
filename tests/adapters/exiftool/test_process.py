"""The persistent exiftool process against the real exiftool: version, MWG support, restarts."""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest

from facesidecar.adapters.exiftool.process import ExifTool
from facesidecar.errors import MetadataError

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")


def test_version_and_mwg(exiftool):
    assert float(exiftool.version()) >= 12
    assert exiftool.has_mwg()


def test_missing_executable_is_a_clear_error():
    with ExifTool("/nonexistent/exiftool") as tool, pytest.raises(MetadataError, match="install it"):
        tool.version()


def test_idle_exiftool_killed_is_restarted(tmp_path):
    with ExifTool() as tool:
        tool.version()
        pid = tool.pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while tool.pid is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert tool.version() and tool.pid not in (None, pid)
