"""The one public port: read each connection's HTTP request head, then either
upgrade it into a WebSocket session (trichat's own) or hand it to hypercorn.

Abuse at the door: the request head must arrive within `HANDSHAKE_TIMEOUT` and
fit in `MAX_HEAD` bytes; upgrades are checked (token 401, origin 403, caps 503, the
single-channel endpoint's 404/403) before any 101 is sent.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import h11
import orjson
import trio

from trichat.auth import Verifier
from trichat.config import Settings
from trichat.connection import Session
from trichat.connection_deps import SessionDeps
from trichat.errors import HTTP_STATUS, AuthError, ClientError
from trichat.hub import Hub
from trichat.hyper import HypercornGate
from trichat.metrics import Metrics
from trichat.protocol.handshake import (
    HandshakeError,
    RequestHead,
    accept_response,
    bearer_token,
    check_upgrade,
    head_from_h11,
    origin_allowed,
)
from trichat.protocol.values import canonical_uuid
from trichat.service import ChatService
from trichat.sessions import Sessions
from trichat.transport import SocketTransport

log = logging.getLogger("trichat.frontdoor")

MAX_HEAD = 16384
_CHANNEL_WS = re.compile(r"^/api/v1/chat/channels/([^/]+)/ws/?$")
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    426: "upgrade_required",
    431: "bad_request",
    503: "unavailable",
}


def websocket_target(path: str) -> tuple[bool, str | None]:
    """(is a WebSocket path, the channel it joins at once)."""
    if path in ("/ws", "/ws/"):
        return True, None
    match = _CHANNEL_WS.match(path)
    if match:
        return True, canonical_uuid(match.group(1)) or match.group(1)
    return False, None


def error_response(status: int, message: str) -> bytes:
    body = orjson.dumps({"error": {"code": _STATUS_CODES.get(status, "error"), "message": message}})
    reason = _REASONS.get(status, "Error")
    extra = "Retry-After: 1\r\n" if status == 503 else ""
    if status == 426:
        extra += "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    ).encode() + body


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


async def read_head(stream: trio.SocketStream) -> tuple[RequestHead, bytes, bytes] | None:
    """Read one HTTP/1.1 request head: (head, every byte read, bytes after the head).
    None when the peer closed first."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    raw = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            status = 431 if len(raw) > MAX_HEAD else 400
            raise HandshakeError(status, f"bad HTTP request: {exc}") from None
        if event is h11.NEED_DATA:
            data = await stream.receive_some(8192)
            if not data:
                return None
            raw += data
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            head = head_from_h11(event.method, event.target, list(event.headers))
            return head, bytes(raw), conn.trailing_data[0]
        raise HandshakeError(400, "expected an HTTP request")


@dataclass
class FrontDoor:
    settings: Settings
    verifier: Verifier
    service: ChatService
    hub: Hub
    sessions: Sessions
    metrics: Metrics
    gate: HypercornGate
    clock: Callable[[], float] = time.time  # the wall clock sessions judge token expiry on
    deps: SessionDeps = field(init=False)

    def __post_init__(self) -> None:
        self.deps = SessionDeps(
            self.settings,
            self.verifier,
            self.service,
            self.hub,
            self.sessions,
            self.metrics,
            self.clock,
        )

    async def handle(self, stream: trio.SocketStream) -> None:
        try:
            with trio.move_on_after(self.settings.handshake_timeout) as scope:
                got = await read_head(stream)
            if scope.cancelled_caught or got is None:
                self.metrics.err["handshake"].inc()
                return
            head, raw, trailing = got
            is_ws, channel_id = websocket_target(head.path)
            if not is_ws:
                await self._serve_http(stream, raw)
                return
            session = await self._upgrade(stream, head, trailing, channel_id)
            # the request is answered: its head and bytes need not live as long as
            # the connection does (~1.5 KiB of an idle connection's ~15)
            del got, head, raw, trailing
            await session.serve(first=[channel_id] if channel_id else None)
        except HandshakeError as exc:
            self.metrics.err["handshake"].inc()
            await _send_quietly(stream, error_response(exc.status, exc.message))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the peer went away mid-request: nobody to answer
        except Exception:
            self.metrics.err["internal"].inc()
            log.exception("connection handler failed")
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _serve_http(self, stream: trio.SocketStream, raw: bytes) -> None:
        """Hand the connection to hypercorn, counted against `MAX_CONNECTIONS`."""
        sessions = self.sessions
        if sessions.full or sessions.draining:
            raise HandshakeError(503, "too many connections on this instance")
        sessions.http += 1
        self.metrics.http_connections.set(sessions.http)
        try:
            await self.gate.serve_connection(stream, raw)
        finally:
            sessions.http -= 1
            self.metrics.http_connections.set(sessions.http)

    async def _upgrade(
        self,
        stream: trio.SocketStream,
        head: RequestHead,
        trailing: bytes,
        channel_id: str | None,
    ) -> Session:
        """Check the upgrade and answer it with 101: the session, not running yet."""
        key = check_upgrade(head)
        if not origin_allowed(
            head.headers.get("origin"), head.headers.get("host"), self.settings.allowed_origins
        ):
            raise HandshakeError(403, "origin not allowed")
        token = bearer_token(head)
        if token is None:
            raise HandshakeError(401, "a token is required (Authorization: Bearer, or ?token=)")
        try:
            principal = self.verifier.verify(token)
        except AuthError as exc:
            raise HandshakeError(401, str(exc)) from None
        refusal = self.sessions.refuse_reason(principal.user_id)
        if refusal is not None:
            raise HandshakeError(503, refusal)
        if channel_id is not None:
            try:
                await self.service.check_join(principal, channel_id)
            except ClientError as err:
                raise HandshakeError(HTTP_STATUS.get(err.code, 400), err.message) from None
        await stream.send_all(accept_response(key))
        transport = SocketTransport.of_stream(stream)
        return Session(transport, principal, self.deps, trailing=trailing)


async def _send_quietly(stream: trio.SocketStream, data: bytes) -> None:
    with trio.move_on_after(2):
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await stream.send_all(data)
