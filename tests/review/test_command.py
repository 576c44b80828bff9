"""``facesidecar review`` as a user runs it: a server process that prints where it listens."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from ..processes import sigint_default
from .conftest import Lib


def start(lib: Lib, tmp_path, *extra: str, config: str = "") -> tuple[subprocess.Popen, str]:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'state_dir = "{tmp_path / "state"}"\n[metadata]\nenabled = false\n{config}')
    proc = subprocess.Popen([sys.executable, "-m", "facesidecar", "review", str(lib.root), "--port", "0",
                             "--config", str(cfg), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    line = proc.stdout.readline()
    if not line.startswith("review page: "):
        proc.kill()
        pytest.fail(f"no address printed: {line!r} {proc.stderr.read()}")
    return proc, line.removeprefix("review page: ").strip()


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr_text = proc.stderr.read()
        proc.stderr.close()


def test_review_serves_the_library_on_localhost(lib, tmp_path):
    proc, url = start(lib, tmp_path)
    try:
        assert url.startswith("http://127.0.0.1:") and "token" not in url
        page = urllib.request.urlopen(url + "clusters", timeout=20).read().decode()
        assert "3 faces in 3 photos" in page and f">{lib.greens}</a>" in page
    finally:
        assert stop(proc) == 0


def test_review_with_a_token_prints_it_and_wants_it(lib, tmp_path):
    proc, url = start(lib, tmp_path, "--read-only", config='[review]\ntoken = "tok-from-config-123"\n')
    try:
        assert url.endswith("/?token=tok-from-config-123")
        base = url.split("?")[0]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base, timeout=20)
        assert refused.value.code == 401
        request = urllib.request.Request(base, headers={"X-Facesidecar-Token": "tok-from-config-123"})
        page = urllib.request.urlopen(request, timeout=20).read().decode()
        assert "read-only" in page
    finally:
        assert stop(proc) == 0


def test_the_log_holds_no_person_name_and_no_token(named, tmp_path):
    """Issue 13 rule 8: request lines keep method, path and status, never the query string."""
    proc, url = start(named, tmp_path, config='[review]\ntoken = "tok-never-logged-456"\n')
    try:
        base = url.split("?")[0]
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())  # the token becomes a cookie
        browser.open(f"{base}person?name=Rita&token=tok-never-logged-456", timeout=20).read()
    finally:
        assert stop(proc) == 0
    log = proc.stderr_text
    assert '"GET /person" 200' in log
    assert "Rita" not in log and "tok-never-logged-456" not in log
