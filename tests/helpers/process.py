"""`trichat run` as a separate process, as users and operators run it: environment
configuration, a log file, SIGTERM to stop, SIGKILL to simulate a crash."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from trichat.auth import mint

_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
_GENERAL = re.compile(r"channel 'general' id: ([0-9a-f-]{36})")


RUN = (sys.executable, "-m", "trichat", "run")


class TrichatProcess:
    def __init__(
        self,
        log: Path,
        secret: str | None,
        *,
        command: Sequence[str] = RUN,
        cwd: Path | None = None,
        **env: str,
    ) -> None:
        """Start `trichat run` (or `command`, in `cwd`) with these variables on a clean
        environment (no TRICHAT_* from the caller's shell) and wait until it listens.
        With `secret` None, the server uses the secret it keeps in its data folder."""
        self.secret = secret
        self.log = log
        clean = {k: v for k, v in os.environ.items() if not k.startswith("TRICHAT_")}
        for name in ("PORT", "HOST", "DATABASE_URL", "REDIS_URL", "JWT_SECRET"):
            clean.pop(name, None)
        clean["PORT"] = "0"
        if secret is not None:
            clean["TRICHAT_JWT_SECRET"] = secret
        clean.update(env)
        # the log goes to a file: a pipe nobody reads would fill and block the server
        with log.open("w") as out:
            self.proc = subprocess.Popen(list(command), env=clean, stderr=out, cwd=cwd)
        self.port = int(self._wait_for(_LISTENING))
        self.general = self._wait_for(_GENERAL)
        self.url = f"http://127.0.0.1:{self.port}"

    def _wait_for(self, pattern: re.Pattern[str], within: float = 30.0) -> str:
        deadline = time.monotonic() + within
        while True:  # polling the file the server writes: there is no event to wait on
            match = pattern.search(self.log.read_text())
            if match:
                return match.group(1)
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"trichat did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def wait_for_log(self, text: str, within: float = 10.0) -> None:
        """Return once the log holds `text` (the log is what an operator sees)."""
        self._wait_for(re.compile(f"()({re.escape(text)})"), within)

    def token(self, user: str, **claims: object) -> str:
        assert self.secret is not None, "started without a secret: mint with trichat token"
        return mint(self.secret, user, **claims)  # type: ignore[arg-type]

    def ws_url(self, user: str, **claims: object) -> str:
        return f"ws://127.0.0.1:{self.port}/ws?token={self.token(user, **claims)}"

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, wait; the log must hold no traceback."""
        if self.running:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)
        self.check_log()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye (a crash, an OOM kill, a lost host)."""
        self.proc.kill()
        self.proc.wait(timeout=10)

    def check_log(self) -> None:
        text = self.log.read_text()
        assert "Traceback" not in text, text
