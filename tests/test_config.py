"""Config: validated TOML, clear errors naming the file and the key, --config and FACESIDECAR_CONFIG."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesidecar.config import CONFIG_ENV, load_settings, parse_settings
from facesidecar.errors import ConfigError

PROJECT = Path(__file__).resolve().parents[1]


def test_example_config_documents_exactly_the_defaults():
    example = parse_settings((PROJECT / "config.example.toml").read_text(), "config.example.toml")
    defaults = load_settings.__globals__["Settings"]()
    assert example.engine == defaults.engine
    assert example.metadata == defaults.metadata
    assert example.mysql == defaults.mysql
    assert example.daemon == defaults.daemon
    assert example.review == defaults.review
    assert example.serve == defaults.serve
    assert example.exclude == defaults.exclude and example.extensions == defaults.extensions


def test_roots_as_tables_or_strings():
    settings = parse_settings('[[roots]]\npath = "/a"\npoll = true\n', "c.toml")
    assert settings.roots[0].path == "/a" and settings.roots[0].poll
    assert parse_settings('roots = ["/b"]\n', "c.toml").roots[0].path == "/b"


@pytest.mark.parametrize("text,message", [
    ("[engine]\nthreshhold = 0.5\n", r"c.toml: unknown key \[engine\] 'threshhold'; allowed keys: .*threshold"),
    ("[engine]\nthreshold = 'low'\n", "c.toml: engine.threshold must be a number"),
    ("[metadata]\nenabled = 1\n", "metadata.enabled must be true or false"),
    ("[daemon]\nnice = true\n", "daemon.nice must be a whole number"),
    ("[engine]\nbackend = 'magic'\n", "engine.backend must be 'dlib' or 'deepface'"),
    ("colour = 'blue'\n", "unknown key 'colour'"),
    ("[engine\n", "not valid TOML"),
    ("[[roots]]\npoll = true\n", "needs a path"),
])
def test_bad_config_names_file_key_and_what_is_allowed(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings(text, "c.toml")


def test_config_from_flag_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text("[engine]\nmargin = 0.1\n")
    assert load_settings(path).engine.margin == 0.1
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert load_settings().engine.margin == 0.1
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="not found"):
        load_settings()
