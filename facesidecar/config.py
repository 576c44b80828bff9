"""Settings: packaged defaults < TOML file < environment < command-line flags.

Every key is declared once, in the dataclasses below, with its type and default; the TOML file is
validated against them so that a typo or a wrong type is an error naming the file, the key and
what is allowed, instead of a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .store import confined
from .store.confined import ReadLimits

CONFIG_ENV = "FACESIDECAR_CONFIG"
STATE_ENV = "FACESIDECAR_STATE_DIR"
"""The state folder when the config names none (the test suite points it at a temporary folder)."""
WORKERS_ENV = "FACESIDECAR_WORKERS"
"""``engine.workers`` when the config sets none: 1 analyses photos in the scanning process (the test
suite sets it, so that the commands and daemons it starts do not each load the model in a pool)."""
DEFAULT_STATE_DIR = "/var/lib/facesidecar"
DEFAULT_CONFIG_PATHS = (Path("/etc/facesidecar/config.toml"),)


@dataclass
class RootSettings:
    path: str = ""
    poll: bool = False
    poll_interval: float = 30.0


def _workers_from_env() -> int:
    """``$FACESIDECAR_WORKERS`` as the default of ``engine.workers`` (0 when unset)."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise ConfigError(f"${WORKERS_ENV} must be a whole number of worker processes (0: one per core, 1: this "
                          f"process analyses the photos), got {text!r}: correct or unset it")
    return int(text)


@dataclass
class EngineSettings:
    backend: str = "dlib"
    detector: str = "hog"
    model: str = "dlib_resnet_v1"
    extra_models: list[str] = field(default_factory=list)
    metric: str = ""
    threshold: float = 0.0
    margin: float = 0.05
    upsample: int = 1
    max_image_pixels: int = 4_000_000
    pixel_limit: int = 200_000_000
    decode_memory_mb: int = 768
    """Photos whose decoding would take more memory (bands, bit depth, decoder buffers) are refused."""
    min_face_size: int = 20
    workers: int = field(default_factory=_workers_from_env)
    """Worker processes that decode and analyse photos (0: one per core; fewer if daemon.memory_limit_mb
    cannot hold them; 1: no worker process, this process analyses them). Without the key:
    ``$FACESIDECAR_WORKERS``, else 0."""
    smallest_face: float = 0.05
    """The smallest face to find, as a share of the photo's shorter side: the detector runs at the
    resolution where such a face fills its window (0: at the decoded size, enlarged per ``upsample``)."""
    cluster_threshold: float = 0.5
    min_cluster_size: int = 2
    allow_downloads: bool = False
    weights_dir: str = ""


@dataclass
class MetadataSettings:
    enabled: bool = True
    keywords: bool = True
    regions: bool = True
    write_guesses: bool = False
    preserve_mtime: bool = False
    """A photo facesidecar wrote into is a changed file: catalogs (Immich, digiKam, PhotoPrism) rescan by mtime."""
    hierarchy_prefix: str = "People"
    import_existing: bool = True
    raw_sidecar: str = "auto"
    """The XMP sidecar created for a RAW file that has none: "auto", "IMG_1.CR2.xmp" or "IMG_1.xmp"."""


@dataclass
class MysqlSettings:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "facesidecar"
    database: str = "facesidecar"
    password_file: str = ""
    password_env: str = "FACESIDECAR_MYSQL_PASSWORD"
    ssl_ca: str = ""
    ssl_cert: str = ""
    ssl_key: str = ""
    ssl_verify_cert: bool = False
    connect_timeout: float = 5.0
    shared_gallery: bool = False


@dataclass
class ClusterSettings:
    """A Dask cluster that analyses photos (issue 18); empty ``scheduler``: this machine's worker processes."""

    scheduler: str = ""
    """The Dask scheduler's address, e.g. "tls://homeserver:8786" (or "tcp://…" on a trusted network)."""
    tls_ca_file: str = ""
    tls_client_cert: str = ""
    tls_client_key: str = ""
    require_encryption: bool = False
    connect_timeout: float = 10.0


@dataclass
class DaemonSettings:
    debounce_seconds: float = 2.0
    stable_seconds: float = 2.0
    memory_limit_mb: int = 1500
    log_level: str = "info"
    nice: int = 10
    queue_size: int = 100_000
    watchdog: bool = True


@dataclass
class ReviewSettings:
    bind: str = "127.0.0.1"
    port: int = 8765
    token: str = ""
    read_only: bool = False


@dataclass
class ServeSettings:
    bind: str = "127.0.0.1"
    port: int = 8766
    api_key_file: str = ""
    api_key_env: str = "FACESIDECAR_API_KEY"
    maximum_area: int = 0
    max_upload_mb: float = 20.0
    rate_limit: int = 120
    max_concurrent: int = 2
    queue_timeout: float = 120.0
    request_timeout: float = 60.0
    learn_folder: str = ""


@dataclass
class LimitSettings:
    """Size caps of the sidecars read from the photo folders (which anyone with write access there can fill)."""

    max_csv_mb: float = 64.0
    max_pkl_mb: float = 512.0
    max_xmp_mb: float = 32.0

    def read_limits(self) -> ReadLimits:
        return ReadLimits(csv=_bytes(self.max_csv_mb), pkl=_bytes(self.max_pkl_mb), xmp=_bytes(self.max_xmp_mb))


def _bytes(megabytes: float) -> int:
    return int(megabytes * (1 << 20))


@dataclass
class Settings:
    roots: list[RootSettings] = field(default_factory=list)
    exclude: list[str] = field(default_factory=lambda: ["@eaDir", ".Trash*", "#recycle", ".thumbnails"])
    extensions: list[str] = field(
        default_factory=lambda: [
            ".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".heic", ".heif",
            ".cr2", ".nef", ".arw", ".dng", ".orf", ".raf",
        ]
    )
    state_dir: str = field(default_factory=lambda: os.environ.get(STATE_ENV) or DEFAULT_STATE_DIR)
    engine: EngineSettings = field(default_factory=EngineSettings)
    metadata: MetadataSettings = field(default_factory=MetadataSettings)
    mysql: MysqlSettings = field(default_factory=MysqlSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    source: str = "(built-in defaults)"

    def __post_init__(self) -> None:
        """Every file access inside the roots is confined to them (store/confined.py)."""
        confined.configure(self.root_paths(), self.limits.read_limits())

    def root_paths(self) -> list[Path]:
        return [Path(r.path) for r in self.roots]

    def state_path(self) -> Path:
        """Where the program keeps its own files (locks, caches, logs): never in photo folders."""
        if self.state_dir and os.access(Path(self.state_dir).parent, os.W_OK):
            return Path(self.state_dir)
        return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local/state")) / "facesidecar"


_SCALAR_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def _describe(tp) -> str:
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        return f"a list of {_describe(item)}"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return _SCALAR_NAMES.get(tp, str(tp))


def _coerce(value, tp, where: str, source: str):
    """Check ``value`` against the declared type ``tp``; return it converted (ints pass as floats)."""
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {where} must be {_describe(tp)}, got {value!r}")
        return [_coerce(v, item, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if isinstance(value, str) and tp is RootSettings:
            value = {"path": value}
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {where} must be a table, got {value!r}")
        return _build(tp, value, where, source)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    is_bool = isinstance(value, bool)
    if not isinstance(value, tp) or (tp is not bool and is_bool):
        raise ConfigError(f"{source}: {where} must be {_describe(tp)}, got {value!r}")
    return value


def _build(cls, data: dict, where: str, source: str):
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            allowed = ", ".join(sorted(fields))
            prefix = f"[{where.split('[')[0]}] " if where else ""
            raise ConfigError(f"{source}: unknown key {prefix}{key!r}; allowed keys: {allowed}"
                              + _misplaced_hint(key, where))
        name = f"{where}.{key}" if where else key
        kwargs[key] = _coerce(value, hints[key], name, source)
    return cls(**kwargs)


def _tables_with(key: str) -> list[str]:
    """The tables (``""`` for the top level) where ``key`` is a valid key."""
    hints = typing.get_type_hints(Settings)
    places = [""] if key in hints and key != "source" else []
    for name, tp in hints.items():
        inner = typing.get_args(tp)[0] if typing.get_origin(tp) is list else tp
        if dataclasses.is_dataclass(inner) and key in {f.name for f in dataclasses.fields(inner)}:
            places.append(name)
    return places


def _misplaced_hint(key: str, where: str) -> str:
    """Why a valid key may have landed in the wrong table: in TOML every key after a ``[table]``
    header belongs to that table, so a top-level key written below ``[[roots]]`` is a roots key."""
    table = where.split("[")[0]
    places = [p for p in _tables_with(key) if p != table]
    if not where or not places:
        return ""
    header = f"[[{table}]]" if "[" in where else f"[{table}]"
    landed = f"TOML put it into {header} because it comes after that table's header"
    if "" in places:
        return f". '{key}' is a top-level key, but {landed}: move it above the first [table] of the file"
    belongs = " or ".join(f"[{p}]" for p in places)
    return f". '{key}' belongs in {belongs}, but {landed}: move it below {belongs.split(' or ')[0]}"


def parse_settings(text: str, source: str) -> Settings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    settings = _build(Settings, data, "", source)
    settings.source = source
    _check_choices(settings)
    return settings


def _check_choices(settings: Settings) -> None:
    source = settings.source
    if settings.engine.backend not in ("dlib", "deepface"):
        raise ConfigError(f"{source}: engine.backend must be 'dlib' or 'deepface', got {settings.engine.backend!r}")
    levels = ("debug", "info", "warning", "error")
    if settings.daemon.log_level.lower() not in levels:
        raise ConfigError(f"{source}: daemon.log_level must be one of {', '.join(levels)}")
    for root in settings.roots:
        if not root.path:
            raise ConfigError(f"{source}: every [[roots]] entry needs a path")
    sidecars = ("auto", "IMG_1.CR2.xmp", "IMG_1.xmp")
    if settings.metadata.raw_sidecar not in sidecars:
        raise ConfigError(f"{source}: metadata.raw_sidecar must be one of {', '.join(map(repr, sidecars))},"
                          f" got {settings.metadata.raw_sidecar!r}")
    engine = settings.engine
    if engine.max_image_pixels <= 0 or engine.pixel_limit <= 0 or engine.decode_memory_mb <= 0:
        raise ConfigError(f"{source}: engine.max_image_pixels, engine.pixel_limit and engine.decode_memory_mb"
                          " must be positive")
    cluster = settings.cluster
    if cluster.scheduler and "://" not in cluster.scheduler:
        raise ConfigError(f"{source}: cluster.scheduler must be an address like 'tls://host:8786' or "
                          f"'tcp://host:8786', got {cluster.scheduler!r}")
    if cluster.scheduler:
        check_cluster_tls(cluster.scheduler, cluster, source)
    if engine.workers < 0:
        raise ConfigError(f"{source}: engine.workers must be 0 (one per core) or more, got {engine.workers}")
    if not 0 <= engine.smallest_face < 1:
        raise ConfigError(f"{source}: engine.smallest_face is a share of the photo's shorter side, from 0 (off) "
                          f"to below 1 (0.05: a face a twentieth of it), got {engine.smallest_face}")
    limits = settings.limits
    if min(limits.max_csv_mb, limits.max_pkl_mb, limits.max_xmp_mb) <= 0:
        raise ConfigError(f"{source}: limits.max_csv_mb, limits.max_pkl_mb and limits.max_xmp_mb must be positive")
    serve = settings.serve
    if serve.maximum_area < 0 or serve.max_upload_mb <= 0 or serve.rate_limit < 0 or serve.max_concurrent < 1:
        raise ConfigError(f"{source}: serve.maximum_area and serve.rate_limit must be 0 or more, "
                          "serve.max_upload_mb positive and serve.max_concurrent at least 1")


def check_cluster_tls(scheduler: str, cluster: ClusterSettings, source: str) -> None:
    """A tls:// scheduler needs all three TLS files (Dask fails with a TypeError without a certificate
    of this machine), and ``require_encryption`` refuses a tcp:// one (Dask raises RuntimeError)."""
    files = {"tls_ca_file": cluster.tls_ca_file, "tls_client_cert": cluster.tls_client_cert,
             "tls_client_key": cluster.tls_client_key}
    missing = [name for name, value in files.items() if not value]
    if scheduler.startswith("tls://") and missing:
        raise ConfigError(f"{source}: the Dask scheduler {scheduler} speaks TLS: set {', '.join(f'cluster.{m}' for m in missing)} "
                          "in [cluster] (the CA that signed the cluster's certificates, this machine's certificate and its "
                          "key; README 'Using more machines' shows how to make them)")
    if cluster.require_encryption and not scheduler.startswith("tls://"):
        raise ConfigError(f"{source}: cluster.require_encryption is set, so the scheduler address must start with "
                          f"tls://, got {scheduler!r}")


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Settings from ``path``, else ``$FACESIDECAR_CONFIG``, else /etc/facesidecar, else defaults."""
    explicit = path or os.environ.get(CONFIG_ENV)
    if explicit:
        candidate = Path(explicit)
        if not candidate.is_file():
            raise ConfigError(f"config file {candidate} not found (from {'--config' if path else CONFIG_ENV})")
    else:
        candidate = next((p for p in DEFAULT_CONFIG_PATHS if p.is_file()), None)
        if candidate is None:
            return Settings()
    try:
        text = candidate.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {candidate} cannot be read: {exc}") from None
    return parse_settings(text, str(candidate))


def with_roots(settings: Settings, paths: list[str]) -> Settings:
    """A copy of ``settings`` whose roots are ``paths`` (for ``watch PATH…``)."""
    roots = [RootSettings(path=str(Path(p).resolve())) for p in paths]
    return dataclasses.replace(settings, roots=roots)


def settings_to_dict(settings: Settings) -> dict:
    data = dataclasses.asdict(settings)
    data.pop("source", None)
    return data


__all__ = [
    "Settings", "RootSettings", "EngineSettings", "MetadataSettings", "MysqlSettings",
    "ClusterSettings", "DaemonSettings", "check_cluster_tls", "LimitSettings", "ReviewSettings", "ServeSettings", "load_settings", "parse_settings", "with_roots",
    "settings_to_dict", "CONFIG_ENV", "STATE_ENV", "WORKERS_ENV",
]
