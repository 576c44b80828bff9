"""One exiftool process shared by the adapter's tests of a module (starting one takes a while)."""

from __future__ import annotations

import pytest

from facesidecar.adapters.exiftool.process import ExifTool


@pytest.fixture(scope="module")
def exiftool():
    with ExifTool() as tool:
        yield tool
