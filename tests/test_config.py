"""Config: validated TOML, clear errors naming the file and the key, --config and FACESIDECAR_CONFIG."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from facesidecar.config import CONFIG_ENV, WORKERS_ENV, load_settings, parse_settings
from facesidecar.errors import ConfigError

PROJECT = Path(__file__).resolve().parents[1]


def test_example_config_documents_exactly_the_defaults(monkeypatch):
    monkeypatch.delenv(WORKERS_ENV)  # the built-in defaults, not the suite's in-process setting
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



def test_workers_from_the_environment_when_the_config_sets_none(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert parse_settings("", "c.toml").engine.workers == 3
    assert parse_settings("[engine]\nworkers = 2\n", "c.toml").engine.workers == 2
    monkeypatch.setenv(WORKERS_ENV, "many")
    with pytest.raises(ConfigError, match=r"\$FACESIDECAR_WORKERS must be a whole number .* got 'many'"):
        parse_settings("", "c.toml")

# -- every documented snippet loads ----------------------------------------------------------------
DOCUMENTS = ("README.md", "systemd/README.md")
TABLE_HEADER = re.compile(r"^# (\[\[?[a-z_]+\]\]?)\s*$")
COMMENTED_KEY = re.compile(r"^# ([a-z_]+ = .*)$")


def toml_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```toml\n(.*?)^```", markdown, flags=re.S | re.M)


def uncommented_tables(example: str) -> dict[str, str]:
    """The example with one commented table uncommented in place, as a user would, per table."""
    lines = example.splitlines()
    variants = {}
    for start, line in enumerate(lines):
        header = TABLE_HEADER.match(line)
        if not header:
            continue
        end = start + 1
        while end < len(lines) and COMMENTED_KEY.match(lines[end]):
            end += 1
        edited = lines[:start] + [ln[2:] for ln in lines[start:end]] + lines[end:]
        variants[f"{header.group(1)} (line {start + 1})"] = "\n".join(edited) + "\n"
    return variants


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_toml_snippet_of_the_docs_loads(document):
    blocks = toml_blocks((PROJECT / document).read_text())
    assert blocks, f"{document} shows no ```toml snippet"
    for number, block in enumerate(blocks, start=1):
        parse_settings(block, f"{document}, snippet {number}")


def test_every_commented_table_of_the_example_loads_when_uncommented():
    variants = uncommented_tables((PROJECT / "config.example.toml").read_text())
    assert any(name.startswith("[[roots]]") for name in variants), "the example shows how to add a root"
    for name, text in variants.items():
        settings = parse_settings(text, f"config.example.toml with {name} uncommented")
        if name.startswith("[[roots]]"):
            assert settings.roots and settings.roots[0].path == "/srv/photos"


def test_a_top_level_key_below_a_table_says_which_table_it_landed_in():
    text = '[[roots]]\npath = "/srv/photos"\n\nexclude = ["@eaDir"]\n'
    with pytest.raises(ConfigError, match=r"unknown key \[roots\] 'exclude'.*top-level key.*\[\[roots\]\].*"
                                          r"move it above the first \[table\]"):
        parse_settings(text, "c.toml")
    with pytest.raises(ConfigError, match=r"'port' belongs in \[mysql\] or \[review\] or \[serve\], but TOML put it into \[engine\]"):
        parse_settings("[engine]\nport = 1\n", "c.toml")


def test_a_tls_scheduler_needs_the_three_tls_files_and_require_encryption_needs_tls():
    with pytest.raises(ConfigError, match=r"speaks TLS: set cluster.tls_client_cert, cluster.tls_client_key"):
        parse_settings('[cluster]\nscheduler = "tls://home:8786"\ntls_ca_file = "/etc/facesidecar/ca.pem"\n', "c.toml")
    with pytest.raises(ConfigError, match="require_encryption is set, so the scheduler address must start with tls://"):
        parse_settings('[cluster]\nscheduler = "tcp://home:8786"\nrequire_encryption = true\n', "c.toml")
