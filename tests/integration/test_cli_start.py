"""`trichat` started as a newcomer starts it: flags as the README writes them, and
every failure at start in one line naming what failed and what to do (issue 18)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.helpers.client import http
from tests.helpers.pg import PostgresServer
from tests.helpers.ports import free_port
from tests.integration.test_cli import _env, _trichat
from trichat.cli import build_parser
from trichat.config import env_names, flag_name, is_flag


def _only_line(stderr: str, needle: str) -> str:
    """The failure is the last line, holds `needle`, and no traceback came before."""
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert needle in last, stderr
    return last


@pytest.mark.parametrize("env", [env for _, env, _ in env_names() if is_flag(env)])
def test_every_boolean_flag_takes_no_value_or_one(env: str) -> None:
    parser = build_parser()
    name = flag_name(env)
    dest = next(d for d, e, _ in env_names() if e == env)
    assert getattr(parser.parse_args(["run", name]), dest) == "true"
    assert getattr(parser.parse_args(["run", name, "false"]), dest) == "false"
    assert getattr(parser.parse_args(["run", name, "true"]), dest) == "true"
    assert getattr(parser.parse_args(["run"]), dest) is None


def test_version_and_run_help_with_a_default_for_every_flag(tmp_path: Path) -> None:
    version = _trichat("--version", env=_env(tmp_path))
    assert version.returncode == 0 and version.stdout.startswith("trichat 0.")
    done = _trichat("run", "--help", env=_env(tmp_path))
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # argparse wraps lines
    for _, env, _ in env_names():
        assert f"(env {env}; default " in text, env
    assert "--dev [BOOL]" in text and "default 127.0.0.1" in text


async def test_dev_alone_starts_with_one_warning_line(tmp_path: Path) -> None:
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trichat", "run", "--dev", "--port", "0"],
        env=_env(tmp_path),
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        log = b""
        with trio.fail_after(20):
            while b"get a token" not in log:
                chunk = await proc.stderr.receive_some(65536)
                assert chunk, log.decode()
                log += chunk
        text = log.decode()
        warnings = [line for line in text.splitlines() if "WARNING" in line]
        assert len(warnings) == 1 and "development mode is on" in warnings[0], text
        port = int(text.split("listening on http://127.0.0.1:")[1].split()[0])
        minted = await http(port, "POST", "/api/v1/chat/dev/token", body={"user": "alice"})
        assert minted.status == 200  # the route exists only in dev mode
        proc.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_dev_on_a_host_others_reach_is_refused_unless_forced(tmp_path: Path) -> None:
    done = _trichat("run", "--dev", "--host", "0.0.0.0", env=_env(tmp_path))
    assert done.returncode == 2
    _only_line(done.stderr, "TRICHAT_DEV is refused on HOST=0.0.0.0")
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _trichat("run", env=_env(tmp_path, PORT=str(port)))
        assert done.returncode == 1
        line = _only_line(done.stderr, f"cannot start: port {port} on 127.0.0.1 is already in use")
        assert "--port" in line
        debug = _trichat("run", env=_env(tmp_path, PORT=str(port), TRICHAT_LOG_LEVEL="debug"))
    assert debug.returncode == 1 and "Traceback" in debug.stderr  # the details, when asked


def test_postgres_unreachable_is_one_line_for_run_and_migrate(tmp_path: Path) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/chat"
    port = dsn.split(":")[-1].split("/")[0]
    for migrate in ("true", "false"):  # false: the store's pool is the first to connect
        env = _env(tmp_path, DATABASE_URL=dsn, TRICHAT_MIGRATE_ON_START=migrate)
        done = _trichat("run", env=env)
        assert done.returncode == 1
        line = _only_line(done.stderr, f"cannot start: PostgreSQL at 127.0.0.1:{port} ")
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "cannot be reached" in line, line
        assert line.endswith("start it, or fix the host and port in DATABASE_URL"), line
    done = _trichat("migrate", env=_env(tmp_path, DATABASE_URL=dsn))
    assert done.returncode == 2
    line = _only_line(done.stderr, "cannot be reached")
    assert len(done.stderr.strip().splitlines()) == 1 and "DATABASE_URL" in line
    assert "Exceptions from Trio nursery" not in line


def test_migrate_a_missing_database_says_create_it(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    env = _env(tmp_path, DATABASE_URL=postgres_server.dsn("nosuch"))
    done = _trichat("migrate", env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"trichat: migrate: the database 'nosuch' does not exist on PostgreSQL at "
        f"127.0.0.1:{postgres_server.port}: create it (createdb nosuch) or fix DATABASE_URL"
    ]
    for migrate in ("true", "false"):
        run = _trichat("run", env={**env, "TRICHAT_MIGRATE_ON_START": migrate})
        assert run.returncode == 1
        line = _only_line(run.stderr, "cannot start: the database 'nosuch' does not exist")
        assert line.endswith("create it (createdb nosuch) or fix DATABASE_URL"), line


def test_bench_with_a_wrong_secret_is_one_clear_line(tmp_path: Path) -> None:
    from tests.helpers.process import TrichatProcess

    server = TrichatProcess(tmp_path / "server.log", "s" * 32, TRICHAT_DATA_DIR=str(tmp_path / "d"))
    try:
        args = ("bench", server.url, "--secret", "w" * 32, "--members", "1", "--quiet")
        done = _trichat(*args, env=_env(tmp_path))
    finally:
        server.stop()
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"trichat: bench: the server at 127.0.0.1:{server.port} refused the token (401): "
        "give its secret with --secret (or TRICHAT_JWT_SECRET), or its --data-dir"
    ]
