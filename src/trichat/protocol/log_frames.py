"""The channel log on the wire (SPEC §6): the change frames a client sends, the
emoji rule, and the frames of stored log events. No I/O, no trio.

Apart from `frames` so that each module stays one size a reader can hold: `frames`
parses every client frame (these records included) and encodes the v1 frames;
this module owns what is new with the log. The encoders write what they are given:
the store has already folded a message's later events into it and erased a deleted
message's text, so nothing here hides or recomputes anything.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from trichat.errors import BAD_REQUEST, ClientError
from trichat.models import (
    EV_DELETE,
    EV_EDIT,
    EV_MESSAGE,
    EV_REACT,
    EV_UNREACT,
    LogEvent,
    rfc3339,
)
from trichat.protocol.values import is_blank

MAX_EMOJI_CHARS = 32


@dataclass(frozen=True, slots=True)
class Edit:
    channel_id: str
    target_seq: int
    content: str
    message_id: str | None

    @property
    def kind(self) -> str:
        return EV_EDIT


@dataclass(frozen=True, slots=True)
class Delete:
    channel_id: str
    target_seq: int
    message_id: str | None

    @property
    def kind(self) -> str:
        return EV_DELETE


@dataclass(frozen=True, slots=True)
class React:
    """`react` or, with `remove`, `unreact`: one record, since both name the same
    things and differ only in the direction of the change."""

    channel_id: str
    target_seq: int
    emoji: str
    message_id: str | None
    remove: bool = False

    @property
    def kind(self) -> str:
        return EV_UNREACT if self.remove else EV_REACT


ChangeFrame = Edit | Delete | React


def check_emoji(emoji: str, **ids: str | None) -> str:
    """An emoji as a reaction's key: 1..32 characters (code points, so that a
    flag or a family joined by U+200D fits), none of them whitespace of any kind,
    a control character or NUL, and not invisible alone. Both doors use it, so a
    frame and a REST path accept the same keys."""
    if not 0 < len(emoji) <= MAX_EMOJI_CHARS:
        raise ClientError(BAD_REQUEST, f"emoji must be 1..{MAX_EMOJI_CHARS} characters", **ids)
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in emoji):
        raise ClientError(
            BAD_REQUEST, "emoji must not contain whitespace, NUL or control characters", **ids
        )
    if is_blank(emoji):
        raise ClientError(BAD_REQUEST, "emoji must show something", **ids)
    return emoji


# ---- server frames of the log ---------------------------------------------------


def encode_edited(ev: LogEvent) -> bytes:
    """`message_edited`; `content` is "" once the edited message was deleted."""
    return orjson.dumps(
        {
            "type": "message_edited",
            "channel_id": ev.channel_id,
            "seq": ev.seq,
            "target_seq": ev.target_seq,
            "content": ev.content,
            "edited_at": rfc3339(ev.created_at),
            "user_id": ev.user_id,
        }
    )


def encode_deleted_event(ev: LogEvent) -> bytes:
    """v2 `message_deleted`: `seq` is the deletion's own seq, `target_seq` the
    deleted message's."""
    return orjson.dumps(
        {
            "type": "message_deleted",
            "channel_id": ev.channel_id,
            "seq": ev.seq,
            "target_seq": ev.target_seq,
            "user_id": ev.user_id,
        }
    )


def encode_reaction(ev: LogEvent) -> bytes:
    """`reaction_added` (react) or `reaction_removed` (unreact); `count` is the
    emoji's holders on the message after this change."""
    return orjson.dumps(
        {
            "type": "reaction_removed" if ev.kind == EV_UNREACT else "reaction_added",
            "channel_id": ev.channel_id,
            "seq": ev.seq,
            "target_seq": ev.target_seq,
            "emoji": ev.emoji,
            "user_id": ev.user_id,
            "count": ev.count,
        }
    )


_EVENT_ENCODERS: dict[str, Callable[[LogEvent], bytes]] = {
    EV_EDIT: encode_edited,
    EV_DELETE: encode_deleted_event,
    EV_REACT: encode_reaction,
    EV_UNREACT: encode_reaction,
}


def encode_change_event(ev: LogEvent) -> bytes:
    """A stored change as the frame members get for it, by its kind (a message is
    `frames.encode_message`'s; `frames.encode_log_event` takes either). An unknown
    kind is our own bug, not the client's."""
    encoder = _EVENT_ENCODERS.get(ev.kind)
    if encoder is None:
        raise ValueError(f"not a change kind: {ev.kind!r} (a message is {EV_MESSAGE!r})")
    return encoder(ev)


def encode_change_ack(channel_id: str, message_id: str, seq: int | None, created_at: int) -> bytes:
    """The `ack` of a change. `seq` is None when the change stored nothing (a
    react already held, an unreact not held): it is durable as it is."""
    return orjson.dumps(
        {
            "type": "ack",
            "channel_id": channel_id,
            "message_id": message_id,
            "seq": seq,
            "timestamp": rfc3339(created_at),
        }
    )
