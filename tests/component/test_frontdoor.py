"""The front door's handshake in process: `FrontDoor.handle` is given one end of a
socketpair (its head reading and hypercorn hand-over want a trio `SocketStream`;
the session after the 101 runs on `SocketTransport` over the same socket), and
the test speaks raw HTTP and WebSocket on the other end. No TCP port."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import trio
import trio.testing

from tests.component.world import World, open_world
from tests.helpers.rawws import RawWs, client_frame
from trichat.frontdoor import FrontDoor
from trichat.hyper import HypercornGate
from trichat.protocol.handshake import accept_key
from trichat.server import hypercorn_config
from trichat.web.app import AsgiGuard, create_app
from trichat.web.deps import Deps
from trichat.web.rest import register

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's sample key


def front_door(world: World) -> FrontDoor:
    d = world.deps
    app = create_app()
    register(app, Deps(d.settings, d.verifier, d.service, d.hub, d.sessions, d.metrics))
    gate = HypercornGate(AsgiGuard(app), hypercorn_config(d.settings))
    return FrontDoor(d.settings, d.verifier, d.service, d.hub, d.sessions, d.metrics, gate)


@asynccontextmanager
async def knock(door: FrontDoor, nursery: trio.Nursery) -> AsyncIterator[RawWs]:
    """A client at the door: the other end of a socketpair the door handles."""
    ours, theirs = trio.socket.socketpair()
    nursery.start_soon(door.handle, trio.SocketStream(theirs))
    client = RawWs(trio.SocketStream(ours))
    try:
        yield client
    finally:
        await client.aclose()


def upgrade(path: str, key: str, **headers: str) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: chat.test",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def answer(client: RawWs) -> tuple[int, bytes, dict[str, Any] | None]:
    """(status, head, JSON body or None) of the door's answer."""
    with trio.fail_after(5):
        head = await client._read_until(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status == 101:
        return status, head, None
    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    with trio.fail_after(5):
        body = await client._read_exact(length)
    return status, head, orjson.loads(body)


async def test_upgrade_and_the_first_frame_sent_with_the_head(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        key = base64.b64encode(os.urandom(16)).decode()
        join = orjson.dumps({"type": "join", "channel_id": world.general})
        async with knock(front_door(world), world.nursery) as client:
            token = world.token("alice")
            await client.stream.send_all(
                upgrade(f"/ws?token={token}", key) + client_frame(0x1, join)
            )
            status, head, _ = await answer(client)
            assert status == 101
            assert f"Sec-WebSocket-Accept: {accept_key(key)}\r\n".encode() in head
            with trio.fail_after(5):
                joined = await client.recv_json()
            assert (joined["type"], joined["channel_id"]) == ("joined", world.general)
            assert len(world.sessions.open) == 1


async def test_the_channel_endpoint_joins_at_once(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        door = front_door(world)
        path = f"/api/v1/chat/channels/{world.general}/ws?token={world.token('a')}"
        async with knock(door, world.nursery) as client:
            await client.stream.send_all(upgrade(path, KEY))
            assert (await answer(client))[0] == 101
            with trio.fail_after(5):
                assert (await client.recv_json())["type"] == "joined"
        unknown = f"/api/v1/chat/channels/{'0' * 8}-0000-4000-8000-{'0' * 12}/ws"
        async with knock(door, world.nursery) as client:
            token = world.token("a")
            await client.stream.send_all(upgrade(f"{unknown}?token={token}", KEY))
            status, _, body = await answer(client)
            assert (status, body and body["error"]["code"]) == (404, "not_found")


async def test_refusals_before_the_101(tmp_path: Path) -> None:
    overrides = {"allowed_origins": ("https://chat.example",), "max_connections_per_user": 1}
    async with open_world(tmp_path, **overrides) as world:
        door = front_door(world)
        token = world.token("a")
        cases = [
            (upgrade("/ws", KEY), 401, "unauthorized"),
            (upgrade("/ws?token=garbage", KEY), 401, "unauthorized"),
            (upgrade(f"/ws?token={token}", KEY, Origin="https://evil"), 403, "forbidden"),
            (b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", 426, "upgrade_required"),
            (b"\x16\x03\x01 not http at all\r\n\r\n", 400, "bad_request"),
        ]
        for request, status, code in cases:
            async with knock(door, world.nursery) as client:
                await client.stream.send_all(request)
                got, _, body = await answer(client)
                assert (got, body and body["error"]["code"]) == (status, code), request
        await world.serve("a")  # the one connection user a may have
        async with knock(door, world.nursery) as client:
            await client.stream.send_all(upgrade(f"/ws?token={token}", KEY))
            status, head, body = await answer(client)
            assert (status, body and body["error"]["message"]) == (
                503,
                "too many connections for this user",
            )
            assert b"Retry-After: 1" in head
        assert world.count("websocket_errors_total", type="handshake") == 6


async def test_a_silent_connection_is_dropped_at_the_handshake_timeout(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path, handshake_timeout=10.0) as world:
        door = front_door(world)
        for data in (b"", b"GET /ws HTTP/1.1\r\nHost: x\r\n"):  # nothing; a partial head
            async with knock(door, world.nursery) as client:
                await client.stream.send_all(data)
                started = trio.current_time()
                with trio.fail_after(60):
                    assert await client.stream.receive_some(1024) == b""  # closed, unanswered
                assert 10.0 <= trio.current_time() - started < 11.0
        assert world.count("websocket_errors_total", type="handshake") == 2


async def test_http_is_handed_to_hypercorn(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        door = front_door(world)
        await world.nursery.start(door.gate.run)
        async with knock(door, world.nursery) as client:
            await client.stream.send_all(b"GET /api/v1/chat/health HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, body = await answer(client)
            assert status == 200 and body is not None and body["status"] == "ok"
            assert world.sessions.http == 1  # counted against MAX_CONNECTIONS meanwhile
