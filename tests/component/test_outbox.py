"""The outbox over a real socketpair: direct writes, queueing, overflow, draining."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
import trio
import trio.testing

from tests.helpers.transport import FakeTransport
from trichat.errors import SLOW_CONSUMER
from trichat.outbox import Outbox
from trichat.protocol.frames import ws_close_frame
from trichat.transport import SocketTransport


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    yield a, b
    a.close()
    b.close()


def drain(sock: socket.socket) -> bytes:
    sock.setblocking(False)
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk


async def drained_by_writer(box: Outbox, sock: socket.socket, expected: bytes) -> bytes:
    """Run the outbox's writer until `sock` has received as many bytes as `expected`."""
    received = bytearray()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(box.run_writer, 5.0)
        while len(received) < len(expected):
            await trio.lowlevel.wait_readable(sock)
            received += drain(sock)
        nursery.cancel_scope.cancel()
    return bytes(received)


async def test_direct_write_when_idle(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    box = Outbox(SocketTransport(a.fileno()), limit=4)
    box.offer(b"hello")
    assert box.queued == 0 and drain(b) == b"hello"


async def test_queue_keeps_order_and_writer_drains(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    box = Outbox(SocketTransport(a.fileno()), limit=1000)
    frames = [bytes([65 + i % 26]) * 1000 for i in range(200)]
    for f in frames:
        box.offer(f)
    assert box.queued > 0  # the kernel refused some
    assert await drained_by_writer(box, b, b"".join(frames)) == b"".join(frames)


async def test_overflow_closes_with_1013_after_partial_frame(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    box = Outbox(SocketTransport(a.fileno()), limit=3)
    for _ in range(50):
        box.offer(b"z" * 1000)
    assert box.closing is SLOW_CONSUMER
    box.offer(b"ignored")  # nothing more is taken
    received = bytearray()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(box.run_writer, 5.0)
        while not received.endswith(b"slow consumer"):
            await trio.lowlevel.wait_readable(b)
            received += drain(b)
    body = bytes(received).rstrip(b"z")
    assert body.endswith(b"\x88\x0f\x03\xf5slow consumer")  # close frame, code 1013
    assert set(bytes(received)[: len(received) - 17]) == {ord("z")}
    assert len(received) % 1000 == 17  # whole frames only, then the close frame


async def test_write_timeout(pair: tuple[socket.socket, socket.socket]) -> None:
    a, _b = pair
    box = Outbox(SocketTransport(a.fileno()), limit=10_000)
    while box.queued == 0:
        box.offer(b"q" * 1000)
    with pytest.raises(trio.TooSlowError):
        await box.run_writer(0.2)


async def test_peer_gone(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    b.close()
    box = Outbox(SocketTransport(a.fileno()), limit=10)
    box.offer(b"x")
    box.offer(b"y")
    assert box.broken
    with pytest.raises(trio.BrokenResourceError):
        await box.run_writer(1.0)


async def test_a_refused_write_queues_and_the_writer_sends_when_allowed() -> None:
    wire = FakeTransport(room=3)
    box = Outbox(wire, limit=10)
    box.offer(b"hello")  # the fake takes 3 bytes, then refuses (EAGAIN)
    box.offer(b"world")
    assert bytes(wire.written) == b"hel" and box.queued == 2
    async with trio.open_nursery() as nursery:
        nursery.start_soon(box.run_writer, 5.0)
        await trio.testing.wait_all_tasks_blocked()
        assert bytes(wire.written) == b"hel"  # the writer waits for writability
        wire.allow(None)
        await trio.testing.wait_all_tasks_blocked()  # the writer ran and parked again
        nursery.cancel_scope.cancel()
    assert bytes(wire.written) == b"helloworld" and box.queued == 0 and box.bytes_sent == 10


async def test_close_keeps_the_half_written_frame_and_drops_the_rest() -> None:
    wire = FakeTransport(room=2)
    box = Outbox(wire, limit=10)
    for frame in (b"aaaa", b"bbbb", b"cccc"):
        box.offer(frame)
    box.close(SLOW_CONSUMER)
    wire.allow(None)
    with trio.fail_after(5):
        await box.run_writer(5.0)  # returns once the close frame is out
    assert bytes(wire.written) == b"aaaa" + ws_close_frame(1013, "slow consumer")


class _CountingTransport:
    """A real socket's transport, with its writes counted."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.writes = 0
        self.write_target = self  # the outbox calls try_write(write_target, data)

    @staticmethod
    def try_write(target: _CountingTransport, data: bytes, /) -> int:
        target.writes += 1
        return os.write(target.fd, data)

    async def wait_writable(self) -> None:
        await trio.lowlevel.wait_writable(self.fd)


async def test_corked_frames_leave_in_one_write(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    transport = _CountingTransport(a.fileno())
    box = Outbox(transport, limit=4)  # type: ignore[arg-type]
    box.cork()
    box.offer(b"ack")
    box.offer(b"message")
    assert transport.writes == 0 and drain(b) == b""  # held
    box.uncork()
    assert transport.writes == 1 and drain(b) == b"ackmessage"
    box.offer(b"later")  # uncorked: written at once again
    assert transport.writes == 2 and drain(b) == b"later"


async def test_uncork_leaves_what_the_socket_refuses_to_a_writer(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    box = Outbox(SocketTransport(a.fileno()), limit=1000)
    backlog: list[int] = []
    box.on_backlog = lambda: backlog.append(box.queued)
    frames = [bytes([65 + i % 26]) * 1000 for i in range(100)]
    box.cork()
    for f in frames:
        box.offer(f)
    assert not backlog  # nothing written, nothing for a writer yet
    box.uncork()
    assert backlog and box.queued == 1  # the unsent tail, for the writer
    assert await drained_by_writer(box, b, b"".join(frames)) == b"".join(frames)


async def test_cork_with_a_backlog_keeps_the_order(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    box = Outbox(SocketTransport(a.fileno()), limit=1000)
    frames = [bytes([65 + i % 26]) * 1000 for i in range(100)]
    for f in frames:
        box.offer(f)
    queued = box.queued
    assert queued > 0
    box.cork()
    box.offer(b"after")
    box.uncork()  # the backlog is the writer's: uncork writes nothing ahead of it
    assert box.queued == queued + 1
    expected = b"".join(frames) + b"after"
    assert await drained_by_writer(box, b, expected) == expected
