"""The WebSocket opening handshake (RFC 6455 §4.2), sans-IO.

`parse_upgrade` inspects an HTTP request head and says what the client asked for;
`accept_response` builds the 101 answer. No extensions are ever negotiated
(permessage-deflate included), so every server frame is plain and shareable.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass(frozen=True, slots=True)
class RequestHead:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def query(self, name: str) -> str | None:
        values = parse_qs(urlsplit(self.target).query).get(name)
        return values[0] if values else None

    @property
    def wants_websocket(self) -> bool:
        return "websocket" in self.headers.get("upgrade", "").lower()


def head_from_h11(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> RequestHead:
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        merged[key] = f"{merged[key]}, {text}" if key in merged else text
    return RequestHead(method.decode("latin-1"), target.decode("latin-1"), merged)


class HandshakeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_upgrade(head: RequestHead) -> str:
    """Validate a WebSocket upgrade request; returns its Sec-WebSocket-Key."""
    if head.method != "GET":
        raise HandshakeError(405, "WebSocket upgrades must use GET")
    connection = {t.strip().lower() for t in head.headers.get("connection", "").split(",")}
    if not head.wants_websocket or "upgrade" not in connection:
        raise HandshakeError(426, "this endpoint speaks WebSocket only")
    if head.headers.get("sec-websocket-version", "").strip() != "13":
        raise HandshakeError(426, "Sec-WebSocket-Version must be 13")
    key = head.headers.get("sec-websocket-key", "").strip()
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        valid = False
    if not valid:
        raise HandshakeError(400, "Sec-WebSocket-Key is missing or malformed")
    return key


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def accept_response(key: str) -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n"
        "\r\n"
    ).encode()


def bearer_token(head: RequestHead) -> str | None:
    """`Authorization: Bearer …`, else the `token` query parameter (for browsers)."""
    auth = head.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return head.query("token")


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """No Origin header (not a browser): allowed. `*` in the list: any origin.
    Unset list: same origin only (the Origin's host:port equals the Host header)."""
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if "*" in allowed or origin in allowed:
        return True
    if not allowed and host:
        return urlsplit(origin).netloc.lower() == host.lower()
    return False
