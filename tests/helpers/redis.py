"""A throwaway redis-server for the tests: no persistence, a free port, stoppable
and restartable on the same port (as a real outage would look to trichat)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.helpers.ports import free_port
from tests.helpers.tls import self_signed

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    def __init__(
        self, root: Path, *, password: str = "", unix_socket: bool = False, tls: bool = False
    ) -> None:
        if not Path(REDIS_SERVER).exists():
            raise RuntimeError("redis-server not found: apt-get install redis-server")
        self.root = root
        self.password = password
        self.socket = root / "redis.sock" if unix_socket else None
        self.port = free_port()
        # with `tls`, a TLS port too (the plain one stays, for the readiness check),
        # with a self-signed certificate for 127.0.0.1 (`cert`)
        self.tls_port = free_port() if tls else None
        self.cert, self._key = self_signed(root) if tls else (None, None)
        self._proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self._proc is None, "already running"
        self._proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.root),
                "--logfile", str(self.root / "redis.log"),
                *(["--requirepass", self.password] if self.password else []),
                *(["--unixsocket", str(self.socket)] if self.socket else []),
                *self._tls_options(),
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: see {self.root / 'redis.log'}")
            time.sleep(0.02)

    def _tls_options(self) -> list[str]:
        if self.tls_port is None:
            return []
        return [
            "--tls-port", str(self.tls_port),
            "--tls-cert-file", str(self.cert),
            "--tls-key-file", str(self._key),
            "--tls-auth-clients", "no",
        ]  # fmt: skip

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                answer = s.recv(64)  # a password-protected Redis answers NOAUTH
                return answer.startswith(b"+PONG") or answer.startswith(b"-NOAUTH")
        except OSError:
            return False

    def stop(self) -> None:
        """Kill it outright (SIGKILL): an outage, not a shutdown."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._proc = None

    def terminate(self) -> None:
        """SIGTERM: Redis shuts down as an operator would stop it."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None

    def pause(self) -> None:
        """SIGSTOP: a stalled Redis. Its sockets stay open and nothing answers."""
        assert self._proc is not None, "not running"
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None, "not running"
        self._proc.send_signal(signal.SIGCONT)

    def command(self, *args: str) -> bytes:
        """One command over a plain socket (no client library), raw reply."""
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"".join(parts))
            return s.recv(65536)
