"""The broker's one subscribed Redis connection, read on the trio side.

Every other Redis command goes through redis-py's asyncio client under trio-asyncio
(`redis_link`). This connection is different: it only receives, and receiving is
per event. Through redis-py's asyncio PubSub one event cost 224-250 µs of CPU at
3,000 events/s (`bench/pubsub_cost.py`): trio wakes asyncio's loop, the loop wakes
redis-py's reader task, redis-py's `get_message` runs its retry, timeout and
parse machinery for each message, and the event crosses back to trio. Here the
connection is a trio stream speaking RESP2, parsed by hiredis (redis-py's own C
parser): one wake-up reads every event that has arrived, and each event is one C
call. docs/performance.md ("The Redis path") has the figures.

Errors come out as redis-py's exceptions (`redis.exceptions.ConnectionError`,
`ResponseError`), which the broker already counts as Redis failing.
"""

from __future__ import annotations

import ssl
from typing import Any

import hiredis
import trio
from redis.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

READ_SIZE = 65_536  # bytes per receive: a busy instance's burst of events in one read


class PubSubConnection:
    """SUBSCRIBE and UNSUBSCRIBE out, replies in (lists of bytes, as Redis sends
    them: `[b"message", channel, data]`, `[b"subscribe", channel, count]`, …).
    One task receives; one task at a time sends."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        self._reader = hiredis.Reader()

    @classmethod
    async def open(cls, url: str) -> PubSubConnection:
        """Connect to the Redis at `url` (redis://, rediss:// or unix://, as redis-py
        reads it) and authenticate when it names a password. The caller bounds the
        time it may take."""
        options = parse_url(url)
        try:
            stream = await _connect(options)
        except OSError as exc:
            raise RedisConnectionError(f"pub/sub connection: {exc!r}") from exc
        conn = cls(stream)
        try:
            password = options.get("password")
            if password:
                username = options.get("username")
                await conn.send("AUTH", *([username] if username else []), password)
                await conn._expect_ok()
        except BaseException:
            await conn.aclose()
            raise
        return conn

    async def send(self, *command: str | bytes) -> None:
        try:
            await self._stream.send_all(hiredis.pack_command(command))
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise RedisConnectionError(f"pub/sub connection lost: {exc!r}") from exc

    async def subscribe(self, *channels: str) -> None:
        if channels:
            await self.send("SUBSCRIBE", *channels)

    async def unsubscribe(self, *channels: str) -> None:
        if channels:
            await self.send("UNSUBSCRIBE", *channels)

    async def receive(self) -> list[Any]:
        """Wait for data, then return every whole reply it completed (possibly none,
        when a reply is still arriving)."""
        try:
            data = await self._stream.receive_some(READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise RedisConnectionError(f"pub/sub connection lost: {exc!r}") from exc
        if not data:
            raise RedisConnectionError("redis closed the pub/sub connection")
        self._reader.feed(data)
        replies = []
        try:
            while (reply := self._reader.gets()) is not False:
                if isinstance(reply, hiredis.ReplyError):
                    raise ResponseError(str(reply))
                replies.append(reply)
        except hiredis.ProtocolError as exc:
            raise RedisConnectionError(f"pub/sub protocol error: {exc}") from exc
        return replies

    async def _expect_ok(self) -> None:
        replies: list[Any] = []
        while not replies:
            replies = await self.receive()
        if replies != [b"OK"]:
            raise RedisConnectionError(f"pub/sub connection: unexpected {replies!r}")

    async def aclose(self) -> None:
        await self._stream.aclose()


async def _connect(options: dict[str, Any]) -> trio.abc.Stream:
    kind = options.get("connection_class")
    if kind is UnixDomainSocketConnection:
        return await trio.open_unix_socket(options["path"])
    host, port = options.get("host", "localhost"), int(options.get("port", 6379))
    if kind is not SSLConnection:
        return await trio.open_tcp_stream(host, port)
    context = ssl.create_default_context()
    if str(options.get("ssl_cert_reqs", "required")).lower() in ("none", "0"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return await trio.open_ssl_over_tcp_stream(host, port, ssl_context=context)
