"""How connections end: 1009, 1003, 1007, 1002, 1013, 4001, 1001, pong timeout."""

from __future__ import annotations

import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed

from tests.conftest import Running, StartServer
from tests.helpers.client import http, ws_connect
from tests.helpers.rawws import client_frame, raw_ws


async def _closed_code(ws) -> int:  # type: ignore[no-untyped-def]
    with trio.fail_after(10):
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await ws.conn.get_message()
    return info.value.reason.code  # type: ignore[no-any-return]


async def test_oversized_frame_closes_1009(start_server: StartServer) -> None:
    server = await start_server(max_frame_bytes=1024)
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.send(type="message", channel_id=server.general, content="x" * 2000)
        assert await _closed_code(alice) == 1009


async def test_oversized_fragmented_message_closes_1009(start_server: StartServer) -> None:
    server = await start_server(max_frame_bytes=1024)
    async with raw_ws(server.port, f"/ws?token={server.token('a')}") as raw:
        assert raw.status == 101
        for _ in range(3):  # fragments of 600 bytes: the message, not the frame, is counted
            await raw.send_frame(0x0 if _ else 0x1, b"x" * 600, fin=False)
        assert await raw.recv_close() == 1009


async def test_binary_frame_closes_1003(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.conn.send_message(b"\x00\x01")
        assert await _closed_code(alice) == 1003


async def test_invalid_utf8_closes_1007(server: Running) -> None:
    async with raw_ws(server.port, f"/ws?token={server.token('a')}") as raw:
        await raw.send_frame(0x1, b"\xff\xfe")
        assert await raw.recv_close() == 1007


async def test_unmasked_client_frame_closes_1002(server: Running) -> None:
    async with raw_ws(server.port, f"/ws?token={server.token('a')}") as raw:
        await raw.stream.send_all(client_frame(0x1, b'{"type":"typing"}', masked=False))
        assert await raw.recv_close() == 1002
    metrics = (await http(server.port, "GET", "/metrics")).body.decode()
    assert 'websocket_errors_total{type="protocol_error"} 1.0' in metrics


async def test_expiry_closes_4001_after_refresh_needed(server: Running) -> None:
    # end to end with a short token; the refresh and the expiry's timing are in
    # tests/component/test_liveness.py, on injected clocks
    async with ws_connect(server.ws_url("alice", ttl=2)) as alice:
        needed = await alice.expect("refresh_needed")  # less than 30 s left from the start
        assert isinstance(needed["exp"], int)
        assert await _closed_code(alice) == 4001


async def test_shutdown_closes_1001(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(server.general)
        await server.stop()
        assert await _closed_code(alice) == 1001


async def test_client_that_never_pongs_is_dropped(start_server: StartServer) -> None:
    server = await start_server(ping_interval=0.1, pong_timeout=0.3)
    async with raw_ws(server.port, f"/ws?token={server.token('a')}") as raw:
        assert raw.status == 101
        pings = 0
        with trio.fail_after(5):
            with pytest.raises(EOFError):
                while True:
                    opcode, _payload = await raw.recv_frame()
                    pings += opcode == 0x9
        assert pings >= 2
    # a client that answers pings stays: tests/component/test_liveness.py


async def test_slow_consumer_closed_1013_others_unaffected(start_server: StartServer) -> None:
    server = await start_server(send_queue=8, rate_limit_per_minute=100_000, max_content_chars=2000)
    async with raw_ws(server.port, f"/ws?token={server.token('slow')}", rcvbuf=4096) as slow:
        assert slow.status == 101
        await slow.send_json({"type": "join", "channel_id": server.general})
        assert (await slow.recv_json())["type"] == "joined"
        total = 600
        async with (
            ws_connect(server.ws_url("reader")) as reader,
            ws_connect(server.ws_url("sender")) as sender,
        ):
            await reader.join(server.general)
            await sender.join(server.general)

            async def read_all() -> None:
                got = await reader.messages(total)
                assert [m["seq"] for m in got] == list(range(1, total + 1))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_all)
                for k in range(total):
                    await sender.say(server.general, f"{k:04d} " + "y" * 1500)
        # the slow client never read; now it does: its frames end with the 1013 close
        with trio.fail_after(10):
            assert await slow.recv_close() == 1013
    # and it can come back and resume with since, losing nothing
    async with ws_connect(server.ws_url("slow")) as again:
        joined = await again.join(server.general, since=0)
        assert joined["last_seq"] == total
        assert joined["recovered"] is True
        got = await again.messages(total)
        assert [m["seq"] for m in got] == list(range(1, total + 1))


async def test_close_handshake_is_answered(server: Running) -> None:
    async with raw_ws(server.port, f"/ws?token={server.token('a')}") as raw:
        await raw.send_frame(0x8, (4321).to_bytes(2, "big") + b"bye")
        assert await raw.recv_close() == 4321


async def test_ping_from_client_gets_pong(server: Running) -> None:
    async with raw_ws(server.port, f"/ws?token={server.token('a')}") as raw:
        await raw.send_frame(0x9, b"hello")
        with trio.fail_after(5):
            while True:
                opcode, payload = await raw.recv_frame()
                if opcode == 0xA:
                    assert payload == b"hello"
                    break


async def test_json_survives_after_errors(server: Running) -> None:
    async with raw_ws(server.port, f"/ws?token={server.token('a')}") as raw:
        await raw.send_frame(0x1, b"{")
        assert (await raw.recv_json())["code"] == "bad_request"
        await raw.send_frame(0x1, orjson.dumps({"type": "join", "channel_id": server.general}))
        assert (await raw.recv_json())["type"] == "joined"
