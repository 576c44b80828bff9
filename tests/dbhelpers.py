"""A real MariaDB for the mirror and GDPR tests, people as colours of the photo factory.

Each test gets its own database (``facesidecar_test_<random>``) and its own user with a random
password, both dropped afterwards. Without a server on 127.0.0.1:3306 (and none that can be
started) the tests are skipped with a loud reason.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from facesidecar.config import EngineSettings, MetadataSettings, MysqlSettings, RootSettings, Settings

HOST, PORT = "127.0.0.1", 3306
PASSWORD_ENV = "FACESIDECAR_TEST_MYSQL_PASSWORD"


def _root_connect():
    import mysql.connector

    return mysql.connector.connect(host=HOST, port=PORT, user="root", password="", use_pure=True,
                                   connection_timeout=3, autocommit=True)


def _server_up() -> bool:
    with contextlib.suppress(Exception):
        _root_connect().close()
        return True
    return False


@pytest.fixture(scope="session", name="mariadb_server")
def mariadb_server_fixture():
    """Root access to the local server, starting it if it is installed but down."""
    if not _server_up() and Path("/usr/sbin/mariadbd").exists() and shutil.which("start-stop-daemon"):
        subprocess.run(["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/mariadbd"],
                       check=False, capture_output=True)
        for _ in range(60):
            if _server_up():
                break
            time.sleep(0.5)
    if not _server_up():
        pytest.skip("NO MARIADB: no server on 127.0.0.1:3306 with root access and none could be started; "
                    "the mirror and GDPR tests did NOT run")
    return _root_connect


@pytest.fixture(name="mysql_db")
def mysql_db_fixture(mariadb_server, monkeypatch):
    """MysqlSettings for a fresh database and user of this test; the password is in the environment."""
    suffix = secrets.token_hex(4)
    database, user = f"facesidecar_test_{suffix}", f"fs_test_{suffix}"
    password = "pw-" + secrets.token_hex(12)
    root = mariadb_server()
    cur = root.cursor()
    cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    for host in ("127.0.0.1", "localhost", "%"):
        cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'")
        cur.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'{host}'")
    monkeypatch.setenv(PASSWORD_ENV, password)
    settings = MysqlSettings(enabled=True, host=HOST, port=PORT, user=user, database=database,
                             password_env=PASSWORD_ENV, connect_timeout=3)
    settings.test_password = password  # type: ignore[attr-defined]  # for the tests that look for leaks
    try:
        yield settings
    finally:
        with contextlib.suppress(Exception):
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        for host in ("127.0.0.1", "localhost", "%"):
            with contextlib.suppress(Exception):
                cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
        root.close()


def query(settings: MysqlSettings, sql: str, args=()) -> list[tuple]:
    """Rows of ``sql`` in the test database, as root."""
    import mysql.connector

    conn = mysql.connector.connect(host=HOST, port=PORT, user="root", password="", database=settings.database,
                                   use_pure=True, autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute(sql, args)
        return cur.fetchall() if cur.with_rows else []
    finally:
        conn.close()


def all_table_bytes(settings: MysqlSettings) -> bytes:
    """Every value of every table, as bytes, to search for names and encodings."""
    out = []
    for (table,) in query(settings, "SHOW TABLES"):
        for row in query(settings, f"SELECT * FROM `{table}`"):
            for value in row:
                out.append(value if isinstance(value, (bytes, bytearray)) else str(value).encode())
    return b"\x00".join(bytes(v) for v in out)


# -- people as colours (faces drawn by tests/photos.py, told apart by tests/fake_engine.py) --------

PEOPLE = {"red": (200, 30, 30), "green": (30, 160, 30), "blue": (30, 30, 200), "gold": (210, 170, 20)}


def scan_settings(root: Path, mysql: MysqlSettings | None = None, metadata: bool = False) -> Settings:
    return Settings(
        roots=[RootSettings(path=str(root))],
        state_dir=str(root.parent / "state"),
        engine=EngineSettings(min_face_size=1, margin=0.05),
        metadata=MetadataSettings(enabled=metadata),
        mysql=mysql or MysqlSettings(),
    )


# -- a TCP proxy the test can switch off ---------------------------------------------------------


class Proxy:
    """Forwards a local port to the server; ``stop`` closes the port and every connection."""

    def __init__(self, target: tuple[str, int] = (HOST, PORT)):
        self.target = target
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._running = False

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener, self._running = listener, True
        self._spawn(self._accept)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while self._running:
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=3)
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            source.settimeout(None)
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._running = False
        for sock in [self._listener, *self._sockets]:
            if sock is None:
                continue
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads, self._sockets, self._listener = [], [], None


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


# -- a private server the test may kill ---------------------------------------------------------


class PrivateMariaDB:
    """A MariaDB of the test's own (own data folder and port), to kill -9 and start again."""

    def __init__(self, base: Path):
        self.base = base
        self.datadir = base / "data"
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return Path("/usr/sbin/mariadbd").exists() and shutil.which("mariadb-install-db") is not None

    def install(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True)

    def start(self) -> None:
        log = open(self.base / "server.log", "ab")  # noqa: SIM115 - handed to the server process
        self.process = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.datadir}", "--user=root", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.base / 'sock'}", f"--pid-file={self.base / 'pid'}",
             "--skip-log-bin", "--innodb-buffer-pool-size=16M"],
            stdout=log, stderr=log)
        log.close()
        import mysql.connector

        for _ in range(120):
            with contextlib.suppress(Exception):
                mysql.connector.connect(host=HOST, port=self.port, user="root", password="", use_pure=True,
                                        connection_timeout=1).close()
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.25)
        raise RuntimeError(f"the private MariaDB did not start: {(self.base / 'server.log').read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL, like a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def settings(self, database: str = "facesidecar") -> MysqlSettings:
        import mysql.connector

        conn = mysql.connector.connect(host=HOST, port=self.port, user="root", password="", use_pure=True,
                                       autocommit=True)
        conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4")
        conn.close()
        return MysqlSettings(enabled=True, host=HOST, port=self.port, user="root", database=database,
                             password_env="FACESIDECAR_TEST_EMPTY_PASSWORD", connect_timeout=2)
