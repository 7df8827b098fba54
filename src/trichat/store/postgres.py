"""PostgreSQL store (asyncpg, through `trichat.aio`): the store for several instances.

Each operation is one asyncio coroutine, so it crosses the trio/asyncio bridge once.
Appends are group-committed: a writer task takes every append queued and stores
them all in one transaction of two statements (one crossing, one commit): lock the
batch's channel rows in id order (so two instances' batches cannot deadlock; the
lock serialises appends per channel across instances), then `_APPEND_MANY` skips
duplicates, raises each channel's last_seq by its count and inserts the messages
numbered after it — the seq is assigned in the transaction that stores the message,
so it is gap-free and total per channel. Driver and network errors become
`StoreUnavailable`; a unique violation on a channel name becomes `Conflict`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import asyncpg
import trio

from trichat import aio
from trichat.errors import Conflict, StoreUnavailable
from trichat.models import AppendResult, Ban, Channel, Message, MessageDraft, PresenceEntry
from trichat.store.base import batches

T = TypeVar("T")
MAX_BATCH = 256  # appends per transaction
# seconds one store call may take: a stalled PostgreSQL (sockets open, nothing
# answering) is an outage found by this deadline. It bounds the wait for a pooled
# connection, the call itself, and the release (asyncpg then drops the connection).
# It must be met on the asyncio side: trio-asyncio cannot abandon an asyncio task,
# so a trio cancel scope around a call that asyncpg cannot finish would wait too.
CALL_WAIT = 2.0
# the advisory lock key every trichat instance on a database takes (`claim`)
INSTANCE_LOCK = int.from_bytes(b"trichat1", "big")
_CHANNEL_COLS = (
    "id, name, description, channel_type, max_participants, is_active, created_by, "
    "created_at, updated_at, last_seq"
)
_MESSAGE_COLS = (
    "channel_id, seq, message_id, user_id, username, display_name, avatar_url, content, "
    "kind, created_at, deleted_at"
)


def _channel(row: Any) -> Channel:
    return Channel(
        str(row["id"]),
        row["name"],
        row["description"],
        row["channel_type"],
        row["max_participants"],
        row["is_active"],
        row["created_by"],
        row["created_at"],
        row["updated_at"],
        row["last_seq"],
    )


def _message(row: Any) -> Message:
    return Message(
        str(row["channel_id"]),
        row["seq"],
        row["message_id"],
        row["user_id"],
        row["username"],
        row["display_name"],
        row["avatar_url"],
        row["content"],
        row["kind"],
        row["created_at"],
        deleted=row["deleted_at"] is not None,
    )


class _Append:
    __slots__ = ("done", "draft", "error", "result")

    def __init__(self, draft: MessageDraft) -> None:
        self.draft = draft
        self.result: AppendResult | None = None
        self.error: BaseException | None = None
        self.done = trio.Event()


# Every append of a batch in one statement: the rows arrive as arrays; those not
# stored yet (first of their message_id) are numbered per channel after the
# channel's last_seq, which grows by their count; then they are inserted. Rows that
# get no seq here are duplicates or name a missing channel (`_settle` tells which).
_APPEND_MANY = f"""
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::text[], $9::bigint[])
        WITH ORDINALITY AS t(channel_id, message_id, user_id, username, display_name,
                             avatar_url, content, kind, created_at, ord)
), fresh AS (
    SELECT DISTINCT ON (i.channel_id, i.user_id, i.message_id) i.*
    FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.channel_id = i.channel_id
                      AND m.user_id = i.user_id AND m.message_id = i.message_id)
    ORDER BY i.channel_id, i.user_id, i.message_id, i.ord
), counts AS (
    SELECT channel_id, count(*) AS n FROM fresh GROUP BY channel_id
), bumped AS (
    UPDATE channels c SET last_seq = c.last_seq + counts.n FROM counts
    WHERE c.id = counts.channel_id
    RETURNING c.id, c.last_seq - counts.n AS base
), numbered AS (
    SELECT f.*, b.base + row_number() OVER (PARTITION BY f.channel_id ORDER BY f.ord) AS seq
    FROM fresh f JOIN bumped b ON b.id = f.channel_id
), inserted AS (
    INSERT INTO messages ({_MESSAGE_COLS})
    SELECT channel_id, seq, message_id, user_id, username, display_name, avatar_url,
           content, kind, created_at, NULL FROM numbered
)
SELECT ord, seq FROM numbered
"""
_LOCK_CHANNELS = "SELECT id FROM channels WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"


async def _append_batch(
    c: asyncpg.Connection, drafts: list[MessageDraft]
) -> list[AppendResult | Exception]:
    """One transaction, two statements for the whole batch: lock the channels' rows
    in id order (two instances' batches cannot deadlock), then `_APPEND_MANY`.
    A batch for one channel is `_APPEND_MANY` alone: one statement is its own
    transaction, and holding a single row lock it cannot deadlock, so one round trip
    instead of four (BEGIN, lock, append, COMMIT). Another instance storing the same
    message_id between our check and our insert fails the statement: then the batch
    is run again, and the check sees it."""
    channels = sorted({d.channel_id for d in drafts})
    for attempt in (1, 2):
        try:
            if len(channels) == 1:
                return await _numbered(c, drafts)
            async with c.transaction():
                await c.execute(_LOCK_CHANNELS, channels)
                return await _numbered(c, drafts)
        except asyncpg.UniqueViolationError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _numbered(
    c: asyncpg.Connection, drafts: list[MessageDraft]
) -> list[AppendResult | Exception]:
    rows = await c.fetch(_APPEND_MANY, *_columns(drafts))
    seqs = {row["ord"]: row["seq"] for row in rows}
    return [await _settle(c, d, seqs.get(k)) for k, d in enumerate(drafts, 1)]


def _columns(drafts: list[MessageDraft]) -> list[list[Any]]:
    return [
        [d.channel_id for d in drafts],
        [d.message_id for d in drafts],
        [d.user_id for d in drafts],
        [d.username for d in drafts],
        [d.display_name for d in drafts],
        [d.avatar_url for d in drafts],
        [d.content for d in drafts],
        [d.kind for d in drafts],
        [d.created_at for d in drafts],
    ]


async def _settle(
    c: asyncpg.Connection, draft: MessageDraft, seq: int | None
) -> AppendResult | Exception:
    if seq is not None:
        return AppendResult(draft.numbered(seq), duplicate=False)
    row = await c.fetchrow(
        f"SELECT {_MESSAGE_COLS} FROM messages WHERE channel_id = $1 "
        "AND user_id = $2 AND message_id = $3",
        draft.channel_id,
        draft.user_id,
        draft.message_id,
    )
    if row is None:
        return LookupError(f"no channel {draft.channel_id}")
    return AppendResult(_message(row), duplicate=True)


class PostgresStore:
    name = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._claim_conn: asyncpg.Connection | None = None  # holds the instance lock
        self._pending = 0
        # a call missed its deadline: calls are refused at once (not each after
        # CALL_WAIT) until the prober's ping is answered again
        self._stalled = trio.Event()
        self._answering = True
        self._appends_send, self._appends_recv = trio.open_memory_channel[_Append](4096)
        self.observe_batch: Callable[[int], None] = lambda size: None

    @property
    def pending_writes(self) -> int:
        return self._pending

    async def _call(
        self, fn: Callable[[asyncpg.Connection], Awaitable[T]], *, probe: bool = False
    ) -> T:
        if not self._answering and not probe:
            raise StoreUnavailable("postgres is not answering")

        async def body() -> T:
            async with self._pool.acquire(timeout=CALL_WAIT) as conn:
                try:
                    async with asyncio.timeout(CALL_WAIT):
                        return await fn(conn)
                except TimeoutError:
                    # refuse other calls now, not once the release below has waited
                    # out the cancellation (up to CALL_WAIT more)
                    self._answering = False
                    raise

        self._pending += 1
        try:
            return await aio.run(body)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(str(exc)) from None
        except TimeoutError as exc:
            self._answering = False
            self._stalled.set()
            raise StoreUnavailable(f"postgres: no answer within {CALL_WAIT:g} s") from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StoreUnavailable(f"postgres: {exc}") from exc
        finally:
            self._pending -= 1

    async def ping(self) -> None:
        await self._call(lambda c: c.fetchval("SELECT 1"))

    async def run_prober(self) -> None:
        """After a missed deadline, ping until PostgreSQL answers, then let calls
        through again: chat resumes as soon as it does."""
        while True:
            await self._stalled.wait()
            try:
                await self._call(lambda c: c.fetchval("SELECT 1"), probe=True)
            except StoreUnavailable:
                await trio.sleep(0.1)  # refused outright (not stalled): do not spin
                continue
            self._answering = True
            self._stalled = trio.Event()

    async def claim(self, *, alone: bool) -> bool:
        """A session advisory lock on one pooled connection, held until close:
        exclusive for an instance without a broker, shared for the others."""
        take = "pg_try_advisory_lock" if alone else "pg_try_advisory_lock_shared"

        async def body() -> bool:
            if self._claim_conn is None:
                self._claim_conn = await self._pool.acquire()
            return bool(await self._claim_conn.fetchval(f"SELECT {take}($1)", INSTANCE_LOCK))

        try:
            return await aio.run(body)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StoreUnavailable(f"postgres: {exc}") from exc

    async def _unclaim(self) -> None:
        """(asyncio) Give the lock connection back, lock dropped (pools keep sessions)."""
        conn, self._claim_conn = self._claim_conn, None
        if conn is not None:
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                await conn.execute("SELECT pg_advisory_unlock_all()")
            await self._pool.release(conn)

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
        async def insert(c: asyncpg.Connection) -> Any:
            return await c.fetchrow(
                f"INSERT INTO channels ({_CHANNEL_COLS}) VALUES "
                f"($1,$2,$3,$4,$5,true,$6,$7,$7,0) RETURNING {_CHANNEL_COLS}",
                channel_id,
                name,
                description,
                channel_type,
                max_participants,
                created_by,
                now,
            )

        try:
            return _channel(await self._call(insert))
        except Conflict:
            raise Conflict(f"a channel named {name!r} exists already") from None

    async def get_channel(self, channel_id: str) -> Channel | None:
        row = await self._call(
            lambda c: c.fetchrow(f"SELECT {_CHANNEL_COLS} FROM channels WHERE id = $1", channel_id)
        )
        return _channel(row) if row else None

    async def last_seqs(self, channel_ids: list[str]) -> dict[str, int]:
        rows = await self._call(
            lambda c: c.fetch(
                "SELECT id, last_seq FROM channels WHERE id = ANY($1::uuid[])", channel_ids
            )
        )
        return {str(row["id"]): row["last_seq"] for row in rows}

    async def find_channel_by_name(self, name: str) -> Channel | None:
        row = await self._call(
            lambda c: c.fetchrow(f"SELECT {_CHANNEL_COLS} FROM channels WHERE name = $1", name)
        )
        return _channel(row) if row else None

    async def list_channels(
        self, *, user_id: str, see_all: bool, channel_type: str | None, limit: int, offset: int
    ) -> tuple[list[Channel], int]:
        where, args = ["true"], [user_id]
        if not see_all:
            where.append(
                "(channel_type = 'public' OR created_by = $1 OR EXISTS (SELECT 1 "
                "FROM members m WHERE m.channel_id = channels.id AND m.user_id = $1))"
            )
        if channel_type is not None:
            args.append(channel_type)
            where.append(f"channel_type = ${len(args)}")
        cond = " AND ".join(where)

        async def query(c: asyncpg.Connection) -> tuple[list[Channel], int]:
            total = await c.fetchval(
                f"SELECT count(*) FROM channels WHERE {cond} AND $1::text IS NOT NULL", *args
            )
            rows = await c.fetch(
                f"SELECT {_CHANNEL_COLS} FROM channels WHERE {cond} AND $1::text IS NOT NULL "
                f"ORDER BY created_at, id LIMIT {int(limit)} OFFSET {int(offset)}",
                *args,
            )
            return [_channel(r) for r in rows], int(total)

        return await self._call(query)

    async def update_channel(
        self, channel_id: str, changes: dict[str, object], now: int
    ) -> Channel | None:
        assert set(changes) <= {"name", "description", "is_active", "max_participants"}
        sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(changes, start=3))

        async def update(c: asyncpg.Connection) -> Any:
            if not changes:
                return await c.fetchrow(
                    f"SELECT {_CHANNEL_COLS} FROM channels WHERE id = $1", channel_id
                )
            return await c.fetchrow(
                f"UPDATE channels SET {sets}, updated_at = $2 WHERE id = $1 "
                f"RETURNING {_CHANNEL_COLS}",
                channel_id,
                now,
                *changes.values(),
            )

        try:
            row = await self._call(update)
        except Conflict:
            raise Conflict(f"a channel named {changes.get('name')!r} exists already") from None
        return _channel(row) if row else None

    async def append(self, draft: MessageDraft) -> AppendResult:
        job = _Append(draft)
        self._pending += 1
        try:
            await self._appends_send.send(job)
            await job.done.wait()
        finally:
            self._pending -= 1
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    async def run_writer(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Group commit: every append queued when the writer wakes goes into one
        transaction, one bridge crossing and one commit (one WAL flush); each caller
        is answered after that commit."""
        task_status.started()
        async for batch in batches(self._appends_recv, MAX_BATCH):
            drafts = [job.draft for job in batch]
            try:
                outcomes = await self._call(partial(_append_batch, drafts=drafts))
            except (StoreUnavailable, Conflict) as exc:
                for job in batch:
                    job.error = StoreUnavailable(str(exc))
            else:
                for job, outcome in zip(batch, outcomes, strict=True):
                    if isinstance(outcome, AppendResult):
                        job.result = outcome
                    else:
                        job.error = outcome
            self.observe_batch(len(batch))
            for job in batch:
                job.done.set()

    async def messages(
        self,
        channel_id: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int,
        include_deleted: bool = False,
    ) -> list[Message]:
        live = "" if include_deleted else " AND deleted_at IS NULL"
        if after is not None:
            sql = (
                f"SELECT {_MESSAGE_COLS} FROM messages WHERE channel_id = $1 AND seq > $2"
                f"{live} ORDER BY seq LIMIT $3"
            )
            bound = after
        else:
            sql = (
                f"SELECT {_MESSAGE_COLS} FROM messages WHERE channel_id = $1 AND seq < $2"
                f"{live} ORDER BY seq DESC LIMIT $3"
            )
            bound = before if before is not None else 2**62
        rows = [
            _message(r) for r in await self._call(lambda c: c.fetch(sql, channel_id, bound, limit))
        ]
        if after is None:
            rows.reverse()
        return rows

    async def get_message(self, channel_id: str, seq: int) -> Message | None:
        row = await self._call(
            lambda c: c.fetchrow(
                f"SELECT {_MESSAGE_COLS} FROM messages WHERE channel_id = $1 AND seq = $2",
                channel_id,
                seq,
            )
        )
        return _message(row) if row else None

    async def delete_message(self, channel_id: str, seq: int, now: int) -> Message | None:
        async def delete(c: asyncpg.Connection) -> Any:
            async with c.transaction():
                row = await c.fetchrow(
                    f"SELECT {_MESSAGE_COLS} FROM messages WHERE channel_id = $1 AND seq = $2 "
                    "FOR UPDATE",
                    channel_id,
                    seq,
                )
                if row is not None and row["deleted_at"] is None:
                    await c.execute(
                        "UPDATE messages SET deleted_at = $3 WHERE channel_id = $1 AND seq = $2",
                        channel_id,
                        seq,
                        now,
                    )
                return row

        row = await self._call(delete)
        return _message(row) if row else None

    async def is_member(self, channel_id: str, user_id: str) -> bool:
        return bool(
            await self._call(
                lambda c: c.fetchval(
                    "SELECT true FROM members WHERE channel_id = $1 AND user_id = $2",
                    channel_id,
                    user_id,
                )
            )
        )

    async def set_member(
        self, channel_id: str, user_id: str, present: bool, by: str, now: int
    ) -> None:
        if present:
            await self._call(
                lambda c: c.execute(
                    "INSERT INTO members (channel_id, user_id, added_by, added_at) "
                    "VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
                    channel_id,
                    user_id,
                    by,
                    now,
                )
            )
        else:
            await self._call(
                lambda c: c.execute(
                    "DELETE FROM members WHERE channel_id = $1 AND user_id = $2",
                    channel_id,
                    user_id,
                )
            )

    async def get_ban(self, channel_id: str, user_id: str, now: int) -> Ban | None:
        row = await self._call(
            lambda c: c.fetchrow(
                "SELECT channel_id, user_id, reason, banned_by, created_at, expires_at "
                "FROM bans WHERE channel_id = $1 AND user_id = $2 "
                "AND (expires_at IS NULL OR expires_at > $3)",
                channel_id,
                user_id,
                now,
            )
        )
        return Ban(str(row[0]), *row[1:]) if row else None

    async def put_ban(self, ban: Ban) -> None:
        await self._call(
            lambda c: c.execute(
                "INSERT INTO bans (channel_id, user_id, reason, banned_by, created_at, expires_at) "
                "VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (channel_id, user_id) DO UPDATE SET "
                "reason = EXCLUDED.reason, banned_by = EXCLUDED.banned_by, "
                "created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
                ban.channel_id,
                ban.user_id,
                ban.reason,
                ban.banned_by,
                ban.created_at,
                ban.expires_at,
            )
        )

    async def delete_ban(self, channel_id: str, user_id: str, by: str, now: int) -> bool:
        status = await self._call(
            lambda c: c.execute(
                "DELETE FROM bans WHERE channel_id = $1 AND user_id = $2", channel_id, user_id
            )
        )
        return status != "DELETE 0"

    async def log_moderation(
        self, channel_id: str, actor: str, action: str, target: str, detail: str, now: int
    ) -> None:
        await self._call(
            lambda c: c.execute(
                "INSERT INTO moderation_log "
                "(channel_id, actor, action, target, detail, created_at) "
                "VALUES ($1,$2,$3,$4,$5,$6)",
                channel_id,
                actor,
                action,
                target,
                detail,
                now,
            )
        )

    async def record_seen(self, channel_id: str, user_id: str, username: str, at: int) -> None:
        await self._call(
            lambda c: c.execute(
                "INSERT INTO presence (channel_id, user_id, username, last_seen) "
                "VALUES ($1,$2,$3,$4) ON CONFLICT (channel_id, user_id) DO UPDATE SET "
                "username = excluded.username, "
                "last_seen = greatest(presence.last_seen, excluded.last_seen)",
                channel_id,
                user_id,
                username,
                at,
            )
        )

    async def recently_seen(self, channel_id: str, limit: int) -> list[PresenceEntry]:
        rows = await self._call(
            lambda c: c.fetch(
                "SELECT user_id, username, last_seen FROM presence WHERE channel_id = $1 "
                "ORDER BY last_seen DESC LIMIT $2",
                channel_id,
                limit,
            )
        )
        return [PresenceEntry(r["user_id"], r["username"], r["last_seen"]) for r in rows]

    async def moderation_log(self, channel_id: str, limit: int) -> list[dict[str, object]]:
        rows = await self._call(
            lambda c: c.fetch(
                "SELECT actor, action, target, detail, created_at FROM moderation_log "
                "WHERE channel_id = $1 ORDER BY id DESC LIMIT $2",
                channel_id,
                limit,
            )
        )
        return [dict(r) for r in rows]


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release, in place of asyncpg's default reset query (a
    round trip per store call: one of five per group-commit batch). trichat leaves
    no session state behind: no SET, LISTEN, cursors or advisory locks on pooled
    connections (migrations lock on a connection of their own). asyncpg still rolls
    back a transaction left open before it calls this."""


async def _close_pool(pool: asyncpg.Pool) -> None:
    """(asyncio) Close gracefully within `CALL_WAIT`, else drop every connection."""
    try:
        async with asyncio.timeout(CALL_WAIT):
            await pool.close()
    except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        pool.terminate()


@asynccontextmanager
async def open_postgres_store(
    dsn: str, *, min_size: int = 2, max_size: int = 10
) -> AsyncIterator[PostgresStore]:
    """A pool on `dsn`; needs `trichat.aio.open_aio_loop()` around it."""

    async def create() -> asyncpg.Pool:
        return await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            reset=_keep_session,
            timeout=CALL_WAIT,  # connecting
            command_timeout=CALL_WAIT,
        )

    try:
        pool = await aio.run(create)
    except (asyncpg.PostgresError, OSError) as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
    store: PostgresStore | None = None
    try:
        async with trio.open_nursery() as nursery:
            store = PostgresStore(pool)
            await nursery.start(store.run_writer)
            nursery.start_soon(store.run_prober)
            yield store
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            if store is not None:
                await aio.run(store._unclaim)
            await aio.run(_close_pool, pool)
