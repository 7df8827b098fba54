"""The stored tables: each one's columns, in one order, and how a row of them
becomes a model — the one place both stores read them from.

A row is what the driver returns (an sqlite3 tuple, an asyncpg `Record`); both are
read by position, so one mapping serves both. PostgreSQL returns a channel id as a
`UUID`, hence the `str()` on ids. Adding a table (issue 16's events log, say) is a
`Table` here, its statements in `sql.Statements`, and its schema in
`sqlite_schema.sql` and a migration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from trichat.models import EV_MESSAGE, Ban, Channel, LogEvent, Message, PresenceEntry

R = TypeVar("R")
Row = Any  # a driver's row: indexable by position, iterable


@dataclass(frozen=True, slots=True)
class Table(Generic[R]):
    name: str
    columns: str  # the columns `record` reads, in its order
    record: Callable[[Row], R]

    def select(self, where: str) -> str:
        return f"SELECT {self.columns} FROM {self.name} WHERE {where}"

    def insert(self) -> str:
        """Every column, as `$1…$n` (see `sql.Dialect`)."""
        marks = ",".join(f"${n}" for n in range(1, self.columns.count(",") + 2))
        return f"INSERT INTO {self.name} ({self.columns}) VALUES ({marks})"


def _channel(row: Row) -> Channel:
    return Channel(
        str(row[0]),
        row[1],
        row[2],
        row[3],
        row[4],
        bool(row[5]),
        row[6],
        row[7],
        row[8],
        row[9],
        bool(row[10]),
    )


def _message(row: Row) -> Message:
    """A message row: the v1 columns, then (when read with `LOG`'s columns) its
    current state. Its reactions are read apart (`reaction_counts`)."""
    if len(row) <= 11:
        state: tuple[Any, ...] = (None, None, 0, None)
    else:
        state = (row[11], row[12], row[13], row[14])
    return Message(
        str(row[0]),
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10] is not None,
        *state,
    )


def log_item(row: Row) -> Message | LogEvent:
    """A row of `LOG`: a message in its current state, or another event."""
    if row[15] == EV_MESSAGE:
        return _message(row)
    # channel, seq, kind, target, message_id, user, at, content, emoji, count
    return LogEvent(
        str(row[0]), row[1], row[15], row[16], row[2], row[3], row[9], row[7],
        row[17] or "", row[18] or 0,
    )  # fmt: skip


def as_event(item: Message | LogEvent) -> LogEvent:
    """A log item as the event its ack names (a message: kind message, no target)."""
    if isinstance(item, LogEvent):
        return item
    return LogEvent(item.channel_id, item.seq, EV_MESSAGE, 0, item.message_id, item.user_id,
                    item.created_at)  # fmt: skip


def _ban(row: Row) -> Ban:
    return Ban(str(row[0]), row[1], row[2], row[3], row[4], row[5])


def _presence(row: Row) -> PresenceEntry:
    return PresenceEntry(row[0], row[1], row[2])


_MODERATION_KEYS = ("actor", "action", "target", "detail", "created_at")


def _moderation(row: Row) -> dict[str, object]:
    return dict(zip(_MODERATION_KEYS, row, strict=True))


CHANNELS = Table(
    "channels",
    "id, name, description, channel_type, max_participants, is_active, created_by, "
    "created_at, updated_at, last_seq, read_receipts",
    _channel,
)
# deleted_at last: `Message.columns()` is the first ten, in this order
MESSAGES = Table(
    "messages",
    "channel_id, seq, message_id, user_id, username, display_name, avatar_url, content, "
    "kind, created_at, deleted_at",
    _message,
)
# every event of the log, a message's current state included (schema v2)
LOG = Table(
    "messages",
    MESSAGES.columns + ", parent_seq, edited_at, reply_count, last_reply_at, "
    "event, target_seq, emoji, reaction_count",
    log_item,
)
BANS = Table("bans", "channel_id, user_id, reason, banned_by, created_at, expires_at", _ban)
PRESENCE = Table("presence", "user_id, username, last_seen", _presence)
MODERATION = Table("moderation_log", ", ".join(_MODERATION_KEYS), _moderation)
