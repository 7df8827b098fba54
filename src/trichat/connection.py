"""One WebSocket connection: a nursery with a reader and a writer.

The reader turns bytes into frames (`protocol.wsparse`) and frames into actions (join, leave,
message, typing, refresh); the writer drains the connection's `Outbox`. Pings, pong
timeouts and the token's expiry are the instance's one `KeepAlive` task's job, which
calls `Session.keepalive` when due. When either task ends the connection, the
nursery cancels the other, and cleanup (leave every channel, end presence) always
runs, shielded.
"""

from __future__ import annotations

import itertools
import logging
import os
import time

import trio

from trichat import errors
from trichat.auth import Verifier
from trichat.config import Settings
from trichat.errors import NOT_JOINED, AuthError, ClientError, Disconnect, StoreUnavailable
from trichat.hub import Hub, Supervisor
from trichat.metrics import Metrics
from trichat.models import Principal
from trichat.outbox import Outbox
from trichat.protocol import frames
from trichat.protocol.wsparse import CLOSE, FAIL, PING, PONG, TEXT, ClientFrames
from trichat.service import ChatService
from trichat.sessions import Sessions

log = logging.getLogger("trichat.connection")

RECV_BYTES = 65536
REFRESH_LEAD = 30.0  # seconds before expiry that `refresh_needed` is sent
CLOSE_WAIT = 1.0  # seconds to wait for the peer's close frame after ours

_ids = itertools.count(1)
_FAIL_ERRORS = {errors.TOO_BIG.code: "frame_too_big", errors.BINARY_FRAME.code: "binary_frame"}


class Session:
    """A connection's state; also the `Member` that supervisors hold."""

    def __init__(
        self,
        stream: trio.SocketStream,
        principal: Principal,
        *,
        settings: Settings,
        service: ChatService,
        hub: Hub,
        sessions: Sessions,
        metrics: Metrics,
        trailing: bytes = b"",
    ) -> None:
        self.id = next(_ids)
        self.principal = principal
        self.user_id = principal.user_id
        self.conn_key = f"{settings.instance_id}:{self.id}"
        self.stream = stream
        self.settings = settings
        self.service = service
        self.hub = hub
        self.sessions = sessions
        self.metrics = metrics
        self.outbox = Outbox(stream.socket.fileno(), settings.send_queue)
        self.frames = ClientFrames(settings.max_frame_bytes)
        self._trailing = trailing  # bytes read with the request head: the first frames
        self.joined: dict[str, Supervisor] = {}
        self.last_pong = trio.current_time()
        self._next_ping = self.last_pong + settings.ping_interval
        self._warned_for = 0  # the token expiry `refresh_needed` was sent for
        self.keepalive_due = 0.0
        self.finished = False
        self.peer_closed = trio.Event()
        self._nursery: trio.Nursery | None = None
        self.verifier: Verifier | None = None

    # ---- Member -------------------------------------------------------------------

    def removed(self, channel_id: str) -> None:
        sup = self.joined.pop(channel_id, None)
        if sup is not None:
            self.hub.release(sup)
            if self._nursery is not None:
                self._nursery.start_soon(
                    self.service.presence_leave, self.principal, channel_id, self.conn_key
                )

    # ---- lifecycle ----------------------------------------------------------------

    async def serve(self, verifier: Verifier, first: list[str] | None = None) -> None:
        """Run the connection until it ends. `first`: channels to join at once."""
        self.verifier = verifier
        self.sessions.add(self)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._writer)
                for channel_id in first or ():
                    try:
                        await self._join(frames.Join(channel_id, None))
                    except ClientError as err:
                        self.outbox.offer(frames.ws_frame(frames.encode_error(err)))
                nursery.start_soon(self._reader)
        finally:
            self.finished = True
            self.sessions.remove(self)
            with trio.CancelScope(shield=True):
                await self._leave_all()
                await self.stream.aclose()

    def close(self, reason: Disconnect) -> None:
        self.outbox.close(reason)

    def _end(self) -> None:
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _leave_all(self) -> None:
        for channel_id, sup in list(self.joined.items()):
            sup.detach(self)
            self.hub.release(sup)
            with trio.move_on_after(2):
                try:
                    await self.service.presence_leave(self.principal, channel_id, self.conn_key)
                except Exception:
                    log.warning("presence leave failed", exc_info=True)
        self.joined.clear()

    # ---- the three tasks ----------------------------------------------------------

    async def _writer(self) -> None:
        try:
            await self.outbox.run_writer(self.settings.write_timeout)
        except trio.TooSlowError:
            self.metrics.err["write_timeout"].inc()
        except trio.BrokenResourceError:
            pass  # the peer is gone: nothing left to write, end below
        else:  # our close frame is out: give the peer a moment to answer it
            if self.outbox.closing is errors.SLOW_CONSUMER:
                self.metrics.err["slow_consumer"].inc()
            with trio.move_on_after(CLOSE_WAIT):
                await self.peer_closed.wait()
        self._end()

    def keepalive(self, now: float) -> float | None:
        """Called by the instance's `KeepAlive` task when due: ping, end a peer that
        stopped answering pings, warn before the token expires and close when it
        has. Returns when to be called next (None: this connection is done)."""
        if self.finished:
            return None
        settings = self.settings
        exp_in = self.principal.exp - time.time()
        if exp_in <= 0:
            self.close(errors.TOKEN_EXPIRED)
            return None
        if exp_in <= REFRESH_LEAD and self._warned_for != self.principal.exp:
            self._warned_for = self.principal.exp
            self.outbox.offer(
                frames.ws_frame(frames.encode_expiry("refresh_needed", self.principal.exp))
            )
        if now - self.last_pong > settings.pong_timeout:
            self.metrics.err["pong_timeout"].inc()
            self._end()
            return None
        if now >= self._next_ping:
            if self.outbox.closing is None:
                self.outbox.offer(frames.ws_ping_frame(b"trichat"))
            self._next_ping = now + settings.ping_interval
        warned = self._warned_for == self.principal.exp
        expiry_wake = exp_in if warned else exp_in - REFRESH_LEAD
        return min(self._next_ping, self.last_pong + settings.pong_timeout, now + expiry_wake)

    async def _reader(self) -> None:
        fd = self.stream.socket.fileno()
        data, self._trailing = self._trailing, b""
        while True:
            if data and not await self._on_bytes(data):
                return
            # wait first, then read: a chat connection is idle between frames, so a
            # read attempted first would almost always fail with EAGAIN (a wasted
            # syscall per frame, which trio's receive_some makes)
            await trio.lowlevel.wait_readable(fd)
            try:
                data = os.read(fd, RECV_BYTES)
            except BlockingIOError:
                data = b""
                continue
            except OSError:
                data = b""
            if not data:
                self.peer_closed.set()
                self._end()
                return

    async def _on_bytes(self, data: bytes) -> bool:
        """Act on the frames `data` completes; False once the peer has closed."""
        for kind, value in self.frames.feed(data):
            if kind == TEXT:
                await self._on_text(value)
            elif kind == PING:
                self.outbox.offer(frames.ws_pong_frame(value))
            elif kind == PONG:
                self.last_pong = trio.current_time()
            elif kind == CLOSE:
                self.peer_closed.set()
                self.close(Disconnect(value if _echoable(value) else 1000, ""))
                return False
            elif kind == FAIL:
                self.metrics.err[_FAIL_ERRORS.get(value.code, "protocol_error")].inc()
                self.close(value)
        return True

    # ---- frames -------------------------------------------------------------------

    async def _on_text(self, text: str) -> None:
        if self.outbox.closing is not None or self.sessions.draining:
            return  # nothing new is taken once closing; unacked messages can be resent
        sessions = self.sessions
        sessions.inflight += 1
        try:
            frame = frames.parse(text, max_content_chars=self.settings.max_content_chars)
            await self._dispatch(frame)
        except StoreUnavailable as exc:
            log.warning("frame refused: %s", exc)  # the driver's words stay in the log
            self.metrics.err[errors.UNAVAILABLE].inc()
            err = ClientError(errors.UNAVAILABLE, "the store is unavailable; retry")
            self.outbox.offer(frames.ws_frame(frames.encode_error(err)))
        except ClientError as err:
            self.metrics.err[err.code].inc()
            if err.code == errors.BAD_REQUEST:
                self.metrics.msg["invalid"].inc()
            self.outbox.offer(frames.ws_frame(frames.encode_error(err)))
        finally:
            sessions.inflight -= 1
            if sessions.inflight == 0:
                sessions.idle.set()

    async def _dispatch(self, frame: frames.ClientFrame) -> None:
        msg = self.metrics.msg
        if isinstance(frame, frames.Send):
            msg["message"].inc()
            if frame.channel_id not in self.joined:
                raise ClientError(
                    NOT_JOINED,
                    "join the channel before sending to it",
                    channel_id=frame.channel_id,
                    message_id=frame.message_id,
                )
            result = await self.service.send(
                self.principal, frame.channel_id, frame.content, frame.message_id
            )
            self.outbox.offer(frames.ws_frame(frames.encode_ack(result.message)))
            msg["ack"].inc()
        elif isinstance(frame, frames.Join):
            msg["join"].inc()
            await self._join(frame)
        elif isinstance(frame, frames.Leave):
            msg["leave"].inc()
            await self._leave(frame.channel_id)
        elif isinstance(frame, frames.Typing):
            msg["typing"].inc()
            if frame.channel_id not in self.joined:
                raise ClientError(NOT_JOINED, "join the channel first", channel_id=frame.channel_id)
            await self.service.typing(self.principal, frame.channel_id)
        elif isinstance(frame, frames.Refresh):
            msg["refresh"].inc()
            self._refresh(frame.token)

    def _refresh(self, token: str) -> None:
        assert self.verifier is not None
        try:
            fresh = self.verifier.verify(token)
        except AuthError as exc:
            raise ClientError(errors.UNAUTHORIZED, str(exc)) from None
        if fresh.user_id != self.principal.user_id:
            raise ClientError(errors.BAD_REQUEST, "a refreshed token must name the same user")
        self.principal = fresh
        self.outbox.offer(frames.ws_frame(frames.encode_expiry("refreshed", fresh.exp)))
        self.sessions.keepalive.schedule(self, trio.current_time())

    async def _join(self, frame: frames.Join) -> None:
        channel_id = frame.channel_id
        rejoin = channel_id in self.joined
        if rejoin:  # again, e.g. to catch up from a `since`: the user never left
            self._detach(channel_id)
        try:
            sup = await self._attach(frame)
        except BaseException:
            if rejoin:  # refused this time (banned meanwhile, say): now they have left
                with trio.CancelScope(shield=True):
                    await self.service.presence_leave(self.principal, channel_id, self.conn_key)
            raise
        self.joined[channel_id] = sup
        self.metrics.channels_active.set(self.hub.channels_active)
        if not rejoin:
            await self.service.presence_join(self.principal, channel_id, self.conn_key)

    async def _attach(self, frame: frames.Join) -> Supervisor:
        await self.service.check_join(self.principal, frame.channel_id)
        sup = await self.hub.acquire(frame.channel_id)
        try:
            await self._catch_up(sup, frame)
        except BaseException:
            sup.detach(self)
            self.hub.release(sup)
            raise
        return sup

    def _detach(self, channel_id: str) -> Supervisor | None:
        sup = self.joined.pop(channel_id, None)
        if sup is not None:
            sup.detach(self)
            self.hub.release(sup)
        return sup

    async def _catch_up(self, sup: Supervisor, frame: frames.Join) -> None:
        """Send `joined`, then history (missed messages or the last N), then attach
        to the supervisor so live traffic follows with no gap and no duplicate."""
        settings, chat, channel_id = self.settings, self.service, sup.channel_id
        upto, since = sup.released, frame.since
        if since is not None and upto - since <= settings.recover_max:
            recovered = True
            history = await chat.replay(channel_id, after=since, limit=settings.recover_max)
            history = [m for m in history if m.seq <= upto]
        else:
            recovered = since is None
            limit = settings.history_on_join
            history = []
            if limit:
                history = await chat.replay(channel_id, before=upto + 1, limit=limit)
        out = self.outbox
        await out.send(frames.ws_frame(frames.encode_joined(channel_id, upto, recovered)))
        for m in history:
            await out.send(frames.ws_frame(frames.encode_message(m)))
        seen = max(upto, since or 0)
        while (need := sup.attach(self, seen)) is not None:
            more = await chat.replay(channel_id, after=need, limit=500)
            more = [m for m in more if m.seq <= sup.released]
            for m in more:
                await out.send(frames.ws_frame(frames.encode_message(m)))
            seen = more[-1].seq if more else sup.released

    async def _leave(self, channel_id: str) -> None:
        if self._detach(channel_id) is None:
            raise ClientError(NOT_JOINED, "not joined to this channel", channel_id=channel_id)
        self.outbox.offer(frames.ws_frame(frames.encode_left(channel_id)))
        await self.service.presence_leave(self.principal, channel_id, self.conn_key)


def _echoable(code: int) -> bool:
    return 1000 <= code <= 4999 and code not in (1004, 1005, 1006, 1015)
