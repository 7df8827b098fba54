"""An in-memory `Transport` for component tests: the test decides when writes are
refused (EAGAIN) and feeds the bytes the reader gets, and reads back the server's
frames. Same contract as `trichat.transport.SocketTransport`."""

from __future__ import annotations

import struct
from typing import Any

import orjson
import trio

from tests.helpers.rawws import client_frame


class FakeTransport:
    def __init__(self, room: int | None = None) -> None:
        self.write_target = self
        self.written = bytearray()  # every byte the server wrote, in order
        self.writes = 0  # the writes that took bytes (a syscall each on a socket)
        self.room = room  # bytes accepted before writes are refused; None: no limit
        self.broken = False  # the peer is gone: writes fail, reads see the end
        self.closed = False
        self._inbound = bytearray()
        self._eof = False
        self._changed = trio.Event()  # anything above changed
        self._parsed = 0  # how far `frames` has parsed `written`
        self._frames: list[tuple[int, bytes]] = []

    # ---- the Transport ------------------------------------------------------------

    @staticmethod
    def try_write(target: Any, data: bytes, /) -> int:
        fake: FakeTransport = target
        if fake.broken or fake.closed:
            raise BrokenPipeError("the fake peer is gone")
        n = len(data) if fake.room is None else min(fake.room, len(data))
        if n == 0:
            raise BlockingIOError("the fake refuses writes for now")
        if fake.room is not None:
            fake.room -= n
        fake.written += data[:n]
        fake.writes += 1
        fake._poke()
        return n

    def try_read(self, max_bytes: int) -> bytes:
        if self._inbound:
            out = bytes(self._inbound[:max_bytes])
            del self._inbound[:max_bytes]
            return out
        if self._eof or self.broken:
            return b""
        raise BlockingIOError("nothing to read yet")

    async def wait_writable(self) -> None:
        while self.room == 0 and not (self.broken or self.closed):
            await self._wait_change()

    async def wait_readable(self) -> None:
        while not (self._inbound or self._eof or self.broken):
            await self._wait_change()

    async def aclose(self) -> None:
        self.closed = True
        self._poke()

    # ---- the test's side ----------------------------------------------------------

    def allow(self, n: int | None) -> None:
        """Accept `n` more bytes (None: everything from now on)."""
        self.room = None if n is None else (self.room or 0) + n
        self._poke()

    def feed(self, data: bytes) -> None:
        self._inbound += data
        self._poke()

    def send(self, opcode: int, payload: bytes) -> None:
        """Feed one masked client frame."""
        self.feed(client_frame(opcode, payload))

    def send_json(self, obj: dict[str, object]) -> None:
        self.send(0x1, orjson.dumps(obj))

    def feed_eof(self) -> None:
        self._eof = True
        self._poke()

    def frames(self) -> list[tuple[int, bytes]]:
        """(opcode, payload) of every whole server frame written so far."""
        buf, at = self.written, self._parsed
        while len(buf) - at >= 2:
            n, head = buf[at + 1] & 0x7F, 2
            if n == 126:
                if len(buf) - at < 4:
                    break
                (n,) = struct.unpack_from("!H", buf, at + 2)
                head = 4
            elif n == 127:
                if len(buf) - at < 10:
                    break
                (n,) = struct.unpack_from("!Q", buf, at + 2)
                head = 10
            if len(buf) - at < head + n:
                break
            self._frames.append((buf[at] & 0x0F, bytes(buf[at + head : at + head + n])))
            at += head + n
        self._parsed = at
        return list(self._frames)

    def texts(self) -> list[dict[str, Any]]:
        return [orjson.loads(p) for op, p in self.frames() if op == 0x1]

    async def wait_for_frames(self, n: int) -> list[tuple[int, bytes]]:
        """Wait until `n` whole frames were written (under the caller's timeout)."""
        while len(self.frames()) < n:
            await self._wait_change()
        return self.frames()

    async def wait_written(self, n: int) -> None:
        """Wait until `n` bytes were written in all (under the caller's timeout)."""
        while len(self.written) < n:
            await self._wait_change()

    async def wait_for_text(self, kind: str) -> dict[str, Any]:
        """The first text frame of type `kind`, waiting for it if need be."""
        while True:
            for obj in self.texts():
                if obj.get("type") == kind:
                    return obj
            await self._wait_change()

    async def wait_closed(self) -> None:
        while not self.closed:
            await self._wait_change()

    def close_code(self) -> int | None:
        """The code of the server's close frame, if one was written."""
        for op, payload in self.frames():
            if op == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        return None

    def _poke(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _wait_change(self) -> None:
        await self._changed.wait()
