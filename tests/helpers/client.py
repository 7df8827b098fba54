"""Test clients over real loopback sockets: trio-websocket for WebSocket, and a tiny
HTTP client (stdlib http.client run in a thread) for REST."""

from __future__ import annotations

import http.client as httpclient
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

TIMEOUT = 10.0


class Ws:
    """A trio-websocket connection speaking trichat's JSON frames.

    Frames skipped while waiting for a particular one stay in a backlog, so a later
    `expect` still finds them: no frame is lost to the order of the asserts."""

    def __init__(self, conn: WebSocketConnection) -> None:
        self.conn = conn
        self.seen: list[dict[str, Any]] = []
        self.backlog: deque[dict[str, Any]] = deque()

    async def send(self, **frame: Any) -> None:
        await self.conn.send_message(orjson.dumps(frame).decode())

    async def recv(self) -> dict[str, Any]:
        """The next frame: from the backlog first, then from the socket."""
        if self.backlog:
            return self.backlog.popleft()
        return await self._read()

    async def _read(self) -> dict[str, Any]:
        with trio.fail_after(TIMEOUT):
            frame = orjson.loads(await self.conn.get_message())
        self.seen.append(frame)
        return frame  # type: ignore[no-any-return]

    async def expect(self, type_: str, **fields: Any) -> dict[str, Any]:
        """The first frame (backlog included) of `type_` whose fields match."""
        return await self.expect_any((type_,), **fields)

    async def expect_any(self, types: tuple[str, ...], **fields: Any) -> dict[str, Any]:
        """The first frame (backlog included) of one of `types` whose fields match."""

        def matches(frame: dict[str, Any]) -> bool:
            return frame.get("type") in types and all(frame.get(k) == v for k, v in fields.items())

        for frame in self.backlog:
            if matches(frame):
                self.backlog.remove(frame)
                return frame
        while True:
            frame = await self._read()
            if matches(frame):
                return frame
            self.backlog.append(frame)

    async def join(self, channel_id: str, since: int | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "join", "channel_id": channel_id}
        if since is not None:
            frame["since"] = since
        await self.send(**frame)
        return await self.expect("joined", channel_id=channel_id)

    async def say(
        self, channel_id: str, content: str, message_id: str | None = None
    ) -> dict[str, Any]:
        """Send a message and return its ack (fails on an error frame instead)."""
        frame: dict[str, Any] = {"type": "message", "channel_id": channel_id, "content": content}
        if message_id is not None:
            frame["message_id"] = message_id
        await self.send(**frame)
        while True:
            got = await self._read()
            if got["type"] == "ack":
                return got
            if got["type"] == "error":
                raise AssertionError(f"error instead of ack: {got}")
            self.backlog.append(got)

    async def messages(self, n: int, channel_id: str | None = None) -> list[dict[str, Any]]:
        fields = {} if channel_id is None else {"channel_id": channel_id}
        return [await self.expect("message", **fields) for _ in range(n)]


@asynccontextmanager
async def ws_connect(url: str, **kwargs: Any) -> AsyncIterator[Ws]:
    # A deep queue: with trio-websocket's default of 1, its reader stops while a test
    # is not reading, and then never sees the server's close reply.
    kwargs.setdefault("message_queue_size", 100_000)
    async with open_websocket_url(url, **kwargs) as conn:
        try:
            yield Ws(conn)
        finally:
            # trio-websocket 0.12 leaves the TCP stream open when the server closed
            # first and the context exits before the server's FIN arrives (its
            # aclose() returns early once a close reason is set): close it here.
            with trio.CancelScope(shield=True):
                await conn._stream.aclose()


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def http(
    port: int,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    def call() -> HttpResponse:
        conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        out = HttpResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        conn.close()
        return out

    return await trio.to_thread.run_sync(call)


async def poll_health(
    port: int, condition: Callable[[dict[str, Any]], bool], within: float = 10.0
) -> dict[str, Any]:
    """Poll GET /health until `condition` holds, as an operator's probe would: the
    server's state is only observable from outside through it. A refused connection
    (not listening yet) counts as not yet."""
    with trio.fail_after(within):
        while True:
            try:
                health = (await http(port, "GET", "/api/v1/chat/health")).json()
            except OSError:
                health = None
            if health is not None and condition(health):
                return health  # type: ignore[no-any-return]
            await trio.sleep(0.05)
