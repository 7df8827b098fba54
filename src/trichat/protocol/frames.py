"""Client frames in, server frames out: parse, validate, encode. No I/O, no trio.

Parsing turns one JSON text into one of the frame records below or raises
`ClientError(bad_request)` saying what is wrong. Encoding builds the JSON bytes of
a server frame once; `ws_frame` wraps them in an (unmasked) WebSocket text frame
header so the very same bytes are valid on every connection. The channel log's
records and encoders (SPEC §6) are in `log_frames`; they are named here too.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import orjson

from trichat.errors import BAD_REQUEST, TOO_LONG, ClientError
from trichat.models import LogEvent, Message, rfc3339

# the log's records and encoders live in `log_frames`; named here too (the aliases
# re-export), so that a door needs one import for every frame
from trichat.protocol.log_frames import ChangeFrame as ChangeFrame
from trichat.protocol.log_frames import Delete, Edit, React, check_emoji, encode_change_event
from trichat.protocol.log_frames import encode_change_ack as encode_change_ack
from trichat.protocol.log_frames import encode_deleted_event as encode_deleted_event
from trichat.protocol.log_frames import encode_edited as encode_edited
from trichat.protocol.log_frames import encode_reaction as encode_reaction
from trichat.protocol.read_frames import Read, parse_read
from trichat.protocol.values import MAX_SEQ, canonical_uuid, has_nul, is_blank, is_seq

MAX_MESSAGE_ID = 64
MAX_MENTIONS = 20  # SPEC §8: more → bad_request
MAX_USER_ID = 128  # as a user id in a REST path


@dataclass(frozen=True, slots=True)
class Join:
    channel_id: str
    since: int | None


@dataclass(frozen=True, slots=True)
class Leave:
    channel_id: str


@dataclass(slots=True)  # not frozen: one per message (see models.Message)
class Send:
    channel_id: str
    content: str
    message_id: str | None
    parent_seq: int | None = None  # a reply: its thread's root
    mentions: tuple[str, ...] = ()  # user ids as sent (SPEC §8 rules on them)


@dataclass(frozen=True, slots=True)
class Typing:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Refresh:
    token: str


ClientFrame = Join | Leave | Send | Typing | Refresh | Edit | Delete | React | Read


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


def _target_seq(value: Any, ids: dict[str, str | None]) -> int:
    """The seq of the message a change is for: 0..MAX_SEQ like every seq (0 names
    no message: the store answers `not_found`, as it does for a REST path)."""
    if value is None:
        raise _bad("missing field 'target_seq'", **ids)
    if not is_seq(value):
        raise _bad(f"field 'target_seq' must be an integer in 0..{MAX_SEQ}", **ids)
    return value


def _parent_seq(value: Any, ids: dict[str, str | None]) -> int | None:
    if value is None:
        return None
    if not is_seq(value) or value < 1:
        raise _bad(f"field 'parent_seq' must be an integer in 1..{MAX_SEQ}", **ids)
    return value


def _mentions(value: Any, ids: dict[str, str | None]) -> tuple[str, ...]:
    """The user ids a message mentions, as sent: who of them is kept is the
    service's to decide (SPEC §8)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _bad("field 'mentions' must be a list of user ids", **ids)
    if len(value) > MAX_MENTIONS:
        raise _bad(f"field 'mentions' holds more than {MAX_MENTIONS} user ids", **ids)
    for user_id in value:
        if not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_USER_ID:
            raise _bad(f"each mention must be a user id of 1..{MAX_USER_ID} characters", **ids)
        if has_nul(user_id):
            raise _bad("a mention must not contain NUL", **ids)
    return tuple(value)


def _send(obj: dict[str, Any], max_content_chars: int) -> Send:
    channel_id = _channel_id(obj)
    message_id = check_message_id(obj.get("message_id"), channel_id=channel_id)
    ids = {"channel_id": channel_id, "message_id": message_id}
    content = check_content(_str_field(obj, "content", **ids), max_content_chars, **ids)
    parent_seq, mentions = obj.get("parent_seq"), obj.get("mentions")
    if parent_seq is None and mentions is None:
        return Send(channel_id, content, message_id)
    return Send(
        channel_id, content, message_id, _parent_seq(parent_seq, ids), _mentions(mentions, ids)
    )


def _change(obj: dict[str, Any], kind: str, max_content_chars: int) -> ChangeFrame:
    """`edit`, `delete`, `react` or `unreact`: a channel, the message it changes,
    and the one field each needs."""
    channel_id = _channel_id(obj)
    message_id = check_message_id(obj.get("message_id"), channel_id=channel_id)
    ids = {"channel_id": channel_id, "message_id": message_id}
    target_seq = _target_seq(obj.get("target_seq"), ids)
    if kind == "edit":
        content = check_content(_str_field(obj, "content", **ids), max_content_chars, **ids)
        return Edit(channel_id, target_seq, content, message_id)
    if kind == "delete":
        return Delete(channel_id, target_seq, message_id)
    emoji = check_emoji(_str_field(obj, "emoji", **ids), **ids)
    return React(channel_id, target_seq, emoji, message_id, remove=kind == "unreact")


_CHANGES = frozenset({"edit", "delete", "react", "unreact"})


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
        return _send(obj, max_content_chars)
    if kind in _CHANGES:
        return _change(obj, kind, max_content_chars)
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
    if kind == "read":
        return parse_read(obj, _channel_id(obj))
    if kind == "refresh":
        return Refresh(_str_field(obj, "token"))
    raise _bad(f"unknown frame type {kind!r}")


# ---- server frames -------------------------------------------------------------


def encode(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def message_payload(msg: Message) -> dict[str, Any]:
    """A message in its current state (SPEC §6). On the hot path of every
    delivery: one literal, and nothing to loop over without reactions."""
    reactions = msg.reactions
    edited_at, last_reply_at = msg.edited_at, msg.last_reply_at
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
        "parent_seq": msg.parent_seq,
        "edited_at": None if edited_at is None else rfc3339(edited_at),
        "deleted": msg.deleted,
        "reactions": [{"emoji": e, "count": n} for e, n in reactions] if reactions else [],
        "reply_count": msg.reply_count,
        "last_reply_at": None if last_reply_at is None else rfc3339(last_reply_at),
    }


def encode_message(msg: Message) -> bytes:
    return orjson.dumps(message_payload(msg))


def encode_log_event(item: Message | LogEvent) -> bytes:
    """One entry of a channel's log as members get it, whatever its kind: for
    replay after `join` with `since` and for REST `events`."""
    if isinstance(item, Message):
        return encode_message(item)
    return encode_change_event(item)


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


def encode_joined(
    channel_id: str, last_seq: int, recovered: bool, read_seq: int | None = None, unread: int = 0
) -> bytes:
    """`read_seq`/`unread`: the joiner's marker (SPEC §7), null and 0 without one."""
    return orjson.dumps(
        {
            "type": "joined",
            "channel_id": channel_id,
            "last_seq": last_seq,
            "recovered": recovered,
            "read_seq": read_seq,
            "unread": unread,
        }
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
