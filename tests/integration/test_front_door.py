"""The one public port: upgrades checked before 101, abuse dropped, everything else
handed to hypercorn (REST, 404s, keep-alive) through the replay stream."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest
import trio

from tests.conftest import SECRET, Running, StartServer
from tests.helpers.client import ws_connect
from tests.helpers.rawws import raw_ws
from trichat.auth import mint


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("", {}),
        ("?token=garbage", {}),
        ("", {"Authorization": "Bearer not.a.jwt"}),
        (f"?token={mint('wrong-secret-of-sufficient-length-xx', 'a')}", {}),
        (f"?token={mint(SECRET, 'a', ttl=-10)}", {}),
    ],
    ids=["missing", "garbage", "malformed-header", "wrong-signature", "expired"],
)
async def test_bad_tokens_get_401_before_upgrade(
    server: Running, query: str, headers: dict[str, str]
) -> None:
    async with raw_ws(server.port, f"/ws{query}", headers=headers) as raw:
        assert raw.status == 401


async def test_alg_none_is_refused(server: Running) -> None:
    import jwt

    token = jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, None, algorithm="none")
    async with raw_ws(server.port, f"/ws?token={token}") as raw:
        assert raw.status == 401


async def test_token_without_exp_is_refused(server: Running) -> None:
    import jwt

    token = jwt.encode({"sub": "a"}, SECRET, algorithm="HS256")
    async with raw_ws(server.port, f"/ws?token={token}") as raw:
        assert raw.status == 401


async def test_bearer_header_is_accepted(server: Running) -> None:
    headers = {"Authorization": f"Bearer {server.token('a')}"}
    async with raw_ws(server.port, "/ws", headers=headers) as raw:
        assert raw.status == 101


async def test_issuer_and_audience_checked_when_configured(start_server: StartServer) -> None:
    server = await start_server(jwt_issuer="https://app", jwt_audience="chat")
    good = mint(SECRET, "a", issuer="https://app", audience="chat")
    bad_iss = mint(SECRET, "a", issuer="https://evil", audience="chat")
    no_aud = mint(SECRET, "a", issuer="https://app")
    for token, status in ((good, 101), (bad_iss, 401), (no_aud, 401)):
        async with raw_ws(server.port, f"/ws?token={token}") as raw:
            assert raw.status == status


async def test_origin_check(start_server: StartServer) -> None:
    server = await start_server(allowed_origins=("https://chat.example",))
    path = f"/ws?token={server.token('a')}"
    async with raw_ws(server.port, path, headers={"Origin": "https://evil.example"}) as raw:
        assert raw.status == 403
    async with raw_ws(server.port, path, headers={"Origin": "https://chat.example"}) as raw:
        assert raw.status == 101
    async with raw_ws(server.port, path) as raw:  # no Origin: not a browser
        assert raw.status == 101


async def test_same_origin_only_by_default(server: Running) -> None:
    path = f"/ws?token={server.token('a')}"
    same = {"Origin": f"http://127.0.0.1:{server.port}"}
    async with raw_ws(server.port, path, headers=same) as raw:
        assert raw.status == 101
    async with raw_ws(server.port, path, headers={"Origin": "http://other:1"}) as raw:
        assert raw.status == 403


async def test_connection_caps_answer_503(start_server: StartServer) -> None:
    server = await start_server(max_connections=3, max_connections_per_user=2)
    async with ws_connect(server.ws_url("a")), ws_connect(server.ws_url("a")):
        async with raw_ws(server.port, f"/ws?token={server.token('a')}") as raw:
            assert raw.status == 503  # per user
            assert b"too many connections for this user" in raw.head + raw.buf
        async with (
            ws_connect(server.ws_url("b")),
            raw_ws(server.port, f"/ws?token={server.token('c')}") as raw,
        ):
            assert raw.status == 503  # per instance
    async with ws_connect(server.ws_url("a")):  # freed again once they closed
        pass


async def test_single_channel_endpoint_refusals(server: Running) -> None:
    unknown = f"/api/v1/chat/channels/{uuid.uuid4()}/ws?token={server.token('a')}"
    async with raw_ws(server.port, unknown) as raw:
        assert raw.status == 404
    from trichat.models import Ban, now_ms

    await server.handle.store.put_ban(Ban(server.general, "m", "", "admin", now_ms(), None))
    banned = f"/api/v1/chat/channels/{server.general}/ws?token={server.token('m')}"
    async with raw_ws(server.port, banned) as raw:
        assert raw.status == 403


async def _raw_http(port: int, data: bytes, *, read: bool = True) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(data)
        out = b""
        with trio.fail_after(10):
            while read:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                out += chunk
        return out


async def test_websocket_path_without_upgrade_is_426(server: Running) -> None:
    out = await _raw_http(server.port, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 426")


async def test_silent_connection_is_dropped_after_handshake_timeout(
    start_server: StartServer,
) -> None:
    server = await start_server(handshake_timeout=0.3)
    for data in (b"", b"GET /ws HTTP/1.1\r\nHost: x\r\n"):  # nothing; a partial head
        started = trio.current_time()
        out = await _raw_http(server.port, data)
        assert out == b""
        assert trio.current_time() - started < 5


async def test_garbage_request_is_400(server: Running) -> None:
    out = await _raw_http(server.port, b"\x16\x03\x01 not http at all\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400")


async def test_rest_keep_alive_through_hypercorn(server: Running) -> None:
    token = server.token("a")
    request = (
        f"GET /api/v1/chat/channels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        for _ in range(3):  # three requests on one connection
            await stream.send_all(request)
            got = b""
            with trio.fail_after(10):
                while b'"total"' not in got:
                    got += await stream.receive_some(65536)
            assert got.startswith(b"HTTP/1.1 200")
        # an upgrade on a kept-alive connection reaches hypercorn: refused clearly
        await stream.send_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        got = b""
        with trio.fail_after(10):
            while b"new connection" not in got:
                got += await stream.receive_some(65536)
        assert got.startswith(b"HTTP/1.1 400")


async def test_unknown_path_is_json_404(server: Running) -> None:
    # read by Content-Length: hypercorn 0.18 keeps even a `Connection: close`
    # connection open until its keep-alive timeout
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        await stream.send_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        with trio.fail_after(10):
            while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < int(
                got.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0]
            ):
                got += await stream.receive_some(65536)
    head, body = got.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 404")
    assert orjson.loads(body)["error"]["code"] == "not_found"


async def test_early_refusal_waits_for_the_body_so_keep_alive_survives(server: Running) -> None:
    # hypercorn 0.18 hangs a kept-alive connection when a response starts before its
    # request body arrived (found by schemathesis: a 405 answered from the head)
    body = b'{"name": "x"}'
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        await stream.send_all(b"GET /api/v1/chat/health HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        with trio.fail_after(10):
            while b'"instance"' not in got:
                got += await stream.receive_some(65536)
        head = (
            f"QUERY /api/v1/chat/channels HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        await stream.send_all(head)
        with trio.move_on_after(0.3):  # the answer waits for the body
            early = await stream.receive_some(65536)
            raise AssertionError(f"answered before the body: {early[:60]!r}")
        await stream.send_all(body + b"GET /api/v1/chat/health HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        with trio.fail_after(10):
            while got.count(b"HTTP/1.1 ") < 2 or not got.rstrip().endswith(b"}"):
                got += await stream.receive_some(65536)
        assert got.startswith(b"HTTP/1.1 405") and b"HTTP/1.1 200" in got
