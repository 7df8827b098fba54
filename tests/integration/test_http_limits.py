"""HTTP connections are closed on time and count against the caps (issue 14, item 5):
idle keep-alive connections after HANDSHAKE_TIMEOUT, a trickled request body after
it too (408), and every open HTTP connection counts against MAX_CONNECTIONS and in
/health."""

from __future__ import annotations

import orjson
import trio

from tests.conftest import StartServer
from tests.helpers.rawws import raw_ws

HEALTH = b"GET /api/v1/chat/health HTTP/1.1\r\nHost: x\r\n\r\n"


async def request(stream: trio.SocketStream, data: bytes) -> bytes:
    """Send one request; the whole response (by Content-Length)."""
    await stream.send_all(data)
    got = b""
    with trio.fail_after(10):
        while b"\r\n\r\n" not in got:
            got += await stream.receive_some(65536)
        head, _, body = got.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        while len(body) < length:
            body += await stream.receive_some(65536)
    return head + b"\r\n\r\n" + body


async def closed_by_server(stream: trio.SocketStream, within: float) -> float:
    """Seconds until the server closes `stream` (fails after `within`)."""
    started = trio.current_time()
    with trio.fail_after(within):
        while await stream.receive_some(65536):
            pass
    return trio.current_time() - started


async def test_idle_keep_alive_connection_is_closed_after_handshake_timeout(
    start_server: StartServer,
) -> None:
    server = await start_server(handshake_timeout=0.5)
    async with await trio.open_tcp_stream("127.0.0.1", server.port) as stream:
        for _ in range(2):  # kept alive between requests that come in time
            assert (await request(stream, HEALTH)).startswith(b"HTTP/1.1 200")
        waited = await closed_by_server(stream, within=5)
        assert waited >= 0.4


async def test_trickled_body_is_refused_with_408(start_server: StartServer) -> None:
    server = await start_server(handshake_timeout=0.5)
    head = (
        f"POST /api/v1/chat/channels HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {server.token('a')}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode()
    async with await trio.open_tcp_stream("127.0.0.1", server.port) as stream:
        await stream.send_all(head)
        got = b""
        with trio.fail_after(5):
            while True:
                chunk = b""
                with trio.move_on_after(0.1):  # one byte every 0.1 s: a slow-body attack
                    chunk = await stream.receive_some(65536)
                if chunk:
                    got += chunk
                    break
                await stream.send_all(b" ")
        assert got.startswith(b"HTTP/1.1 408"), got
        await closed_by_server(stream, within=5)


async def test_http_connections_count_against_max_connections(start_server: StartServer) -> None:
    server = await start_server(max_connections=3)
    streams = [await trio.open_tcp_stream("127.0.0.1", server.port) for _ in range(3)]
    try:
        for stream in streams:  # three keep-alive connections, each past its first request
            assert (await request(stream, HEALTH)).startswith(b"HTTP/1.1 200")
        async with await trio.open_tcp_stream("127.0.0.1", server.port) as fourth:
            refused = await request(fourth, HEALTH)
            assert refused.startswith(b"HTTP/1.1 503") and b"too many connections" in refused
        async with raw_ws(server.port, f"/ws?token={server.token('a')}") as raw:
            assert raw.status == 503
        await streams.pop().aclose()
        with trio.fail_after(5):
            while True:  # until the server has seen the close: /health is how it shows
                answer = await request(streams[0], HEALTH)  # asked on one of the two left
                health = orjson.loads(answer.partition(b"\r\n\r\n")[2])
                if health["http_connections"] == 2:
                    break
        assert health["connections"] == 0
    finally:
        for stream in streams:
            await stream.aclose()
