"""`trichat chat` when something goes wrong (issue 18), the real client process
against a real server: a refused join, a refused token, nothing listening, Ctrl-C.
Each failure is one line saying what failed, no traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import trio

from tests.conftest import StartServer
from tests.helpers.client import ws_connect
from tests.helpers.ports import free_port
from tests.integration.test_terminal_client import Terminal, terminal


async def chat(*args: str) -> subprocess.CompletedProcess[bytes]:
    """`trichat chat ARGS` with no input, to its end."""
    with trio.fail_after(30):
        return await trio.run_process(
            [sys.executable, "-m", "trichat", "chat", *args],
            stdin=b"",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


def one_line(done: subprocess.CompletedProcess[bytes]) -> str:
    """The single line a failed start prints, after checking that it is the only one."""
    lines = (done.stdout + done.stderr).decode().strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


async def test_a_refused_join_leaves_the_current_channel_as_it_was(
    start_server: StartServer,
) -> None:
    server = await start_server()
    url = f"http://127.0.0.1:{server.port}"
    async with (
        terminal(url, server.token("alice"), "#general") as term,  # a name, not an id
        ws_connect(server.ws_url("bob", username="Bob")) as bob,
    ):
        await term.expect("* joined #general")
        await bob.join(server.general)
        await term.type("/join nosuch")
        await term.expect("! not_found")
        await term.type("still in general")
        got = await bob.expect("message", user_id="alice")
        assert got["content"] == "still in general"
        await term.expect(f"#general [{got['seq']}] alice: still in general")
        assert "not_joined" not in term.out.decode()


async def test_a_rejected_token_is_one_line_naming_the_token(start_server: StartServer) -> None:
    server = await start_server()
    done = await chat(f"http://127.0.0.1:{server.port}", "--token", "not-a-jwt")
    assert done.returncode == 1
    line = one_line(done)
    assert "refused the token (HTTP 401" in line and "trichat token" in line, line


async def test_a_token_refused_at_the_websocket_handshake_ends_the_client(
    start_server: StartServer, tmp_path: Path
) -> None:
    """After a drop, a server with another secret refuses the token at the upgrade
    (SPEC: HTTP 401 before any upgrade): retrying could never work, so it stops."""
    port = free_port()
    first = await start_server(data_dir=tmp_path, port=port)
    async with terminal(f"127.0.0.1:{port}", first.token("alice"), "general") as term:
        await term.expect("* joined #general")
        await first.stop()
        await term.expect(f"! cannot reach the server at ws://127.0.0.1:{port}/ws")
        await start_server(data_dir=tmp_path, port=port, jwt_secret="another-secret-" * 4)
        await term.expect(f"! ws://127.0.0.1:{port}/ws refused the token (HTTP 401")
        with trio.fail_after(15):
            assert await term.proc.wait() == 1


async def test_nothing_listening_is_one_line_naming_the_url() -> None:
    """At start the client stops (status 1), as before; after a drop it keeps
    retrying (test_chat_reconnects_and_resumes)."""
    port = free_port()
    done = await chat(f"http://127.0.0.1:{port}", "--token", "whatever")
    assert done.returncode == 1
    line = one_line(done)
    assert line.startswith(f"! cannot reach the server at http://127.0.0.1:{port}: "), line
    assert "connection refused" in line, line


async def test_help_says_the_channel_is_an_id_or_a_name() -> None:
    done = await chat("--help")
    assert done.returncode == 0
    assert "its id or its name" in " ".join(done.stdout.decode().split())


async def test_ctrl_c_ends_the_client_quietly_with_status_130(start_server: StartServer) -> None:
    server = await start_server()
    proc = await trio.lowlevel.open_process(
        [
            *(sys.executable, "-m", "trichat", "chat", f"http://127.0.0.1:{server.port}"),
            *("--token", server.token("alice"), "--channel", server.general),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    term = Terminal(proc)
    try:
        await term.expect("* joined #general")
        proc.send_signal(signal.SIGINT)
        with trio.fail_after(15):
            assert await proc.wait() == 130
        assert proc.stderr is not None
        err = b""
        while chunk := await proc.stderr.receive_some(65536):
            err += chunk
        assert err == b"", err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
