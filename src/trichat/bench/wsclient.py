"""A lean WebSocket client for load generation: the upgrade by hand, server frames
parsed straight from the receive buffer, client frames masked with one big-integer
XOR. A few µs per frame, where a general client library costs tens."""

from __future__ import annotations

import base64
import contextlib
import os
import struct
from collections.abc import AsyncIterator

import trio

TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class HandshakeFailed(Exception):
    """The server did not answer the upgrade with 101 (the reason is the status line)."""


def masked_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    repeated = (mask * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")
    return head + mask + body


class BenchSocket:
    def __init__(self, stream: trio.SocketStream, leftover: bytes) -> None:
        self.stream = stream
        self.buf = bytearray(leftover)
        self.send_lock = trio.Lock()

    @classmethod
    async def connect(cls, host: str, port: int, target: str) -> BenchSocket:
        stream = await trio.open_tcp_stream(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        try:
            await stream.send_all(request.encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    raise HandshakeFailed("connection closed during the upgrade")
                head += chunk
        except BaseException:
            await stream.aclose()
            raise
        head, _, rest = head.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if status.split(" ")[1:2] != ["101"]:
            await stream.aclose()
            raise HandshakeFailed(status)
        return cls(stream, rest)

    async def send(self, opcode: int, payload: bytes) -> None:
        async with self.send_lock:
            await self.stream.send_all(masked_frame(opcode, payload))

    async def frames(self) -> AsyncIterator[tuple[int, bytes]]:
        """Data frames (opcode, payload) until the connection closes. Pings are
        answered here."""
        buf = self.buf
        while True:
            pos, size = 0, len(buf)
            while size - pos >= 2:
                opcode, length = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
                start = pos + 2
                if length == 126:
                    if size - pos < 4:
                        break
                    length, start = struct.unpack_from("!H", buf, pos + 2)[0], pos + 4
                elif length == 127:
                    if size - pos < 10:
                        break
                    length, start = struct.unpack_from("!Q", buf, pos + 2)[0], pos + 10
                end = start + length
                if size < end:
                    break
                payload = bytes(buf[start:end])
                pos = end
                if opcode == PING:
                    await self.send(PONG, payload)
                elif opcode == CLOSE:
                    return
                else:
                    yield opcode, payload
            del buf[:pos]
            chunk = await self.stream.receive_some(262144)
            if not chunk:
                return
            buf += chunk

    async def aclose(self) -> None:
        with trio.move_on_after(1) as scope:
            scope.shield = True
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await self.send(CLOSE, struct.pack("!H", 1000))
            await self.stream.aclose()
