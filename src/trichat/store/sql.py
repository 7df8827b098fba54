"""The SQL both stores speak, written once: the statements, the paging queries and
the `Store` methods that are the same on SQLite and PostgreSQL (`SqlStore`).

Statements are written with PostgreSQL's numbered placeholders (`$1`); a `Dialect`
turns them into SQLite's (`?1`, which binds by position too, so a parameter may be
used twice) and holds the little SQL that differs. What differs beyond that — the
append (numbered from memory in SQLite, in one statement per batch in PostgreSQL),
`last_seqs`, a change's transaction, ping and claim — stays in each store.
"""

from __future__ import annotations

import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from trichat.errors import Conflict
from trichat.models import Admission, Ban, Channel, LogEvent, Message, PresenceEntry
from trichat.store.read_sql import ReadQueries, admitted
from trichat.store.rows import BANS, CHANNELS, LOG, MESSAGES, MODERATION, PRESENCE, Row, log_item
from trichat.store.writer import Writer

NO_BOUND = 2**62  # above every seq: "the newest"
UPDATABLE = frozenset({"name", "description", "is_active", "max_participants", "read_receipts"})
_MARK = re.compile(r"\$(\d+)")
# a join's or a post's checks in one statement: the channel $1, then whether the
# user $2 is a member, is banned at $3, and their marker (its seq null: none)
_ADMISSION = (
    "SELECT " + ", ".join(f"c.{col.strip()}" for col in CHANNELS.columns.split(",")) + ", "
    "EXISTS (SELECT 1 FROM members m WHERE m.channel_id = c.id AND m.user_id = $2), "
    "EXISTS (SELECT 1 FROM bans b WHERE b.channel_id = c.id AND b.user_id = $2 "
    "AND (b.expires_at IS NULL OR b.expires_at > $3)), "
    "r.read_seq, r.read_at, c.msg_total - coalesce(a.sent, 0) - r.base "
    "FROM channels c LEFT JOIN reads r ON r.channel_id = c.id AND r.user_id = $2 "
    "LEFT JOIN authors a ON a.channel_id = c.id AND a.user_id = $2 WHERE c.id = $1"
)
_ADMITTED = CHANNELS.columns.count(",") + 1  # where the channel's columns end


def name_taken(name: object) -> str:
    return f"a channel named {name!r} exists already"


def no_channel(channel_id: str) -> str:
    return f"no channel {channel_id}"


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    mark: str  # "$" (PostgreSQL) or "?" (SQLite), before a parameter's number
    greatest: str  # the larger of two values: greatest() / max()

    def sql(self, text: str) -> str:
        return text if self.mark == "$" else _MARK.sub(rf"{self.mark}\1", text)


SQLITE = Dialect("sqlite", "?", "max")
POSTGRES = Dialect("postgres", "$", "greatest")


class Statements:
    """Every shared statement, in one dialect (built once per store class)."""

    def __init__(self, d: Dialect) -> None:
        self.dialect = d
        s = d.sql
        self.channel = s(CHANNELS.select("id = $1"))
        self.channel_named = s(CHANNELS.select("name = $1") + " ORDER BY created_at LIMIT 1")
        self.insert_channel = s(CHANNELS.insert())
        self.message = s(MESSAGES.select("channel_id = $1 AND seq = $2"))
        self.message_by_id = s(
            MESSAGES.select("channel_id = $1 AND user_id = $2 AND message_id = $3")
        )
        self.log_by_id = s(LOG.select("channel_id = $1 AND user_id = $2 AND message_id = $3"))
        self.log_after = s(LOG.select("channel_id = $1 AND seq > $2") + " ORDER BY seq LIMIT $3")
        # the reactions of a page of messages, seqs $2..$3, each message's in order
        self.reaction_counts = s(
            "SELECT seq, emoji, holders FROM reaction_counts WHERE channel_id = $1 "
            "AND seq >= $2 AND seq <= $3 ORDER BY seq, first_seq"
        )
        self.held = s(
            "SELECT seq, emoji FROM reactions WHERE channel_id = $1 AND user_id = $2 "
            "AND seq >= $3 AND seq <= $4"
        )
        self.reaction_users = s(
            "SELECT emoji, user_id FROM reactions WHERE channel_id = $1 AND seq = $2 "
            "ORDER BY added_seq"
        )
        # (after, include_deleted, top_level, thread) → the page's statement
        self.pages = {key: s(_page(*key)) for key in itertools.product((False, True), repeat=4)}
        self.is_member = s("SELECT 1 FROM members WHERE channel_id = $1 AND user_id = $2")
        self.add_member = s(
            "INSERT INTO members (channel_id, user_id, added_by, added_at) "
            "VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING"
        )
        self.remove_member = s("DELETE FROM members WHERE channel_id = $1 AND user_id = $2")
        self.admission = s(_ADMISSION)
        self.put_ban = s(
            BANS.insert() + " ON CONFLICT (channel_id, user_id) DO UPDATE SET "
            "reason = excluded.reason, banned_by = excluded.banned_by, "
            "created_at = excluded.created_at, expires_at = excluded.expires_at"
        )
        self.delete_ban = s("DELETE FROM bans WHERE channel_id = $1 AND user_id = $2")
        self.log_moderation = s(
            "INSERT INTO moderation_log (channel_id, actor, action, target, detail, "
            "created_at) VALUES ($1,$2,$3,$4,$5,$6)"
        )
        self.moderation_log = s(MODERATION.select("channel_id = $1") + " ORDER BY id DESC LIMIT $2")
        self.record_seen = s(
            "INSERT INTO presence (channel_id, user_id, username, last_seen) "
            "VALUES ($1,$2,$3,$4) ON CONFLICT (channel_id, user_id) DO UPDATE SET "
            "username = excluded.username, "
            f"last_seen = {d.greatest}(presence.last_seen, excluded.last_seen)"
        )
        self.recently_seen = s(
            PRESENCE.select("channel_id = $1") + " ORDER BY last_seen DESC LIMIT $2"
        )

    def page(self, after: bool, include_deleted: bool, top_level: bool, thread: bool) -> str:
        return self.pages[after, include_deleted, top_level, thread]

    def update_channel(self, changes: dict[str, object]) -> str:
        """(channel_id, now, *changes.values()): the channel as changed, or none."""
        assert changes and set(changes) <= UPDATABLE, changes
        sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(changes, start=3))
        return self.dialect.sql(
            f"UPDATE channels SET {sets}, updated_at = $2 WHERE id = $1 "
            f"RETURNING {CHANNELS.columns}"
        )

    def channel_page(
        self, user_id: str, see_all: bool, channel_type: str | None
    ) -> tuple[str, str, list[object]]:
        """The count and the page (two more parameters: limit, offset) of the
        channels `user_id` may see, and their parameters."""
        where, args = ["1=1"], list[object]()
        if not see_all:
            args.append(user_id)
            where.append(
                "(channel_type = 'public' OR created_by = $1 OR EXISTS (SELECT 1 FROM members "
                "m WHERE m.channel_id = channels.id AND m.user_id = $1))"
            )
        if channel_type is not None:
            args.append(channel_type)
            where.append(f"channel_type = ${len(args)}")
        cond = " AND ".join(where)
        n = len(args)
        page = f"{CHANNELS.select(cond)} ORDER BY created_at, id LIMIT ${n + 1} OFFSET ${n + 2}"
        count = f"SELECT count(*) FROM channels WHERE {cond}"
        return self.dialect.sql(count), self.dialect.sql(page), args


def _page(after: bool, include_deleted: bool, top_level: bool, thread: bool) -> str:
    """(channel, bound, limit[, root]): messages after / newest before `bound`."""
    where = f"channel_id = $1 AND event = 'message' AND seq {'>' if after else '<'} $2"
    where += "" if include_deleted else " AND deleted_at IS NULL"
    where += " AND parent_seq IS NULL" if top_level else ""
    where += " AND (seq = $4 OR parent_seq = $4)" if thread else ""
    return LOG.select(where) + f" ORDER BY seq{'' if after else ' DESC'} LIMIT $3"


class SqlStore(ReadQueries, ABC):
    """The `Store` methods written once, over four primitives each store gives
    (reads on its read path, writes as its writes go: SQLite's writer, a pooled
    PostgreSQL connection), and the writer's bookkeeping."""

    name: str
    sql: Statements
    duplicate: tuple[type[Exception], ...]  # a unique violation, as `_change*` raises it
    _writer: Writer[Any]

    @abstractmethod
    async def _one(self, sql: str, args: Sequence[object]) -> Row | None: ...

    @abstractmethod
    async def _all(self, sql: str, args: Sequence[object]) -> list[Row]: ...

    @abstractmethod
    async def _change(self, sql: str, args: Sequence[object]) -> int:
        """A write; the number of rows it changed."""

    @abstractmethod
    async def _change_one(self, sql: str, args: Sequence[object]) -> Row | None:
        """A write that returns a row (`RETURNING`)."""

    @property
    def pending_writes(self) -> int:
        return self._writer.pending

    @property
    def observe_batch(self) -> Callable[[int], None]:
        return self._writer.observe_batch

    @observe_batch.setter
    def observe_batch(self, observe: Callable[[int], None]) -> None:
        self._writer.observe_batch = observe

    # channels

    async def create_channel(
        self,
        *,
        channel_id: str,
        name: str,
        description: str,
        channel_type: str,
        max_participants: int | None,
        created_by: str,
        now: int,
    ) -> Channel:
        row = (channel_id, name, description, channel_type, max_participants, True)
        row += (created_by, now, now, 0, True)
        try:
            await self._change(self.sql.insert_channel, row)
        except self.duplicate:
            raise Conflict(name_taken(name)) from None
        return CHANNELS.record(row)

    async def get_channel(self, channel_id: str) -> Channel | None:
        row = await self._one(self.sql.channel, (channel_id,))
        return CHANNELS.record(row) if row else None

    async def find_channel_by_name(self, name: str) -> Channel | None:
        row = await self._one(self.sql.channel_named, (name,))
        return CHANNELS.record(row) if row else None

    async def list_channels(
        self, *, user_id: str, see_all: bool, channel_type: str | None, limit: int, offset: int
    ) -> tuple[list[Channel], int]:
        count, page, args = self.sql.channel_page(user_id, see_all, channel_type)
        total = await self._one(count, args)
        rows = await self._all(page, [*args, limit, offset])
        return [CHANNELS.record(r) for r in rows], int(total[0])

    async def update_channel(
        self, channel_id: str, changes: dict[str, object], now: int
    ) -> Channel | None:
        if not changes:
            return await self.get_channel(channel_id)
        sql = self.sql.update_channel(changes)
        try:
            row = await self._change_one(sql, (channel_id, now, *changes.values()))
        except self.duplicate:
            raise Conflict(name_taken(changes.get("name"))) from None
        return CHANNELS.record(row) if row else None

    # messages

    async def messages(
        self,
        channel_id: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int,
        include_deleted: bool = False,
        top_level: bool = False,
        thread: int | None = None,
    ) -> list[Message]:
        """A page of messages (not the log's other events) in their current state,
        oldest first: after a seq, or the newest before one. `top_level`: no
        replies; `thread`: that root and its replies only."""
        sql = self.sql.page(after is not None, include_deleted, top_level, thread is not None)
        bound = after if after is not None else before if before is not None else NO_BOUND
        args: tuple[object, ...] = (channel_id, bound, limit)
        rows = await self._all(sql, args if thread is None else (*args, thread))
        found = [MESSAGES.record(r) for r in rows]
        return await self._with_reactions(found if after is not None else found[::-1])

    async def events(self, channel_id: str, *, after: int, limit: int) -> list[Message | LogEvent]:
        """The raw log after a seq, in seq order, messages in their current state."""
        rows = await self._all(self.sql.log_after, (channel_id, after, limit))
        items = [log_item(r) for r in rows]
        messages = await self._with_reactions([m for m in items if isinstance(m, Message)])
        now = {m.seq: m for m in messages}
        return [now.get(i.seq, i) if isinstance(i, Message) else i for i in items]

    async def _with_reactions(self, page: list[Message]) -> list[Message]:
        """`page` with each message's reactions (one read for the whole page)."""
        if not page:
            return page
        seqs = [m.seq for m in page]
        args = (page[0].channel_id, min(seqs), max(seqs))
        held: dict[int, list[tuple[str, int]]] = {}
        for seq, emoji, holders in await self._all(self.sql.reaction_counts, args):
            held.setdefault(seq, []).append((emoji, holders))
        if not held:
            return page
        return [replace(m, reactions=tuple(held[m.seq])) if m.seq in held else m for m in page]

    async def held_reactions(
        self, channel_id: str, user_id: str, first: int, last: int
    ) -> set[tuple[int, str]]:
        """(seq, emoji) of each reaction `user_id` holds on messages first..last."""
        rows = await self._all(self.sql.held, (channel_id, user_id, first, last))
        return {(seq, emoji) for seq, emoji in rows}

    async def reaction_users(
        self, channel_id: str, seq: int, limit: int
    ) -> list[tuple[str, list[str]]]:
        """Each emoji on message `seq` with its first `limit` holders, in order."""
        users: dict[str, list[str]] = {}
        for emoji, user_id in await self._all(self.sql.reaction_users, (channel_id, seq)):
            holders = users.setdefault(emoji, [])
            if len(holders) < limit:
                holders.append(user_id)
        return list(users.items())

    async def get_message(self, channel_id: str, seq: int) -> Message | None:
        row = await self._one(self.sql.message, (channel_id, seq))
        return MESSAGES.record(row) if row else None

    # membership and moderation

    async def is_member(self, channel_id: str, user_id: str) -> bool:
        return await self._one(self.sql.is_member, (channel_id, user_id)) is not None

    async def set_member(
        self, channel_id: str, user_id: str, present: bool, by: str, now: int
    ) -> None:
        if present:
            await self._change(self.sql.add_member, (channel_id, user_id, by, now))
        else:
            await self._change(self.sql.remove_member, (channel_id, user_id))

    async def admission(self, channel_id: str, user_id: str, now: int) -> Admission | None:
        row = await self._one(self.sql.admission, (channel_id, user_id, now))
        return admitted(user_id, CHANNELS.record(row), row[_ADMITTED:]) if row else None

    async def put_ban(self, ban: Ban) -> None:
        args = (ban.channel_id, ban.user_id, ban.reason, ban.banned_by, ban.created_at)
        await self._change(self.sql.put_ban, (*args, ban.expires_at))

    async def delete_ban(self, channel_id: str, user_id: str, by: str, now: int) -> bool:
        return await self._change(self.sql.delete_ban, (channel_id, user_id)) > 0

    async def log_moderation(
        self, channel_id: str, actor: str, action: str, target: str, detail: str, now: int
    ) -> None:
        args = (channel_id, actor, action, target, detail, now)
        await self._change(self.sql.log_moderation, args)

    async def moderation_log(self, channel_id: str, limit: int) -> list[dict[str, object]]:
        rows = await self._all(self.sql.moderation_log, (channel_id, limit))
        return [MODERATION.record(r) for r in rows]

    # read markers (the reads are `ReadQueries`')

    async def drop_read(self, channel_id: str, user_id: str) -> None:
        await self._change(self.reads.drop, (channel_id, user_id))

    # presence history

    async def record_seen(self, channel_id: str, user_id: str, username: str, at: int) -> None:
        await self._change(self.sql.record_seen, (channel_id, user_id, username, at))

    async def recently_seen(self, channel_id: str, limit: int) -> list[PresenceEntry]:
        rows = await self._all(self.sql.recently_seen, (channel_id, limit))
        return [PRESENCE.record(r) for r in rows]
