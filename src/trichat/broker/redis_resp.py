"""A Redis connection on the trio side: a trio stream speaking RESP2, parsed by
hiredis (redis-py's own C parser), with redis-py's URL parsing and exceptions.

Two of the broker's connections are these, not redis-py's asyncio client under
trio-asyncio: the subscribed one (`redis_pubsub`), which only receives, and the
conveyor's (`redis_conveyor`), which sends each tick's publishes and rate-limit
spends as one pipeline. Both are per-message work; through redis-py under
trio-asyncio a pipeline of 7 publishes cost 476 to 501 µs of CPU, on this
connection 58 to 67 (`bench/conveyor_cost.py`; docs/performance.md, "Performance
VI"). Everything else (presence, read markers, their scripts) stays on redis-py's
client (`redis_link`).

Errors come out as redis-py's exceptions (`redis.exceptions.ConnectionError`,
`ResponseError`), which the broker already counts as Redis failing.
"""

from __future__ import annotations

import ssl
from typing import Any, Self

import hiredis
import trio
from redis.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

READ_SIZE = 65_536  # bytes per receive: a busy instance's burst of events in one read


class RespConnection:
    """Commands out, replies in (as Redis sends them: bytes, ints, lists; an error
    reply as a `hiredis.ReplyError` value). One task receives; one task at a time
    sends."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        self._reader = hiredis.Reader()

    @classmethod
    async def open(cls, url: str) -> Self:
        """Connect to the Redis at `url` (redis://, rediss:// or unix://, as redis-py
        reads it), authenticate when it names a password and choose its database
        (PubSub ignores it; the conveyor's keys live there). The caller bounds the
        time it may take."""
        options = parse_url(url)
        try:
            stream = await _connect(options)
        except OSError as exc:
            raise RedisConnectionError(f"redis connection: {exc!r}") from exc
        conn = cls(stream)
        try:
            password, db = options.get("password"), int(options.get("db") or 0)
            if password:
                username = options.get("username")
                await conn.send("AUTH", *([username] if username else []), password)
                await conn._expect_ok()
            if db:
                await conn.send("SELECT", str(db))
                await conn._expect_ok()
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return conn

    async def send(self, *command: str | bytes) -> None:
        await self.send_packed(hiredis.pack_command(command))

    async def send_packed(self, data: bytes) -> None:
        """Send commands already in RESP (`hiredis.pack_command`), as one write."""
        try:
            await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise _lost(exc) from exc

    async def receive(self) -> list[Any]:
        """Wait for data, then return every whole reply it completed (possibly none,
        when a reply is still arriving)."""
        try:
            data = await self._stream.receive_some(READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise _lost(exc) from exc
        if not data:
            raise RedisConnectionError("redis closed the connection")
        self._reader.feed(data)
        replies = []
        try:
            while (reply := self._reader.gets()) is not False:
                replies.append(reply)
        except hiredis.ProtocolError as exc:
            raise RedisConnectionError(f"redis protocol error: {exc}") from exc
        return replies

    async def replies(self, count: int) -> list[Any]:
        """The next `count` replies (to commands sent on this connection)."""
        got: list[Any] = []
        while len(got) < count:
            got += await self.receive()
        if len(got) > count:
            raise RedisConnectionError(f"redis sent {len(got)} replies for {count} commands")
        return got

    async def _expect_ok(self) -> None:
        reply = raise_error((await self.replies(1))[0])
        if reply != b"OK":
            raise RedisConnectionError(f"redis connection: unexpected {reply!r}")

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self._stream)


def _lost(exc: BaseException) -> RedisConnectionError:
    """The stream broke: say why (a TLS handshake's failure is the cause trio
    wraps, `ssl.SSLCertVerificationError` for an untrusted certificate)."""
    return RedisConnectionError(f"redis connection lost: {exc.__cause__ or exc!r}")


def raise_error(reply: Any) -> Any:
    """`reply`, unless it is an error reply: then redis-py's `ResponseError`."""
    if isinstance(reply, hiredis.ReplyError):
        raise ResponseError(str(reply))
    return reply


async def _connect(options: dict[str, Any]) -> trio.abc.Stream:
    kind = options.get("connection_class")
    if kind is UnixDomainSocketConnection:
        return await trio.open_unix_socket(options["path"])
    host, port = options.get("host", "localhost"), int(options.get("port", 6379))
    if kind is not SSLConnection:
        return await trio.open_tcp_stream(host, port)
    context = ssl_context(options)
    return await trio.open_ssl_over_tcp_stream(host, port, ssl_context=context)


def ssl_context(options: dict[str, Any]) -> ssl.SSLContext:
    """TLS as redis-py's client makes it from the same rediss:// URL's options:
    `ssl_ca_certs` (the CAs to trust; default the system's), `ssl_cert_reqs`
    (none, optional, required: the default), `ssl_check_hostname`, and
    `ssl_certfile` / `ssl_keyfile` (a client certificate)."""
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
    reqs = str(options.get("ssl_cert_reqs", "required")).lower()
    if reqs in ("none", "0", "cert_none"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        if reqs in ("optional", "1", "cert_optional"):
            context.verify_mode = ssl.CERT_OPTIONAL
        context.check_hostname = bool(options.get("ssl_check_hostname", True))
    if options.get("ssl_certfile"):
        context.load_cert_chain(options["ssl_certfile"], options.get("ssl_keyfile"))
    return context
