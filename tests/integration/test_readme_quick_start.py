"""README.md's "Quick start", every command as written (issue 18): `./scripts/run`,
the token, the curl, the WebSocket frames, `./scripts/run --dev` and the terminal
client, in a folder laid out as a checkout whose `.venv` is already installed.

Only the port changes (README's 8080 is a free one, through PORT). The folder is a
copy of `scripts/` and `pyproject.toml` with `.venv/bin/trichat` linked to this
environment's, so `./scripts/run` runs the real scripts; its `.venv/bin/python` is a
stub that fails, so bootstrap can never install into the shared environment (it has
nothing to do: the install stamp is newer than pyproject.toml). `python -m
websockets` is not a dependency: the README's `>` frames go over trio-websocket."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import trio

from tests.helpers.client import http, ws_connect
from tests.helpers.ports import free_port
from tests.helpers.process import TrichatProcess
from tests.integration.test_terminal_client import Terminal

ROOT = Path(__file__).parents[2]
COMMANDS = [
    "./scripts/run",
    "TOKEN=$(.venv/bin/trichat token alice)",
    'curl -s -H "Authorization: Bearer $TOKEN" localhost:8080/api/v1/chat/channels',
    'python -m websockets "ws://localhost:8080/ws?token=$TOKEN"',
    "./scripts/run --dev",
    '.venv/bin/trichat chat http://127.0.0.1:8080 --token "$TOKEN" --channel general',
]
SAMPLE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def quick_start() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]


def readme_commands() -> list[str]:
    """The `$ ` lines of the Quick start's console blocks, without trailing comments."""
    lines = [line[2:] for line in quick_start().splitlines() if line.startswith("$ ")]
    return [re.sub(r"\s+#.*$", "", line).strip() for line in lines]


def readme_frames() -> list[dict[str, Any]]:
    """The frames the Quick start sends (`> ` lines)."""
    return [json.loads(line[2:]) for line in quick_start().splitlines() if line.startswith("> ")]


def checkout(tmp_path: Path) -> Path:
    """scripts/, pyproject.toml and an installed .venv (see the module's docstring)."""
    repo = tmp_path / "trichat"
    shutil.copytree(ROOT / "scripts", repo / "scripts")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    bin_ = repo / ".venv" / "bin"
    bin_.mkdir(parents=True)
    trichat = Path(sys.executable).parent / "trichat"
    assert trichat.exists(), f"no {trichat}: install trichat into this environment"
    (bin_ / "trichat").symlink_to(trichat)
    stub = bin_ / "python"
    stub.write_text('#!/bin/sh\necho "bootstrap must not install here: $*" >&2\nexit 99\n')
    stub.chmod(0o755)
    stamp = repo / ".venv" / ".installed"
    stamp.touch()
    later = (repo / "pyproject.toml").stat().st_mtime + 10
    os.utime(stamp, (later, later))
    return repo


def shell_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRICHAT_")}
    for name in ("PORT", "HOST", "DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    return {**env, **extra}


async def sh(script: str, repo: Path, **env: str) -> str:
    """`script` in bash, in the checkout, as a person types it; its stdout."""
    done = await trio.run_process(
        ["bash", "-euc", script],
        cwd=repo,
        env=shell_env(**env),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def start(repo: Path, port: int, *args: str) -> TrichatProcess:
    log = repo.parent / f"run{'-'.join(args)}.log"
    return TrichatProcess(log, None, command=["./scripts/run", *args], cwd=repo, PORT=str(port))


def test_the_readme_quick_start_is_these_commands() -> None:
    assert readme_commands() == COMMANDS  # change both together


async def test_quick_start_as_written(tmp_path: Path) -> None:
    repo, port = checkout(tmp_path), free_port()
    server = await trio.to_thread.run_sync(start, repo, port)
    try:
        log = server.log.read_text()
        assert f"created channel 'general': {server.general}" in log
        assert f"listening on http://127.0.0.1:{port}" in log
        data = repo / "trichat-data"  # "the SQLite store and a generated JWT secret"
        assert (data / "trichat.db").is_file() and (data / "jwt-secret").is_file()
        token = await token_and_channels(repo, port, server.general)
        hint = re.search(r"get a token:  (trichat token alice --data-dir trichat-data)$", log, re.M)
        assert hint, log  # the command the log suggests works too
        hinted = (await sh(f".venv/bin/{hint[1]}", repo)).strip()
        assert (await http(port, "GET", "/api/v1/chat/channels", token=hinted)).status == 200
        await websocket_session(port, token, server.general)
        await terminal_session(repo, port, token)
    finally:
        await trio.to_thread.run_sync(server.stop)


async def token_and_channels(repo: Path, port: int, general: str) -> str:
    """`TOKEN=$(…)` and the curl, in one shell as typed; the token."""
    curl = COMMANDS[2].replace("8080", str(port))
    if shutil.which("curl") is None:  # the same request without curl
        curl = "echo"
    out = await sh(f'{COMMANDS[1]}\necho "$TOKEN"\n{curl}', repo)
    token, body = out.split("\n", 1)
    if curl == "echo":
        body = (await http(port, "GET", "/api/v1/chat/channels", token=token)).body.decode()
    listing = json.loads(body)
    assert listing["total"] == 1, listing
    assert [(c["name"], c["id"], c["last_seq"]) for c in listing["channels"]] == [
        ("general", general, 0)
    ]
    return token


async def websocket_session(port: int, token: str, general: str) -> None:
    """The README's `>` frames (its sample id replaced by general's); its `<` frames back."""
    url = re.search(r'"(ws://[^"]+)"', COMMANDS[3])[1]  # type: ignore[index]
    url = url.replace("8080", str(port)).replace("$TOKEN", token)
    replies = re.findall(r'^< \{"type":"(\w+)"', quick_start(), re.M)
    assert replies == ["joined", "presence", "ack", "message"]
    async with ws_connect(url) as ws:
        for frame in readme_frames():
            await ws.send(**{k: SAMPLE_ID.sub(general, str(v)) for k, v in frame.items()})
        joined, _, ack, message = [await ws.expect(kind) for kind in replies]
    assert joined["channel_id"] == general and joined["recovered"] is True
    assert ack["message_id"] == "m1" and ack["seq"] == 1
    assert (message["user_id"], message["content"], message["seq"]) == ("alice", "hello", 1)


async def terminal_session(repo: Path, port: int, token: str) -> None:
    """`trichat chat … --channel general` as typed: history, a line typed, /quit."""
    command = COMMANDS[5].replace("8080", str(port))
    proc = await trio.lowlevel.open_process(
        ["bash", "-euc", f"exec {command}"],
        cwd=repo,
        env=shell_env(TOKEN=token),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        term = Terminal(proc)
        await term.expect("commands: /join ID|NAME")
        await term.expect("* joined #general (last seq 1)")
        await term.expect("#general [1] alice: hello")
        await term.type("hi everyone")
        await term.expect("#general [2] alice: hi everyone")
        await term.type("/quit")
        with trio.fail_after(10):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_run_dev_as_written(tmp_path: Path) -> None:
    """`./scripts/run --dev`: the flag alone, one warning line, the dev sign-in on."""
    repo, port = checkout(tmp_path), free_port()
    server = await trio.to_thread.run_sync(start, repo, port, "--dev")
    try:
        warnings = [line for line in server.log.read_text().splitlines() if "WARNING" in line]
        assert len(warnings) == 1 and "development mode is on" in warnings[0], warnings
        page = await http(port, "GET", "/")  # "then open http://127.0.0.1:8080/"
        assert page.status == 200 and 'data-dev="true"' in page.body.decode()
        minted = await http(port, "POST", "/api/v1/chat/dev/token", body={"user": "alice"})
        assert minted.status == 200
    finally:
        await trio.to_thread.run_sync(server.stop)
