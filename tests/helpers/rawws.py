"""A minimal WebSocket client on a raw trio socket, for what a polite client
library will not do: never read, never answer pings, send oversized or binary
frames, stop half way through a request head."""

from __future__ import annotations

import base64
import os
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio


class RawWs:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buf = bytearray()
        self.status = 0
        self.head = b""

    @classmethod
    async def connect(
        cls,
        port: int,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        rcvbuf: int | None = None,
    ) -> RawWs:
        """Connect and send an upgrade request; the answer's status is `.status`."""
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        await sock.connect(("127.0.0.1", port))
        client = cls(trio.SocketStream(sock))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        await client.stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            client.head = await client._read_until(b"\r\n\r\n")
        except BaseException:
            await client.aclose()
            raise
        client.status = int(client.head.split(b" ", 2)[1])
        return client

    async def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError("closed before marker")
            self.buf += data
        end = self.buf.index(marker) + len(marker)
        out = bytes(self.buf[:end])
        del self.buf[:end]
        return out

    async def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError("connection closed")
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        await self.stream.send_all(client_frame(opcode, payload, fin=fin))

    async def send_json(self, obj: dict[str, object]) -> None:
        await self.send_frame(0x1, orjson.dumps(obj))

    async def recv_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame from the server."""
        b0, b1 = await self._read_exact(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self._read_exact(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self._read_exact(8))
        return b0 & 0x0F, await self._read_exact(n)

    async def recv_json(self) -> dict[str, object]:
        """The next text frame as JSON (control frames skipped)."""
        while True:
            opcode, payload = await self.recv_frame()
            if opcode == 0x1:
                return orjson.loads(payload)  # type: ignore[no-any-return]
            if opcode == 0x8:
                raise EOFError(f"close frame {close_code(payload)}")

    async def recv_close(self) -> int:
        """Read frames until the close frame; its code."""
        while True:
            opcode, payload = await self.recv_frame()
            if opcode == 0x8:
                return close_code(payload)

    async def aclose(self) -> None:
        await self.stream.aclose()


@asynccontextmanager
async def raw_ws(port: int, path: str, **kwargs: Any) -> AsyncIterator[RawWs]:
    client = await RawWs.connect(port, path, **kwargs)
    try:
        yield client
    finally:
        await client.aclose()


def close_code(payload: bytes) -> int:
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


def client_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    mask: bytes | None = None,
    masked: bool = True,
    rsv: int = 0,
) -> bytes:
    """One client frame as RFC 6455 §5.2 lays it out (masked, unless told not to)."""
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    n = len(payload)
    flag = 0x80 if masked else 0
    if n < 126:
        header = struct.pack("!BB", first, flag | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, flag | 126, n)
    else:
        header = struct.pack("!BBQ", first, flag | 127, n)
    if not masked:
        return header + payload
    mask = os.urandom(4) if mask is None else mask
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
