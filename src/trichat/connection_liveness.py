"""A session's keep-alive target: pings, the pong timeout, the token's expiry and
its refresh. The instance's one `KeepAlive` task calls `keepalive(now)` when due.

Two clocks: pings and pongs run on trio's clock (`now`); a token's `exp` is epoch
seconds, read from the injected wall clock (`SessionDeps.clock`)."""

from __future__ import annotations

from typing import Protocol

import trio

from trichat import errors
from trichat.connection_deps import SessionDeps
from trichat.errors import AuthError, ClientError, Disconnect
from trichat.models import Principal
from trichat.outbox import Outbox
from trichat.protocol import frames

REFRESH_LEAD = 30.0  # seconds before expiry that `refresh_needed` is sent


class Kept(Protocol):
    """What liveness needs of its session."""

    principal: Principal
    outbox: Outbox
    finished: bool

    def close(self, reason: Disconnect) -> None: ...

    def end(self) -> None: ...


class Liveness:
    __slots__ = ("_deps", "_next_ping", "_session", "_warned_for", "keepalive_due", "last_pong")

    def __init__(self, session: Kept, deps: SessionDeps) -> None:
        self._session = session
        self._deps = deps
        self.last_pong = trio.current_time()
        self._next_ping = self.last_pong + deps.settings.ping_interval
        self._warned_for = 0  # the token expiry `refresh_needed` was sent for
        self.keepalive_due = 0.0

    def pong(self) -> None:
        self.last_pong = trio.current_time()

    def keepalive(self, now: float) -> float | None:
        """Called by the instance's `KeepAlive` task when due: ping, end a peer that
        stopped answering pings, warn before the token expires and close when it
        has. Returns when to be called next (None: this connection is done)."""
        session = self._session
        if session.finished:
            return None
        settings = self._deps.settings
        exp = session.principal.exp
        exp_in = exp - self._deps.clock()
        if exp_in <= 0:
            session.close(errors.TOKEN_EXPIRED)
            return None
        if exp_in <= REFRESH_LEAD and self._warned_for != exp:
            self._warned_for = exp
            session.outbox.offer(frames.ws_frame(frames.encode_expiry("refresh_needed", exp)))
        if now - self.last_pong > settings.pong_timeout:
            self._deps.metrics.err["pong_timeout"].inc()
            session.end()
            return None
        if now >= self._next_ping:
            if session.outbox.closing is None:
                session.outbox.offer(frames.ws_ping_frame(b"trichat"))
            self._next_ping = now + settings.ping_interval
        warned = self._warned_for == exp
        expiry_wake = exp_in if warned else exp_in - REFRESH_LEAD
        return min(self._next_ping, self.last_pong + settings.pong_timeout, now + expiry_wake)

    def refresh(self, token: str) -> None:
        """Take a fresh token for the same user; look at its expiry again at once."""
        try:
            fresh = self._deps.verifier.verify(token)
        except AuthError as exc:
            raise ClientError(errors.UNAUTHORIZED, str(exc)) from None
        session = self._session
        if fresh.user_id != session.principal.user_id:
            raise ClientError(errors.BAD_REQUEST, "a refreshed token must name the same user")
        session.principal = fresh
        session.outbox.offer(frames.ws_frame(frames.encode_expiry("refreshed", fresh.exp)))
        self._deps.sessions.keepalive.schedule(self, trio.current_time())
