"""The nouns: records passed between layers (frozen, but for the few made per message)."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from operator import attrgetter

PUBLIC = "public"
PRIVATE = "private"
CHANNEL_TYPES = (PUBLIC, PRIVATE)
USER = "user"
SYSTEM = "system"

# the channel log's event kinds (SPEC §6): every one takes the channel's next seq
EV_MESSAGE = "message"
EV_EDIT = "edit"
EV_DELETE = "delete"
EV_REACT = "react"
EV_UNREACT = "unreact"
CHANGES = (EV_EDIT, EV_DELETE, EV_REACT, EV_UNREACT)
MAX_EMOJI_PER_MESSAGE = 20


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_last_second: list[tuple[int, str]] = [(-1, "")]
_last_stamp: list[tuple[int, str]] = [(-1, "")]


def rfc3339(ms: int) -> str:
    """Epoch milliseconds → `2026-01-15T10:00:00.123Z`. Every message needs two
    (its ack and its frame): the last one is kept, and the formatted second
    (strftime costs more than all the rest)."""
    last_ms, last = _last_stamp[0]
    if ms == last_ms:
        return last
    seconds, millis = divmod(ms, 1000)
    cached_second, stamp = _last_second[0]
    if cached_second != seconds:
        stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second[0] = (seconds, stamp)
    text = f"{stamp}.{millis:03d}Z"
    _last_stamp[0] = (ms, text)
    return text


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for."""

    user_id: str
    username: str
    display_name: str | None
    avatar_url: str | None
    is_admin: bool
    exp: int


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    description: str
    channel_type: str
    max_participants: int | None
    is_active: bool
    created_by: str
    created_at: int
    updated_at: int
    last_seq: int
    read_receipts: bool = True  # members see each other's read markers (SPEC §7)


@dataclass(slots=True)  # not frozen: see Message
class MessageDraft:
    """A message before the store numbers it."""

    channel_id: str
    message_id: str
    user_id: str
    username: str
    display_name: str | None
    avatar_url: str | None
    content: str
    kind: str
    created_at: int
    parent_seq: int | None = None  # a reply: its thread's root

    def numbered(self, seq: int) -> Message:
        return Message(
            self.channel_id,
            seq,
            self.message_id,
            self.user_id,
            self.username,
            self.display_name,
            self.avatar_url,
            self.content,
            self.kind,
            self.created_at,
            parent_seq=self.parent_seq,
        )


# The records made for every message (MessageDraft, Message, AppendResult; the
# broker's Event, the client's Send) are not frozen dataclasses, though nothing
# changes them once made: a frozen one's __init__ sets each field through
# object.__setattr__, 4.9 µs for a Message against 1.0 µs (docs/performance.md).
@dataclass(slots=True)
class Message:
    channel_id: str
    seq: int
    message_id: str
    user_id: str
    username: str
    display_name: str | None
    avatar_url: str | None
    content: str
    kind: str
    created_at: int
    deleted: bool = False
    # the message's current state (SPEC §6): its later events folded in
    parent_seq: int | None = None
    edited_at: int | None = None
    reply_count: int = 0  # a root's replies that are not deleted
    last_reply_at: int | None = None
    reactions: tuple[tuple[str, int], ...] = ()  # (emoji, holders), first reacted first

    def columns(self) -> tuple[object, ...]:
        """The stored columns, in the stores' column order (without deleted_at)."""
        return _stored_columns(self)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Change:
    """An edit, deletion, reaction or unreaction asked for, before the store rules
    on it and numbers it."""

    channel_id: str
    kind: str  # one of CHANGES
    target_seq: int
    message_id: str  # the caller's id for the operation (dedupe, the ack)
    user_id: str
    created_at: int
    content: str = ""  # edit: the new text
    emoji: str = ""  # react / unreact
    moderator: bool = False  # delete: the channel's creator or an admin


@dataclass(frozen=True, slots=True)
class LogEvent:
    """A stored change: one seq of the channel's log that is not a message.
    `content`: an edit's text ("" once its message is deleted); `count`: a
    reaction's holders after the change."""

    channel_id: str
    seq: int
    kind: str
    target_seq: int
    message_id: str
    user_id: str
    created_at: int
    content: str = ""
    emoji: str = ""
    count: int = 0


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """`event` None: the change stores nothing (a reaction already held, or one not
    held), acked with seq null. `duplicate`: the message_id was seen; `event` is
    the first one's."""

    event: LogEvent | None
    duplicate: bool


class LogRefused(Exception):
    """The store ruled a change or reply out (its target is unknown or deleted, the
    caller may not, too many reactions): `code` is the client's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)  # not frozen: see Message
class AppendResult:
    message: Message
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Ban:
    channel_id: str
    user_id: str
    reason: str
    banned_by: str
    created_at: int
    expires_at: int | None  # epoch ms; None: until lifted


@dataclass(frozen=True, slots=True)
class ReadMark:
    """A user's read marker in a channel (SPEC §7): the highest seq they have read,
    when it moved there, and what that leaves unread (the channel's messages above
    it, not deleted, not their own); `last_seq`: the channel's, as read with it."""

    channel_id: str
    user_id: str
    seq: int
    at: int  # epoch ms
    unread: int = 0
    mentions: int = 0  # of those, the ones that mention the user (SPEC §8: none yet)
    last_seq: int = 0


@dataclass(frozen=True, slots=True)
class Admission:
    """What deciding a join or a post needs about a user and a channel, read at
    once: the channel, whether the user is listed as its member, whether a ban is
    in force, and their stored read marker (none yet: None)."""

    channel: Channel
    member: bool
    banned: bool
    mark: ReadMark | None


@dataclass(frozen=True, slots=True)
class PresenceEntry:
    user_id: str
    username: str
    last_seen: int


_FIELDS = fields(Message)
# the v1 columns, in the stores' order: the fields before `deleted`
_STORED_COLUMNS = _FIELDS[: [f.name for f in _FIELDS].index("deleted")]
_stored_columns = attrgetter(*(f.name for f in _STORED_COLUMNS))  # one C call: a tuple
