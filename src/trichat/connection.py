"""One WebSocket connection: a nursery with a reader and a writer over a `Transport`.

`Session` is the member the supervisors hold — identity, outbox, joined channels
and their cleanup — and runs the connection's two tasks. The reader turns bytes
into frames (`protocol.wsparse`) and answers the control frames itself; text frames
go to the dispatcher (`connection_dispatch`), whose joins catch up through
`connection_catchup`. The writer drains the connection's `Outbox`. Pings, pong
timeouts and the token's expiry and refresh are `connection_liveness`, called by
the instance's one `KeepAlive` task. When either task ends the connection, the
nursery cancels the other, and cleanup (leave every channel, end presence) always
runs, shielded.
"""

from __future__ import annotations

import itertools
import logging

import trio

from trichat import connection_dispatch, errors
from trichat.connection_deps import SessionDeps
from trichat.connection_liveness import Liveness
from trichat.errors import ClientError, Disconnect
from trichat.hub import Supervisor
from trichat.models import Principal
from trichat.outbox import Outbox
from trichat.protocol import frames
from trichat.protocol.wsparse import CLOSE, FAIL, PING, PONG, TEXT, ClientFrames
from trichat.transport import Transport

log = logging.getLogger("trichat.connection")

RECV_BYTES = 65536
CLOSE_WAIT = 1.0  # seconds to wait for the peer's close frame after ours

_ids = itertools.count(1)
_FAIL_ERRORS = {errors.TOO_BIG.code: "frame_too_big", errors.BINARY_FRAME.code: "binary_frame"}


class Session:
    """A connection's state; also the `Member` that supervisors hold."""

    def __init__(
        self,
        transport: Transport,
        principal: Principal,
        deps: SessionDeps,
        *,
        trailing: bytes = b"",
    ) -> None:
        self.id = next(_ids)
        self.principal = principal
        self.user_id = principal.user_id
        self.conn_key = f"{deps.settings.instance_id}:{self.id}"
        self.transport = transport
        self.deps = deps
        self.outbox = Outbox(transport, deps.settings.send_queue)
        self.outbox.on_backlog = self._start_writer
        self._writing = False  # a writer task is draining the outbox
        self._accepting_writers = True
        self.frames = ClientFrames(deps.settings.max_frame_bytes)
        self._trailing = trailing  # bytes read with the request head: the first frames
        self.joined: dict[str, Supervisor] = {}
        self.liveness = Liveness(self, deps)
        self.finished = False
        self._peer_closed: trio.Event | None = None  # made when first needed: at the end
        self.unanswered = 0  # messages queued for the store, not answered yet
        self._answered: trio.Event | None = None  # made when a frame must wait for them
        self._nursery: trio.Nursery | None = None

    # ---- Member -------------------------------------------------------------------

    def removed(self, channel_id: str) -> None:
        sup = self.joined.pop(channel_id, None)
        if sup is not None:
            self.deps.hub.release(sup)
            if self._nursery is not None:
                self._nursery.start_soon(
                    self.deps.service.presence_leave, self.principal, channel_id, self.conn_key
                )

    def detach(self, channel_id: str) -> Supervisor | None:
        """Out of `channel_id`'s supervisor (presence is the caller's to end)."""
        sup = self.joined.pop(channel_id, None)
        if sup is not None:
            sup.detach(self)
            self.deps.hub.release(sup)
        return sup

    def answered(self) -> None:
        """A queued message was answered (acked or refused)."""
        self.unanswered -= 1
        self.deps.sessions.done_with_one()
        if self._answered is not None and not self.unanswered:
            self._answered.set()

    async def wait_answered(self) -> None:
        """Until every queued message of this connection is answered."""
        while self.unanswered:
            self._answered = trio.Event()
            await self._answered.wait()
        self._answered = None

    def peer_closed(self) -> trio.Event:
        """Set once the peer has closed (its close frame, or the socket's end)."""
        if self._peer_closed is None:
            self._peer_closed = trio.Event()
        return self._peer_closed

    # ---- lifecycle ----------------------------------------------------------------

    async def serve(self, first: list[str] | None = None) -> None:
        """Run the connection until it ends. `first`: channels to join at once."""
        sessions, personal = self.deps.sessions, self.deps.hub.personal
        sessions.add(self)
        personal.add(self)  # the user's own events, joined anywhere or not
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    for channel_id in first or ():
                        try:
                            await connection_dispatch.join(self, frames.Join(channel_id, None))
                        except ClientError as err:
                            self.outbox.offer(frames.ws_frame(frames.encode_error(err)))
                    # the reader runs in this task, the nursery's own (in its cancel
                    # scope, like a child): a task fewer per connection
                    await self._reader()
                finally:
                    # the connection is ending: a writer running finishes its work,
                    # no new one starts (the nursery may close any moment now)
                    self._accepting_writers = False
        finally:
            self.finished = True
            personal.remove(self)
            sessions.remove(self)
            with trio.CancelScope(shield=True):
                await self._leave_all()
                await self.transport.aclose()

    def close(self, reason: Disconnect) -> None:
        self.outbox.close(reason)

    def end(self) -> None:
        """End the connection now (its tasks are cancelled; cleanup follows)."""
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _leave_all(self) -> None:
        service = self.deps.service
        for channel_id, sup in list(self.joined.items()):
            sup.detach(self)
            self.deps.hub.release(sup)
            with trio.move_on_after(2):
                try:
                    await service.presence_leave(self.principal, channel_id, self.conn_key)
                except Exception:
                    log.warning("presence leave failed", exc_info=True)
        self.joined.clear()

    # ---- the two tasks ------------------------------------------------------------

    def _start_writer(self) -> None:
        """The outbox has a backlog (or a close, or a broken socket): a writer task,
        if none is running. An idle connection has none (docs/architecture.md)."""
        if self._writing or self._nursery is None or not self._accepting_writers:
            return
        self._writing = True
        self._nursery.start_soon(self._writer)

    async def _writer(self) -> None:
        metrics = self.deps.metrics
        try:
            closed = await self.outbox.drain(self.deps.settings.write_timeout)
        except trio.TooSlowError:
            metrics.err["write_timeout"].inc()
        except trio.BrokenResourceError:
            pass  # the peer is gone: nothing left to write, end below
        else:
            if not closed:  # all written: no writer until the next backlog
                self._writing = False
                return
            # our close frame is out: give the peer a moment to answer it
            if self.outbox.closing is errors.SLOW_CONSUMER:
                metrics.err["slow_consumer"].inc()
            with trio.move_on_after(CLOSE_WAIT):
                await self.peer_closed().wait()
        self.end()

    async def _reader(self) -> None:
        transport = self.transport
        data, self._trailing = self._trailing, b""
        while True:
            if data and not await self._on_bytes(data):
                return
            # wait first, then read: a chat connection is idle between frames, so a
            # read attempted first would almost always fail with EAGAIN (a wasted
            # syscall per frame, which trio's receive_some makes)
            await transport.wait_readable()
            try:
                data = transport.try_read(RECV_BYTES)
            except BlockingIOError:
                data = b""
                continue
            except OSError:
                data = b""
            if not data:
                self.peer_closed().set()
                self.end()
                return

    async def _on_bytes(self, data: bytes) -> bool:
        """Act on the frames `data` completes; False once the peer has closed. Of
        the pings among them only the last is answered (RFC 6455 §5.5.3 allows it):
        a flood of pings costs a pong per read, and cannot fill the Outbox."""
        ping = None
        for kind, value in self.frames.feed(data):
            if kind == TEXT:
                await connection_dispatch.on_text(self, value)
            elif kind == PING:
                ping = value
            elif kind == PONG:
                self.liveness.pong()
            elif kind == CLOSE:
                self.peer_closed().set()
                self.close(Disconnect(value if _echoable(value) else 1000, ""))
                return False
            elif kind == FAIL:
                self.deps.metrics.err[_FAIL_ERRORS.get(value.code, "protocol_error")].inc()
                self.close(value)
        if ping is not None:
            self.outbox.offer(frames.ws_pong_frame(ping))
        return True


def _echoable(code: int) -> bool:
    return 1000 <= code <= 4999 and code not in (1004, 1005, 1006, 1015)
