"""scan/status/reset through the real command line, plus --help and --version everywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from facesidecar.cli.main import COMMAND_MODULES, build_parser, main
from facesidecar.store.csvfile import parse_csv

from ..conftest import FACES

CLI = [sys.executable, "-m", "facesidecar"]


def run_cli(*args, check=True):
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_every_command_has_help_and_config_option():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(COMMAND_MODULES) <= {c.replace("-", "_") for c in commands}
    for name, sub in commands.items():
        text = sub.format_help()
        assert "--config" in text, name


def test_version_and_no_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and "facesidecar" in capsys.readouterr().out
    assert main([]) == 2


def test_bad_config_is_a_clear_error_without_traceback(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("[engine]\nthreshhold = 1\n")
    result = run_cli("status", "--config", str(bad), str(tmp_path), check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "threshhold" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("before", [True, False])
def test_global_options_work_before_and_after_the_command(tmp_path, before):
    config = tmp_path / "c.toml"
    config.write_text("[engine]\nmargin = 0.1\n")
    options = ["--config", str(config), "-v"]
    args = [*options, "status", str(tmp_path)] if before else ["status", str(tmp_path), *options]
    parsed = build_parser().parse_args(args)
    from facesidecar.cli.main import merge_global_options

    merged = merge_global_options(build_parser(), parsed)
    assert merged.config == str(config) and merged.verbose == 1
    missing = [a.replace(str(config), str(tmp_path / "missing.toml")) for a in args]
    result = run_cli(*missing, check=False)
    assert result.returncode == 1 and "missing.toml not found" in result.stderr


def test_verbose_counts_on_both_sides_and_two_configs_are_refused(tmp_path, capsys):
    from facesidecar.cli.main import merge_global_options

    parser = build_parser()
    assert merge_global_options(parser, parser.parse_args(["-v", "status", "-v"])).verbose == 2
    with pytest.raises(SystemExit):
        merge_global_options(parser, parser.parse_args(["--config", "a.toml", "status", "--config", "b.toml"]))
    assert "--config given twice" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["status", "people", "clusters", "confirm", "rename Old New", "review"])
def test_no_roots_and_no_path_is_an_error_not_a_walk_of_the_current_folder(tmp_path, command):
    config = tmp_path / "c.toml"
    config.write_text("[metadata]\nenabled = false\n")
    result = subprocess.run([*CLI, *command.split(), "--config", str(config)], capture_output=True, text=True,
                            timeout=300, cwd="/")
    assert result.returncode == 1, result.stdout
    assert "no photo folders: none given and no [[roots]] in " + str(config) in result.stderr


def test_missing_path_is_an_error(tmp_path):
    result = run_cli("scan", str(tmp_path / "nope"), check=False)
    assert result.returncode == 1 and "no such file or folder" in result.stderr


def test_scan_status_reset(tmp_path, shared_faces):
    root = tmp_path / "photos"
    shutil.copytree(shared_faces / "joe_biden", root / "biden")
    shutil.copy(shared_faces / "corrupt" / "2.jpg", root / "biden" / "broken.jpg")
    config = tmp_path / "c.toml"
    config.write_text("[metadata]\nenabled = false\n")
    scan = run_cli("scan", "--config", str(config), str(root))
    assert "3 photos" in scan.stdout and "1 errors" in scan.stdout
    assert "INFO: scan: 1 folders to bring up to date, 3 photos to scan" in scan.stderr, "progress without a terminal"
    assert "INFO: scan: 1/1 folders, 3/3 photos, done in" in scan.stderr
    status = json.loads(run_cli("status", "--config", str(config), "--json", str(root)).stdout)
    assert status["photos"] == 3 and status["faces"] >= 2 and status["errors"] == 1
    assert status["error_list"][0]["file"].endswith("broken.jpg")
    assert {d["reason"] for d in status["decisions"]} == {"nobody named"}, "why no face got a name"
    assert status["decisions"][0]["why"] == "no guess: nobody is named yet"
    text = run_cli("status", "--config", str(config), "--why", str(root)).stdout
    assert "broken.jpg" in text and "1.jpg #1: no guess: nobody is named yet" in text
    run_cli("reset", "--config", str(config), "--errors", str(root))
    again = run_cli("scan", "--config", str(config), str(root))
    assert "1 scanned" in again.stdout
    result = run_cli("reset", "--config", str(config), "--names", str(root), check=False)
    assert result.returncode == 1 and "--names only goes with --all" in result.stderr


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder with a photo on a read-only bind mount: what a read-only share or a folder outside the
    unit's ReadWritePaths= looks like (root ignores permission bits, not a read-only mount)."""
    folder = tmp_path / "photos" / "readonly"
    folder.mkdir(parents=True)
    shutil.copy(FACES / "barack_obama" / "1.jpg", folder / "1.jpg")
    mount = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
    if mount.returncode != 0:
        message = f"READ-ONLY FOLDER TEST SKIPPED: cannot bind-mount here ({mount.stderr.strip()})"
        print(f"\n{'!' * 20} {message}", flush=True)
        pytest.skip(message)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True, capture_output=True)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def test_a_read_only_folder_is_one_clear_error_listed_by_status_and_not_decoded_again(tmp_path, read_only_folder):
    from facesidecar.errors import SidecarError
    from facesidecar.store.atomic import write_atomic

    root = tmp_path / "photos"
    shutil.copytree(FACES / "joe_biden", root / "biden")
    config = tmp_path / "c.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n[metadata]\nenabled = false\n')
    for attempt in (1, 2):
        scan = run_cli("scan", "--config", str(config), str(root))
        errors = [line for line in scan.stderr.splitlines() if line.startswith("ERROR")]
        assert errors == [f"ERROR: cannot write {read_only_folder}/faces.csv: Read-only file system (under "
                          "systemd: the folder is not in the unit's ReadWritePaths=; run scripts/install-service.sh "
                          "again with this root). Its photos are scanned once it is writable; to skip it, add its "
                          "name to exclude in the config"], scan.stderr
        assert "previous version" not in scan.stdout + scan.stderr
        assert "1 errors" in scan.stdout
        scanned = 2 if attempt == 1 else 0
        assert f"({scanned} scanned," in scan.stdout, "the read-only folder's photo is never decoded"
    assert (root / "biden" / "faces.csv").exists()

    status = run_cli("status", "--config", str(config), str(root))
    assert "folders whose sidecars cannot be written" in status.stdout
    assert f"cannot write {read_only_folder}/faces.csv: Read-only file system" in status.stdout
    listed = json.loads(run_cli("status", "--json", "--config", str(config), str(root)).stdout)
    assert [f["folder"] for f in listed["unwritable_folders"]] == [str(read_only_folder)]

    with pytest.raises(SidecarError, match="Read-only file system; nothing was written"):
        write_atomic(read_only_folder / "faces.csv", b"x")


def test_a_bad_cell_costs_its_row_and_status_shows_it_until_a_clean_save(tmp_path, shared_faces):
    """Issue 13, rule 4: an `inf` typed into one row is reported naming file and line, the name typed
    into the other row of the same save lands, and `facesidecar status` lists the problem."""
    root = tmp_path / "photos"
    shutil.copytree(shared_faces / "joe_biden", root / "biden")
    config = tmp_path / "c.toml"
    config.write_text("[metadata]\nenabled = false\n")
    run_cli("scan", "--config", str(config), str(root))
    csv_path = root / "biden" / "faces.csv"
    lines = csv_path.read_text().splitlines()
    good, bad = lines[1].split(","), lines[2].split(",")
    good[6], bad[2], bad[6] = "Joe", "inf", "Eve\x1b[2J"
    csv_path.write_text("\n".join([lines[0], ",".join(good), ",".join(bad), *lines[3:]]) + "\n")
    scan = run_cli("scan", "--config", str(config), str(root))
    assert f"{csv_path} line 3: column x must be a number, got 'inf'" in scan.stderr
    assert "\x1b" not in scan.stderr + scan.stdout
    names = {(r.file, r.face_nr): r.name for r in parse_csv(csv_path.read_bytes())}
    assert names[(good[0], 1)] == "Joe" and len(names) == len(lines) - 1, "the good edit landed, no face was lost"
    status = json.loads(run_cli("status", "--config", str(config), "--json", str(root)).stdout)
    assert status["csv_problems"][0]["problem"].startswith(f"{csv_path} line 3: column x")
    assert "line 3: column x must be a number" in run_cli("status", "--config", str(config), str(root)).stdout
    csv_path.write_text(csv_path.read_text().replace(",Joe,", ",Joe Biden,"))
    run_cli("scan", "--config", str(config), str(root))
    assert json.loads(run_cli("status", "--config", str(config), "--json", str(root)).stdout)["csv_problems"] == []


def test_file_names_of_any_bytes_never_end_a_command_or_reach_the_terminal_raw(tmp_path):
    """A photo named with bytes that are not UTF-8 and an escape sequence, under a strict UTF-8
    stdout: scan and status list it, escaped, without a traceback (issue 13, rules 4 and 6)."""
    root = tmp_path / "photos"
    root.mkdir()
    (root / os.fsdecode(b"bad\xff\x1b[2J.jpg")).write_bytes(b"not a photo")
    photo = root / os.fsdecode(b"caf\xe9.jpg")
    shutil.copy(FACES / "joe_biden" / "1.jpg", photo)
    config = tmp_path / "c.toml"
    config.write_text("[metadata]\nenabled = false\n")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    for command in (["scan", str(root)], ["status", str(root)], ["name", str(photo), "1", "Joe"]):
        result = subprocess.run([*CLI, command[0], "--config", str(config), *command[1:]], capture_output=True,
                                text=True, errors="surrogateescape", env=env, timeout=300)
        output = result.stdout + result.stderr
        assert result.returncode == 0 and "Traceback" not in output, output
        assert "\x1b" not in output, output
    assert "bad\\udcff\\x1b[2J.jpg" in run_cli("status", "--config", str(config), str(root)).stdout
    assert [(r.file, r.name) for r in parse_csv((root / "faces.csv").read_bytes())] == [(photo.name, "Joe")]
    exported = tmp_path / "joe.json"
    run_cli("export", "--config", str(config), "Joe", "-o", str(exported), "--root", str(root))
    assert photo.name in json.dumps(json.loads(exported.read_text(encoding="utf-8")), ensure_ascii=False)
