"""The nouns: frozen records passed between layers."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime

PUBLIC = "public"
PRIVATE = "private"
CHANNEL_TYPES = (PUBLIC, PRIVATE)
USER = "user"
SYSTEM = "system"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_last_second: list[tuple[int, str]] = [(-1, "")]


def rfc3339(ms: int) -> str:
    """Epoch milliseconds → `2026-01-15T10:00:00.123Z`. Every message needs one;
    the formatted second is cached (strftime costs more than all the rest)."""
    seconds, millis = divmod(ms, 1000)
    cached_second, stamp = _last_second[0]
    if cached_second != seconds:
        stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second[0] = (seconds, stamp)
    return f"{stamp}.{millis:03d}Z"


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


@dataclass(frozen=True, slots=True)
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
        )


@dataclass(frozen=True, slots=True)
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

    def columns(self) -> tuple[object, ...]:
        """The stored columns, in the stores' column order (without deleted_at)."""
        return tuple(getattr(self, f.name) for f in _STORED_COLUMNS)


@dataclass(frozen=True, slots=True)
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
class PresenceEntry:
    user_id: str
    username: str
    last_seen: int


_STORED_COLUMNS = [f for f in fields(Message) if f.name != "deleted"]
