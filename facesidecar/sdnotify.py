"""The sd_notify protocol, spoken directly: one datagram per state change to ``$NOTIFY_SOCKET``.

systemd's ``Type=notify`` waits for ``READY=1`` before it calls the service started, shows the
``STATUS=`` text in ``systemctl status`` and restarts a service whose ``WATCHDOG=1`` pings stop
(``WatchdogSec=``). The protocol is a few lines of socket code, so there is no dependency on
python-systemd (which needs libsystemd headers to build). Outside systemd every call is a no-op.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import struct
import termios
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


def socket_address(raw: str) -> str | None:
    """The address to send to: a path, or an abstract name (``@name`` becomes ``\\0name``)."""
    if not raw:
        return None
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    return None  # vsock and other families are not used on the machines we run on


class Notifier:
    """Sends READY/STATUS/WATCHDOG/STOPPING messages to the service manager, if there is one."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None):
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._last_status: str | None = None
        self._ping_socket: socket.socket | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """Read ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC`` (honouring ``$WATCHDOG_PID``)."""
        env = os.environ if environ is None else environ
        watchdog = None
        pid = env.get("WATCHDOG_PID")
        if env.get("WATCHDOG_USEC", "").isdigit() and (not pid or pid == str(os.getpid())):
            watchdog = int(env["WATCHDOG_USEC"]) or None
        return cls(socket_address(env.get("NOTIFY_SOCKET", "")), watchdog)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings: half the timeout systemd gave us, as sd_watchdog_enabled(3) advises."""
        return self.watchdog_usec / 2_000_000 if self.watchdog_usec else None

    def send(self, *lines: str) -> bool:
        """Send one datagram; failure is logged, never raised (the daemon must not die of it)."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                return self._send_on(sock, lines)
        except OSError as exc:
            log.debug("sd_notify to %r failed: %s", self.address, exc)
            return False

    def _send_on(self, sock: socket.socket, lines: tuple[str, ...]) -> bool:
        """Never blocks: a full queue (the manager is not reading) drops the message instead of
        hanging the daemon's main loop, which must go on seeing SIGTERM."""
        try:
            sock.sendto("\n".join(lines).encode("utf-8"), socket.MSG_DONTWAIT, self.address)
        except OSError as exc:
            log.debug("sd_notify to %r failed: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        lines = ["READY=1", f"MAINPID={os.getpid()}"]
        if status is not None:
            lines.append(f"STATUS={status}")
            self._last_status = status
        return self.send(*lines)

    def status(self, text: str) -> bool:
        """Send STATUS only when it changed: ``systemctl status`` needs no flood of equal lines."""
        if text == self._last_status:
            return False
        self._last_status = text
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        """Ping, unless the previous ping is still unread: one queued ping keeps the service alive as
        well as many, and pings must not fill the manager's queue (READY, STATUS and STOPPING need room)."""
        if not self.watchdog_usec or self.address is None:
            return False
        if self._ping_socket is None:
            self._ping_socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        unread = fcntl.ioctl(self._ping_socket, termios.TIOCOUTQ, struct.pack("i", 0))
        if struct.unpack("i", unread)[0] > 0:
            return False
        return self._send_on(self._ping_socket, ("WATCHDOG=1",))

    def reloading(self) -> bool:
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")


__all__ = ["Notifier", "socket_address"]
