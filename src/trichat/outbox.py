"""A connection's outgoing bytes: written at once when possible, queued when not.

This is the fan-out hot path (see docs/architecture.md, "The outbox"). `offer` is
synchronous: with nothing queued it writes the frame straight to the non-blocking
socket (one syscall, no task switch); only what the kernel refuses is queued, and
only then is a writer needed: `on_backlog` tells the session, which starts a task
that `drain`s the queue as the socket becomes writable and ends when it is empty
(an idle connection has no writer task).
Every byte to a socket goes through one Outbox, so frames never interleave.

The bytes go to a `Transport` (`transport.py`); its `try_write` and its target
are cached in the outbox's own slots, so a socket write is `os.write(fd, data)`.

Overflow rule: more than `limit` queued frames closes the connection with 1013
`slow consumer` — the queue is dropped (the peer resumes with `since`), the close
frame goes out after whatever frame is half written, and the writer ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from trichat.errors import SLOW_CONSUMER, Disconnect
from trichat.protocol.frames import ws_close_frame
from trichat.transport import Transport

CLOSE_DRAIN = 2.0  # seconds a closing outbox may take to flush its close frame


def _nothing() -> None:
    return None


class Outbox:
    __slots__ = (
        "_corked",
        "_drained",
        "_head_partial",
        "_limit",
        "_pending",
        "_target",
        "_transport",
        "_write",
        "broken",
        "bytes_sent",
        "closing",
        "on_backlog",
    )

    def __init__(self, transport: Transport, limit: int) -> None:
        self._write: Callable[[Any, bytes], int] = transport.try_write
        self._target = transport.write_target
        self._transport = transport
        # a list, not a deque: the writer joins and clears it, never pops one item;
        # an empty deque is a 624-byte block on every idle connection, a list 56
        self._pending: list[bytes] = []
        self._head_partial = False  # the first queued item is a frame's unsent tail
        self._corked = False  # offers are held for one write at `uncork`
        self._limit = limit
        self._drained: trio.Event | None = None  # made by the first `send` that waits
        # called when there is something for a writer to do (a queue where there was
        # none, a close, a broken socket): the session starts one then (`drain`)
        self.on_backlog: Callable[[], None] = _nothing
        self.closing: Disconnect | None = None
        self.broken = False
        self.bytes_sent = 0

    @property
    def queued(self) -> int:
        return len(self._pending)

    def offer(self, data: bytes) -> None:
        """Send `data` (one whole frame) now or queue it; never blocks."""
        if self.closing is not None or self.broken:
            return
        if self._pending or self._corked:
            if len(self._pending) >= self._limit:
                self.close(SLOW_CONSUMER)
                return
            self._pending.append(data)
            return
        write = self._write  # a local: `self._write(...)` would not specialize (3.11)
        try:
            n = write(self._target, data)
        except BlockingIOError:
            n = 0
        except OSError:
            self._break()
            return
        self.bytes_sent += n
        if n < len(data):
            self._pending.append(data[n:])
            self._head_partial = n > 0
            self.on_backlog()

    def cork(self) -> None:
        """Hold the frames offered from now until `uncork`, to write them at once
        (an ack and the sender's own copy of the message: one syscall, not two).
        Only for a stretch with no checkpoint in it: other frames wait meanwhile."""
        self._corked = not self._pending  # with a backlog, the writer has them anyway

    def uncork(self) -> None:
        """Write what was held, in one write; a writer takes what the socket refuses."""
        if not self._corked:
            return
        self._corked = False
        if self._pending and self.closing is None and not self.broken:
            self._flush_some()
            if self._pending:
                self.on_backlog()

    async def send(self, data: bytes) -> None:
        """Like `offer`, but first wait while the queue is half full (flow control
        for bulk output such as history, which must not trip the slow-consumer rule)."""
        while len(self._pending) > self._limit // 2 and self.closing is None:
            if self._drained is None or self._drained.is_set():
                self._drained = trio.Event()
            await self._drained.wait()
        self.offer(data)

    def _tell_drained(self) -> None:
        if self._drained is not None:
            self._drained.set()

    def close(self, reason: Disconnect) -> None:
        """Queue a close frame after any half-written frame; refuse all further output."""
        if self.closing is not None:
            return
        self.closing = reason
        keep = [self._pending[0]] if self._pending and self._head_partial else []
        self._pending.clear()
        self._pending.extend(keep)
        self._pending.append(ws_close_frame(reason.code, reason.reason))
        self.on_backlog()
        self._tell_drained()

    def _break(self) -> None:
        self.broken = True
        self._pending.clear()
        self.on_backlog()
        self._tell_drained()

    async def drain(self, write_timeout: float) -> bool:
        """Write the queue out as the socket takes it; True once a close frame is
        out, False when the queue is empty (a writer's work is done until the next
        `on_backlog`). Raises `trio.TooSlowError` when the socket stays unwritable
        for `write_timeout`, `trio.BrokenResourceError` when the peer is gone."""
        while self._pending:
            timeout = CLOSE_DRAIN if self.closing is not None else write_timeout
            with trio.fail_after(timeout):
                await self._transport.wait_writable()
            self._flush_some()
            if len(self._pending) <= self._limit // 2:
                self._tell_drained()
        if self.broken:
            raise trio.BrokenResourceError("peer went away")
        return self.closing is not None

    async def run_writer(self, write_timeout: float) -> None:
        """Be this outbox's writer for good: drain whenever there is a backlog,
        return after a close frame is out (the session instead starts a `drain`
        task only when there is something to write)."""
        wake = [trio.Event()]
        self.on_backlog = lambda: wake[0].set()
        if self._pending or self.broken:
            wake[0].set()
        while True:
            await wake[0].wait()
            wake[0] = trio.Event()
            if await self.drain(write_timeout):
                return

    def _flush_some(self) -> None:
        pending = self._pending
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        try:
            n = self._write(self._target, data)
        except BlockingIOError:
            return
        except OSError:
            self._break()
            return
        self.bytes_sent += n
        pending.clear()
        if n < len(data):
            pending.append(data[n:])
            self._head_partial = True
        else:
            self._head_partial = False
