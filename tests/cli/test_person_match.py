"""forget/export match names without case and accents only after a confirmation, say "did you mean"
and exit non-zero when nothing matches; name-cluster prints a hint a shell can paste."""

from __future__ import annotations

import json
import shlex

import pytest

from facesidecar.cli.person_match import fold, match_person
from facesidecar.naming_commands import Person

from ..csvedit import rows

pytestmark = pytest.mark.usefixtures("no_settle", "commands_use_the_fake_engine")


def test_fold_ignores_case_and_accents():
    assert fold("Zoë  Ñúñez") == fold("zoe nunez") == "zoe nunez"
    assert fold("Straße") == fold("STRASSE")
    people = [Person("Zoë"), Person("ZOE"), Person("Zora")]
    match = match_person("zoe", people)
    assert match.exact is None and [p.name for p in match.similar] == ["Zoë", "ZOE"]
    assert match_person("Zoë", people).exact.name == "Zoë"


@pytest.fixture
def zoe(cli, scanned):  # noqa: F811
    assert cli("name", str(scanned / "a" / "alice1.png"), "1", "Zoë")[0] == 0
    return scanned


def test_forget_a_similar_name_needs_a_confirmation(cli, zoe):  # noqa: F811
    status, out, err = cli("forget", "zoe")
    assert status == 1 and "without case and accents it matches: 'Zoë' (1 confirmed" in err
    assert "not confirmed: give the exact name (facesidecar forget 'Zoë') or add --yes" in err
    assert rows(zoe / "a")[("alice1.png", 1)]["name"] == "Zoë"

    status, out, _ = cli("forget", "zoe", "--dry-run")
    assert status == 0 and "would erase for 'Zoë'" in out
    status, out, _ = cli("forget", "ZOE", "--yes")
    assert status == 0 and "erased for 'Zoë'" in out
    assert "Zoë" not in (zoe / "a" / "faces.csv").read_text()


def test_forget_or_export_of_nobody_fails_with_did_you_mean(cli, zoe):  # noqa: F811
    status, out, err = cli("forget", "Nobody")
    assert status == 1 and "nothing found for 'Nobody'" in out and "'facesidecar people' lists the names" in err
    status, _, err = cli("forget", "Zoe Q")
    assert status == 1 and "did you mean facesidecar forget 'Zoë'?" in err
    status, out, err = cli("export", "Nobody")
    assert status == 1 and out == "" and "nothing is held about 'Nobody'" in err


def test_export_exact_names_win_and_similar_ones_are_mentioned(cli, zoe):  # noqa: F811
    assert cli("name", str(zoe / "a" / "bob1.png"), "1", "ZOË")[0] == 0
    status, out, err = cli("export", "Zoë")
    data = json.loads(out)
    assert status == 0 and data["person"] == "Zoë" and len([f for f in data["faces"] if f["how"] == "confirmed"]) == 1
    assert "note: 'ZOË' (1 confirmed, 1 guessed) is similar but was left alone: facesidecar export 'ZOË'" in err
    status, out, err = cli("export", "zoe", "--yes")
    assert status == 1 and "export one person at a time" in err


def test_name_cluster_hint_can_be_pasted_into_a_shell(cli, scanned):  # noqa: F811
    clusters = json.loads(cli("clusters", "--json")[1])
    dave = next(c for c in clusters if any(s.endswith("dave1.png") for s in c["samples"]))
    status, out, _ = cli("name-cluster", dave["id"], "Dave O'Brien; rm -rf ~")
    hint = out.strip().splitlines()[-1]
    assert status == 0 and shlex.split(hint) == ["facesidecar", "confirm", "--name", "Dave O'Brien; rm -rf ~"]
