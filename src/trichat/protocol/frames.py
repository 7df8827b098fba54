"""Client frames in, server frames out: parse, validate, encode. No I/O, no trio.

Parsing turns one JSON text into one of the frame records below or raises
`ClientError(bad_request)` saying what is wrong. Encoding builds the JSON bytes of
a server frame once; `ws_frame` wraps them in an (unmasked) WebSocket text frame
header so the very same bytes are valid on every connection.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import orjson

from trichat.errors import BAD_REQUEST, TOO_LONG, ClientError
from trichat.models import Message, rfc3339
from trichat.protocol.values import MAX_SEQ, canonical_uuid, has_nul, is_blank, is_seq

MAX_MESSAGE_ID = 64


@dataclass(frozen=True, slots=True)
class Join:
    channel_id: str
    since: int | None


@dataclass(frozen=True, slots=True)
class Leave:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Send:
    channel_id: str
    content: str
    message_id: str | None


@dataclass(frozen=True, slots=True)
class Typing:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Refresh:
    token: str


ClientFrame = Join | Leave | Send | Typing | Refresh


def _bad(message: str, **ids: str | None) -> ClientError:
    return ClientError(BAD_REQUEST, message, **ids)


def _str_field(obj: dict[str, Any], name: str, **ids: str | None) -> str:
    value = obj.get(name)
    if value is None:
        raise _bad(f"missing field {name!r}", **ids)
    if not isinstance(value, str):
        raise _bad(f"field {name!r} must be a string", **ids)
    if has_nul(value):
        raise _bad(f"field {name!r} must not contain NUL", **ids)
    return value


def _channel_id(obj: dict[str, Any]) -> str:
    """A channel id in its canonical form; text that is no UUID stays as it is
    (no channel has it: `not_found`)."""
    value = _str_field(obj, "channel_id")
    if not value:
        raise _bad("field 'channel_id' must not be empty")
    return canonical_uuid(value) or value


def check_content(content: str, max_chars: int, **ids: str | None) -> str:
    """Validate message text: something visible, no NUL, at most `max_chars`
    characters."""
    if is_blank(content):
        raise _bad("content must not be empty", **ids)
    if has_nul(content):
        raise _bad("content must not contain NUL", **ids)
    if len(content) > max_chars:
        raise ClientError(TOO_LONG, f"content is longer than {max_chars} characters", **ids)
    return content


def check_message_id(message_id: Any, **ids: str | None) -> str | None:
    if message_id is None:
        return None
    if not isinstance(message_id, str):
        raise _bad("field 'message_id' must be a string", **ids)
    if not 0 < len(message_id) <= MAX_MESSAGE_ID:
        raise _bad(f"field 'message_id' must be 1..{MAX_MESSAGE_ID} characters", **ids)
    if has_nul(message_id):
        raise _bad("field 'message_id' must not contain NUL", **ids)
    return message_id


def parse(text: str | bytes, *, max_content_chars: int) -> ClientFrame:
    """One client text frame → a frame record, or `ClientError`."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _bad("frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise _bad("frame must be a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise _bad("missing field 'type'")
    if kind == "message":
        channel_id = _channel_id(obj)
        raw_id = obj.get("message_id")
        message_id = check_message_id(raw_id, channel_id=channel_id)
        ids = {"channel_id": channel_id, "message_id": message_id}
        content = _str_field(obj, "content", **ids)
        return Send(channel_id, check_content(content, max_content_chars, **ids), message_id)
    if kind == "join":
        channel_id = _channel_id(obj)
        since = obj.get("since")
        if since is not None and not is_seq(since):
            raise _bad(f"field 'since' must be an integer in 0..{MAX_SEQ}", channel_id=channel_id)
        return Join(channel_id, since)
    if kind == "leave":
        return Leave(_channel_id(obj))
    if kind == "typing":
        return Typing(_channel_id(obj))
    if kind == "refresh":
        return Refresh(_str_field(obj, "token"))
    raise _bad(f"unknown frame type {kind!r}")


# ---- server frames -------------------------------------------------------------


def encode(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def message_payload(msg: Message) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_id": msg.channel_id,
        "seq": msg.seq,
        "message_id": msg.message_id,
        "user_id": msg.user_id,
        "username": msg.username,
        "display_name": msg.display_name,
        "avatar_url": msg.avatar_url,
        "content": msg.content,
        "timestamp": rfc3339(msg.created_at),
        "kind": msg.kind,
    }


def encode_message(msg: Message) -> bytes:
    return orjson.dumps(message_payload(msg))


def encode_ack(msg: Message) -> bytes:
    return orjson.dumps(
        {
            "type": "ack",
            "channel_id": msg.channel_id,
            "message_id": msg.message_id,
            "seq": msg.seq,
            "timestamp": rfc3339(msg.created_at),
        }
    )


def encode_error(err: ClientError) -> bytes:
    frame: dict[str, Any] = {"type": "error", "code": err.code, "error": err.message}
    if err.channel_id is not None:
        frame["channel_id"] = err.channel_id
    if err.message_id is not None:
        frame["message_id"] = err.message_id
    if err.retry_after is not None:
        frame["retry_after"] = round(err.retry_after, 3)
    return orjson.dumps(frame)


def encode_joined(channel_id: str, last_seq: int, recovered: bool) -> bytes:
    return orjson.dumps(
        {"type": "joined", "channel_id": channel_id, "last_seq": last_seq, "recovered": recovered}
    )


def encode_left(channel_id: str, reason: str | None = None) -> bytes:
    frame: dict[str, Any] = {"type": "left", "channel_id": channel_id}
    if reason is not None:
        frame["reason"] = reason
    return orjson.dumps(frame)


def encode_typing(channel_id: str, user_id: str, username: str) -> bytes:
    return orjson.dumps(
        {"type": "typing", "channel_id": channel_id, "user_id": user_id, "username": username}
    )


def encode_presence(
    channel_id: str, user_id: str, username: str, presence_type: str, ms: int
) -> bytes:
    return orjson.dumps(
        {
            "type": "presence",
            "channel_id": channel_id,
            "user_id": user_id,
            "username": username,
            "presence_type": presence_type,
            "timestamp": rfc3339(ms),
        }
    )


def encode_deleted(channel_id: str, seq: int) -> bytes:
    return orjson.dumps({"type": "message_deleted", "channel_id": channel_id, "seq": seq})


def encode_expiry(kind: str, exp: int) -> bytes:
    """`refreshed` or `refresh_needed` with the token's expiry (epoch seconds)."""
    return orjson.dumps({"type": kind, "exp": exp})


# ---- WebSocket framing (server side: never masked) ----------------------------

_OP_TEXT = 0x81  # FIN + text
_OP_CLOSE = 0x88  # FIN + close
_OP_PING = 0x89  # FIN + ping
_OP_PONG = 0x8A  # FIN + pong


def _header(first: int, length: int) -> bytes:
    if length < 126:
        return bytes((first, length))
    if length < 65536:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def ws_frame(payload: bytes) -> bytes:
    """A complete, unmasked text frame carrying `payload` (already UTF-8 JSON)."""
    return _header(_OP_TEXT, len(payload)) + payload


def ws_close_frame(code: int, reason: str) -> bytes:
    body = struct.pack("!H", code) + reason.encode()[:123]
    return _header(_OP_CLOSE, len(body)) + body


def ws_ping_frame(payload: bytes) -> bytes:
    return _header(_OP_PING, len(payload)) + payload


def ws_pong_frame(payload: bytes) -> bytes:
    """The answer to a ping: its payload (at most 125 bytes, the parser checked)."""
    return _header(_OP_PONG, len(payload)) + payload
