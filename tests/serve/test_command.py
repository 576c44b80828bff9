"""``facesidecar serve`` as a user runs it: a process on a free port, the key from the environment,
names written into the learned photo by the real exiftool, stopped by SIGTERM as systemd does."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from facesidecar.cli.main import main

from .nextcloud_client import NextcloudClient

KEY = "cmd-test-key-abcdefghijklmnop"


def config(tmp_path, **serve: str) -> str:
    root = tmp_path / "photos"
    root.mkdir(exist_ok=True)
    lines = "".join(f'{k} = "{v}"\n' for k, v in serve.items())
    path = tmp_path / "config.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n[[roots]]\npath = "{root}"\n[serve]\n{lines}')
    return str(path)


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is installed by scripts/setup.sh")
def test_serve_command_learns_into_the_photos_and_stops_on_sigterm(tmp_path, shared_faces):
    cfg = config(tmp_path, learn_folder="learned")
    env = {**os.environ, "FACESIDECAR_API_KEY": KEY}
    proc = subprocess.Popen([sys.executable, "-m", "facesidecar", "serve", "--port", "0", "--config", cfg],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[2].rstrip("/")
        client = NextcloudClient(url, KEY)
        assert client.request("GET", "/welcome", []).json()["model"] == 3
        photo = (shared_faces / "george_w_bush" / "1.jpg").read_bytes()
        learned = client.multipart("/learn", [("person", None, None, "Zoë Ñúñez".encode()),
                                             ("file", "g.jpg", "image/jpeg", photo)], [f"x-api-key: {KEY}"])
        assert learned.status == 200, learned.body
        kept = tmp_path / "photos" / "learned" / learned.json()["file"]
        tags = json.loads(subprocess.run(["exiftool", "-j", "-XMP-iptcExt:PersonInImage", str(kept)],
                                         capture_output=True, text=True, check=True).stdout)[0]
        assert tags["PersonInImage"] in ("Zoë Ñúñez", ["Zoë Ñúñez"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert KEY not in proc.stdout.read() + proc.stderr.read()  # never logged
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def test_serve_will_not_start_without_a_good_key(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FACESIDECAR_API_KEY", raising=False)
    assert main(["serve", "--config", config(tmp_path)]) == 1
    assert "serve needs an API key" in capsys.readouterr().err
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    key_file.chmod(0o640)
    assert main(["serve", "--config", config(tmp_path, api_key_file=str(key_file))]) == 1
    assert "chmod 600" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "--api-key", KEY])  # there is no way to give the key on the command line
    monkeypatch.setenv("FACESIDECAR_API_KEY", KEY)
    assert main(["serve", "--config", config(tmp_path, learn_folder=str(tmp_path / "elsewhere"))]) == 1
    assert "must be a folder inside one of the roots" in capsys.readouterr().err
