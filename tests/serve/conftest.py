"""A real ``serve`` app on 127.0.0.1 (a free port, in a thread) over a library of real photos."""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from facesidecar.compose import assemble_scanner
from facesidecar.config import Settings, with_roots
from facesidecar.scan import Scanner
from facesidecar.serve.app import EXTENSION, close_app, create_app

API_KEY = "test-key-0123456789abcdef"


@dataclasses.dataclass
class Served:
    url: str
    root: Path
    settings: Settings
    scanner: Scanner
    config: Path


def settings_for(tmp: Path, root: Path, **serve) -> Settings:
    settings = with_roots(Settings(), [str(root)])
    settings.metadata.enabled = False
    settings.state_dir = str(tmp / "state")
    for key, value in serve.items():
        setattr(settings.serve, key, value)
    return settings


def write_config(tmp: Path, settings: Settings) -> Path:
    """The same settings as a config file, for commands run next to the server."""
    path = tmp / "config.toml"
    path.write_text(f'state_dir = "{settings.state_dir}"\n[[roots]]\npath = "{settings.roots[0].path}"\n'
                    f'[metadata]\nenabled = false\n[serve]\nlearn_folder = "{settings.serve.learn_folder}"\n')
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory, shared_faces) -> Iterator[Served]:
    """The server, with a small maximum area and upload cap, learning into <root>/learned."""
    tmp = tmp_path_factory.mktemp("serve")
    root = tmp / "photos"
    (root / "album").mkdir(parents=True)
    shutil.copy(shared_faces / "group" / "16.jpg", root / "album" / "group16.jpg")
    settings = settings_for(tmp, root, maximum_area=1_000_000, max_upload_mb=2.0, learn_folder="learned")
    scanner = assemble_scanner(settings)
    scanner.scan_paths([root])
    app = create_app(settings, scanner, API_KEY)
    app.extensions[EXTENSION]["model"].load()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", root, settings, scanner, write_config(tmp, settings))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        close_app(app)
