"""The byte pipe under a WebSocket session: what the `Outbox` writes to and the
reader reads from.

Writes take the target as an argument: the outbox calls
`transport.try_write(transport.write_target, data)` once per frame on the fan-out
hot path, and a socket's pair is `(os.write, fd)` itself, so the call specializes
as the builtin it is: an offer costs what it did on the raw fd (`bench/outbox_cost.py`;
a bound `functools.partial(os.write, fd)` cost ~35 ns more per frame on CPython
3.11). `try_write` returns how
many bytes went out (possibly fewer than given) and raises `BlockingIOError` when
nothing fits now, any other `OSError` when the peer is gone; `try_read` returns up
to `max_bytes`, `b""` at end of stream, and raises `BlockingIOError` when nothing
is there yet — the non-blocking socket's semantics, for every implementation.
Tests use an in-memory fake with the same contract (`tests/helpers/transport.py`).
"""

from __future__ import annotations

import os
from typing import Any, Protocol

import trio


class Transport(Protocol):
    write_target: Any

    @staticmethod
    def try_write(target: Any, data: bytes, /) -> int:
        """Write what fits of `data` to `target` (this transport's `write_target`)."""

    def try_read(self, max_bytes: int) -> bytes: ...

    async def wait_writable(self) -> None: ...

    async def wait_readable(self) -> None: ...

    async def aclose(self) -> None:
        """Close the pipe; the peer sees the end of the stream."""


class SocketTransport:
    """A connected non-blocking socket, used through its raw fd (as trio's own
    `SocketStream` would, minus a wasted `recv` that fails with EAGAIN per frame:
    the reader waits first, then reads). Two slots per connection: idle
    connections are many (docs/performance.md, "Idle connections")."""

    __slots__ = ("_stream", "write_target")

    try_write = staticmethod(os.write)

    def __init__(self, fd: int, stream: trio.SocketStream | None = None) -> None:
        self.write_target = fd
        self._stream = stream

    @classmethod
    def of_stream(cls, stream: trio.SocketStream) -> SocketTransport:
        """The transport over `stream`'s socket; closing it closes the stream."""
        return cls(stream.socket.fileno(), stream)

    def try_read(self, max_bytes: int) -> bytes:
        return os.read(self.write_target, max_bytes)

    async def wait_writable(self) -> None:
        await trio.lowlevel.wait_writable(self.write_target)

    async def wait_readable(self) -> None:
        await trio.lowlevel.wait_readable(self.write_target)

    async def aclose(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()
