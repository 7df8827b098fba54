"""`trichat chat` as a person uses it: a real process, typed lines in, text out."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from tests.conftest import StartServer
from tests.helpers.client import http, ws_connect
from tests.helpers.ports import free_port


class Terminal:
    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self.out = b""
        self.pos = 0  # where `expect` looks from

    async def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.send_all(line.encode() + b"\n")

    async def wait_for(self, text: str) -> str:
        assert self.proc.stdout is not None
        with trio.fail_after(15):
            while text.encode() not in self.out:
                chunk = await self.proc.stdout.receive_some(65536)
                assert chunk, f"the client ended before printing {text!r}:\n{self.out.decode()}"
                self.out += chunk
        return self.out.decode()

    async def expect(self, text: str) -> None:
        """Wait for `text` after what the last `expect` matched: output in this order."""
        await self.wait_for(text)
        while (at := self.out.find(text.encode(), self.pos)) < 0:
            assert self.proc.stdout is not None
            with trio.fail_after(15):
                chunk = await self.proc.stdout.receive_some(65536)
            assert chunk, f"the client ended before printing {text!r}:\n{self.out.decode()}"
            self.out += chunk
        self.pos = at + len(text.encode())

    def count(self, text: str) -> int:
        return self.out.decode().count(text)


@asynccontextmanager
async def terminal(url: str, token: str, channel: str) -> AsyncIterator[Terminal]:
    """`trichat chat` as a real process, killed at the end if it is still running."""
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trichat", "chat", url, "--token", token, "--channel", channel],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        yield Terminal(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_chat_send_receive_join_who_quit(start_server: StartServer) -> None:
    server = await start_server()
    resp = await http(
        server.port,
        "POST",
        "/api/v1/chat/channels",
        token=server.token("bob"),
        body={"name": "side"},
    )
    side = resp.json()["id"]
    proc = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "trichat",
            "chat",
            f"http://127.0.0.1:{server.port}",
            "--token",
            server.token("alice"),
            "--channel",
            server.general,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    term = Terminal(proc)
    try:
        await term.wait_for("* joined #general")
        async with ws_connect(server.ws_url("bob", username="Bob")) as bob:
            await bob.join(server.general)
            await term.type("hello from the terminal")
            got = await bob.expect("message", user_id="alice")
            assert got["content"] == "hello from the terminal"
            await term.wait_for(f"#general [{got['seq']}] alice: hello from the terminal")
            ack = await bob.say(server.general, "hi <b>alice</b>")
            await term.wait_for(f"#general [{ack['seq']}] Bob: hi <b>alice</b>")

            await term.type("/who")
            await term.wait_for("* in #general: alice, Bob")
            await term.type("/join side")
            await term.wait_for("* joined #side")
            await bob.join(side)
            ack = await bob.say(side, "over here")
            await term.wait_for(f"#side [{ack['seq']}] Bob: over here")
        await term.type("/quit")
        with trio.fail_after(10):
            assert await proc.wait() == 0
        await term.wait_for("* bye")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_chat_reconnects_and_resumes(start_server: StartServer, tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    first = await start_server(data_dir=data, port=port)
    proc = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "trichat",
            "chat",
            f"127.0.0.1:{port}",
            "--token",
            first.token("alice"),
            "--channel",
            "general",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    term = Terminal(proc)
    try:
        await term.wait_for("* joined #general")
        await term.type("before")
        await term.wait_for("alice: before")
        await first.stop()
        # nothing listening now: it says so and keeps retrying
        await term.wait_for(f"! cannot reach the server at ws://127.0.0.1:{port}/ws: connection")
        second = await start_server(data_dir=data, port=port)
        posted = await http(
            port,
            "POST",
            f"/api/v1/chat/channels/{second.general}/messages",
            token=second.token("bob"),
            body={"content": "while you were away"},
        )
        assert posted.status == 201
        await term.wait_for("bob: while you were away")
        assert term.out.decode().count("alice: before") == 1  # resumed, nothing twice
        await term.type("/quit")
        with trio.fail_after(10):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
