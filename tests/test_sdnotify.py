"""sd_notify over a real unix datagram socket, path-based and abstract."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from facesidecar.sdnotify import Notifier, socket_address


@pytest.fixture
def listener(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(2)
    yield str(path), sock
    sock.close()


def receive(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_socket_address_forms():
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@abstract/name") == "\0abstract/name"
    assert socket_address("") is None
    assert socket_address("vsock:2:1234") is None


def test_ready_and_status_reach_the_socket(listener):
    path, sock = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.ready("0 queued, 0 errors")
    lines = receive(sock)
    assert "READY=1" in lines
    assert "STATUS=0 queued, 0 errors" in lines
    assert f"MAINPID={os.getpid()}" in lines
    assert notifier.status("3 queued, 1 errors")
    assert receive(sock) == ["STATUS=3 queued, 1 errors"]


def test_status_is_sent_only_when_it_changes(listener):
    path, sock = listener
    notifier = Notifier(path)
    assert notifier.status("1 queued, 0 errors")
    assert not notifier.status("1 queued, 0 errors")
    assert notifier.status("0 queued, 0 errors")
    assert receive(sock) == ["STATUS=1 queued, 0 errors"]
    assert receive(sock) == ["STATUS=0 queued, 0 errors"]


def test_abstract_socket_names_work():
    name = f"facesidecar-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        assert Notifier.from_env({"NOTIFY_SOCKET": "@" + name}).stopping()
        assert receive(sock) == ["STOPPING=1"]


def test_watchdog_only_when_systemd_asked_for_it(listener):
    path, sock = listener
    assert not Notifier.from_env({"NOTIFY_SOCKET": path}).watchdog()
    other_pid = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"})
    assert other_pid.watchdog_interval is None
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())})
    assert notifier.watchdog_interval == 2.0
    assert notifier.watchdog()
    assert receive(sock) == ["WATCHDOG=1"]


def test_without_a_socket_nothing_happens_and_nothing_fails(tmp_path):
    assert not Notifier.from_env({}).ready()
    assert not Notifier(str(tmp_path / "missing.sock")).ready()
