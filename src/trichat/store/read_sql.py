"""Read markers in SQL, written once for both stores (SPEC §7).

A marker's unread count is one row read, never a count over the log:

    unread = channels.msg_total - authors.sent - reads.base

`msg_total` counts the channel's messages ever stored (replies included, deleted
ones too) and `sent` the user's own, both raised by the append that stores a
message; `base` counts the others' messages at or below the marker plus the others'
messages above it that were deleted. A deletion raises `base` for every marker
below it except its author's (the same transaction: `log_sql`); a move raises it by
the others' live messages it passes over, counted then (a move to the channel's end
needs no count: nothing is left above it). So the work a move does is bounded by
how far it moves, and an answer does no counting at all.

Writes run where each store runs them (SQLite's writer, PostgreSQL's transaction
holding the channel's row in share mode, so no append or deletion of the channel
interleaves with the count); `channel_last` and `channel_total` are the channel's
last seq and message total as that transaction sees them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trichat.models import Admission, Channel, ReadMark

if TYPE_CHECKING:
    from trichat.store.sql import Dialect

# the others' messages that count (not deleted), in the messages aliased `m`, for
# the user $2
_LIVE = "m.event = 'message' AND m.deleted_at IS NULL AND m.user_id <> $2"
_SENT = "coalesce((SELECT a.sent FROM authors a WHERE a.channel_id = $1 AND a.user_id = $2), 0)"
_MARKS = (
    "SELECT r.channel_id, r.user_id, r.read_seq, r.read_at, "
    "c.msg_total - coalesce(a.sent, 0) - r.base, c.last_seq "
    "FROM reads r JOIN channels c ON c.id = r.channel_id "
    "LEFT JOIN authors a ON a.channel_id = r.channel_id AND a.user_id = r.user_id "
)


class ReadStatements:
    def __init__(self, d: Dialect) -> None:
        s = self.sql = d.sql
        self.of_user = s(_MARKS + "WHERE r.user_id = $1 AND c.is_active")
        self.of_channel = s(
            "SELECT channel_id, user_id, read_seq, read_at FROM reads WHERE channel_id = $1 "
            "ORDER BY read_at DESC, user_id"
        )
        # unread at seq $3 for a user whose stored marker is below it (one statement:
        # one snapshot of the counters and the messages between)
        self.unread_above_mark = s(
            "SELECT c.msg_total - coalesce(a.sent, 0) - r.base - (SELECT count(*) FROM messages m "
            f"WHERE m.channel_id = $1 AND m.seq > r.read_seq AND m.seq <= $3 AND {_LIVE}) "
            "FROM reads r JOIN channels c ON c.id = r.channel_id "
            "LEFT JOIN authors a ON a.channel_id = r.channel_id AND a.user_id = r.user_id "
            "WHERE r.channel_id = $1 AND r.user_id = $2"
        )
        self.unread_above = s(
            f"SELECT count(*) FROM messages m WHERE m.channel_id = $1 AND m.seq > $3 AND {_LIVE}"
        )
        # (channel, user, seq, at, channel_total): a new marker at seq
        self.insert = s(
            "INSERT INTO reads (channel_id, user_id, read_seq, read_at, base) "
            f"VALUES ($1, $2, $3, $4, $5 - {_SENT} - (SELECT count(*) FROM messages m "
            f"WHERE m.channel_id = $1 AND m.seq > $3 AND {_LIVE})) "
            "ON CONFLICT (channel_id, user_id) DO NOTHING"
        )
        self.to_end = s(
            f"UPDATE reads SET read_seq = $3, read_at = $4, base = $5 - {_SENT} "
            "WHERE channel_id = $1 AND user_id = $2 AND read_seq < $3"
        )
        self.between = s(
            "UPDATE reads SET base = base + (SELECT count(*) FROM messages m "
            f"WHERE m.channel_id = $1 AND m.seq > reads.read_seq AND m.seq <= $3 AND {_LIVE}), "
            "read_seq = $3, read_at = $4 WHERE channel_id = $1 AND user_id = $2 AND read_seq < $3"
        )
        self.drop = s("DELETE FROM reads WHERE channel_id = $1 AND user_id = $2")
        self.sent = s(
            "INSERT INTO authors (channel_id, user_id, sent) VALUES ($1, $2, 1) "
            "ON CONFLICT (channel_id, user_id) DO UPDATE SET sent = authors.sent + 1"
        )

    def in_channels(self, count: int) -> str:
        """Marks of the user $1 in `count` channels ($2…)."""
        marks = ",".join(f"${n}" for n in range(2, count + 2))
        return self.sql(_MARKS + f"WHERE r.user_id = $1 AND r.channel_id IN ({marks})")

    def move(
        self, seq: int, at: int, channel_last: int, channel_total: int
    ) -> tuple[int, str, str]:
        """The clamped seq, the update that moves an existing marker there (none if
        it is there or above already) and the insert that creates one."""
        seq = min(seq, channel_last)
        return seq, self.to_end if seq == channel_last else self.between, self.insert


def started(channel_id: str, user_id: str, last: int, at: int) -> ReadMark:
    """The marker a first join makes: at the channel's last seq, nothing unread."""
    return ReadMark(channel_id, user_id, last, at, last_seq=last)


def admitted(user_id: str, channel: Channel, rest: Sequence[Any]) -> Admission:
    """An admission from its channel and the rest of its row: member, banned, then
    the marker's seq, time and count (the seq null: no marker)."""
    member, banned, seq, at, unread = rest
    mark = None
    if seq is not None:
        mark = ReadMark(channel.id, user_id, int(seq), int(at), int(unread), 0, channel.last_seq)
    return Admission(channel, bool(member), bool(banned), mark)


def mark(row: Sequence[object]) -> ReadMark:
    channel_id, user_id, seq, at, unread, last = row
    return ReadMark(str(channel_id), str(user_id), int(seq), int(at), int(unread), 0, int(last))  # type: ignore[call-overload]


def receipt(row: Sequence[object]) -> ReadMark:
    channel_id, user_id, seq, at = row
    return ReadMark(str(channel_id), str(user_id), int(seq), int(at))  # type: ignore[call-overload]


class ReadQueries(ABC):
    """The `Store` read-marker reads, the same on both stores."""

    reads: ReadStatements

    @abstractmethod
    async def _one(self, sql: str, args: Sequence[object]) -> Any: ...

    @abstractmethod
    async def _all(self, sql: str, args: Sequence[object]) -> list[Any]: ...

    async def read_marks(self, user_id: str, channel_ids: Sequence[str] | None) -> list[ReadMark]:
        if channel_ids is None:
            rows = await self._all(self.reads.of_user, (user_id,))
        elif not channel_ids:
            return []
        else:
            rows = await self._all(
                self.reads.in_channels(len(channel_ids)), (user_id, *channel_ids)
            )
        return [mark(r) for r in rows]

    async def channel_reads(self, channel_id: str) -> list[ReadMark]:
        return [receipt(r) for r in await self._all(self.reads.of_channel, (channel_id,))]

    async def unread_at(self, channel_id: str, user_id: str, seq: int) -> int:
        row = await self._one(self.reads.unread_above_mark, (channel_id, user_id, seq))
        if row is None:  # no marker stored yet: count from seq to the end
            row = await self._one(self.reads.unread_above, (channel_id, user_id, seq))
        return int(row[0])
