"""`trichat` as a user runs it: a real process, real signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import trio
from trio_websocket import ConnectionClosed

from tests.helpers.client import http, ws_connect
from tests.helpers.process import TrichatProcess


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRICHAT_")}
    env.pop("PORT", None)
    env.update({"TRICHAT_DATA_DIR": str(tmp_path / "data"), **extra})
    return env


def _trichat(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trichat", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_value_stops_the_start_with_one_line(tmp_path: Path) -> None:
    done = _trichat("run", env=_env(tmp_path, TRICHAT_SEND_QUEUE="lots"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "trichat: TRICHAT_SEND_QUEUE='lots' is not valid: invalid literal for int() "
        "with base 10: 'lots'"
    ]
    flag = _trichat("run", "--port", "http", env=_env(tmp_path))
    assert flag.returncode == 2 and "PORT='http'" in flag.stderr
    assert not (tmp_path / "data").exists()  # nothing half-started


def test_a_second_run_on_a_data_folder_in_use_is_refused_in_one_line(tmp_path: Path) -> None:
    first = TrichatProcess(tmp_path / "first.log", "s" * 32, TRICHAT_DATA_DIR=str(tmp_path / "d"))
    try:
        second = _trichat("run", env=_env(tmp_path, TRICHAT_DATA_DIR=str(tmp_path / "d")))
        assert second.returncode == 1
        assert "cannot start: " in second.stderr
        assert "another trichat process is using this store" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.running
    finally:
        first.stop()


def test_token_uses_the_embedded_secret(tmp_path: Path) -> None:
    import jwt

    env = _env(tmp_path)
    done = _trichat("token", "alice", "--username", "Alice", "--admin", "--ttl", "2h", env=env)
    assert done.returncode == 0, done.stderr
    secret = (tmp_path / "data" / "jwt-secret").read_text().strip()
    claims = jwt.decode(done.stdout.strip(), secret, algorithms=["HS256"])
    assert claims["sub"] == "alice" and claims["username"] == "Alice"
    assert claims["role"] == "admin" and claims["exp"] - claims["iat"] == 7200
    bad = _trichat("token", "alice", "--ttl", "forever", env=env)
    assert bad.returncode == 2 and "--ttl" in bad.stderr


async def test_run_serves_and_sigterm_closes_clients_1001(tmp_path: Path) -> None:
    env = _env(tmp_path, PORT="0", TRICHAT_SHUTDOWN_GRACE="5s", TRICHAT_LOG_FORMAT="json")
    token = _trichat("token", "alice", env=env).stdout.strip()
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trichat", "run"], env=env, stderr=subprocess.PIPE
    )
    try:
        assert proc.stderr is not None
        log = b""
        with trio.fail_after(20):
            while b'"msg": "channel' not in log and b'"msg":"channel' not in log:
                log += await proc.stderr.receive_some(65536)
        text = log.decode()
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", text).group(1))
        general = re.search(r"channel 'general' id: ([0-9a-f-]{36})", text).group(1)
        assert '"level":"info"' in text  # JSON log lines

        health = await http(port, "GET", "/api/v1/chat/health")
        assert health.status == 200
        async with ws_connect(f"ws://127.0.0.1:{port}/ws?token={token}") as alice:
            await alice.join(general)
            await alice.say(general, "before shutdown")
            started = trio.current_time()
            proc.send_signal(signal.SIGTERM)
            with trio.fail_after(10):
                try:
                    while True:
                        await alice.conn.get_message()
                except ConnectionClosed as closed:
                    assert closed.reason.code == 1001
                    assert closed.reason.reason == "server shutdown"
        with trio.fail_after(10):
            code = await proc.wait()
        assert code == 0
        assert trio.current_time() - started < 5  # within SHUTDOWN_GRACE
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
