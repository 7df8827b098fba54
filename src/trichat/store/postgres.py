"""PostgreSQL store (asyncpg, through `trichat.aio`): the store for several instances.

Each operation is one asyncio coroutine, so it crosses the trio/asyncio bridge once.
Appends are group-committed (`writer.Writer`): the writer takes every append queued
and stores them all in one transaction of two statements (one crossing, one commit):
lock the batch's channel rows in id order (so two instances' batches cannot
deadlock; the lock serialises appends per channel across instances), then
`_APPEND_MANY` skips duplicates, raises each channel's last_seq by its count and
inserts the messages numbered after it — the seq is assigned in the transaction that
stores the message, so it is gap-free and total per channel. Other writes run at
once on another connection (`pg_pool`: the connections are kept on the trio side,
not in an `asyncpg.Pool`). The statements shared with SQLite are in `sql.py`.
Driver and network errors become `StoreUnavailable`; a unique violation on a channel
name becomes `Conflict`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import asyncpg
import trio

from trichat import aio
from trichat.errors import Conflict, StoreUnavailable
from trichat.models import AppendResult, Change, ChangeResult, MessageDraft, ReadMark
from trichat.store import pg_log, pg_reads
from trichat.store.pg_pool import Connections
from trichat.store.rows import MESSAGES, Row
from trichat.store.sql import POSTGRES, SqlStore, Statements, no_channel
from trichat.store.writer import Job, Writer, running

T = TypeVar("T")
MAX_BATCH = 256  # appends per transaction
# seconds one store call may take: a stalled PostgreSQL (sockets open, nothing
# answering) is an outage found by this deadline. It bounds connecting (a new
# connection) and the call itself: one asyncio timer per call (`asyncio.timeout`),
# no more. Under trio-asyncio each is a handle queued, heaped and popped; a timed
# pool acquire (a task and a timer), asyncpg's `command_timeout` (one per
# statement) and the pool's release budget are gone (docs/performance.md,
# "Performance V" and "VI"). It must be met on the asyncio side: trio-asyncio
# cannot abandon an asyncio task, so a trio cancel scope around a call that asyncpg
# cannot finish would wait too.
CALL_WAIT = 2.0
# seconds a call may wait for a connection's slot (in trio, `Connections.slots`):
# a queue of this instance's own (a storm of joins after a restart), so it is
# longer, and missing it marks nothing
POOL_WAIT = 10.0
# the advisory lock key every trichat instance on a database takes (`claim`)
INSTANCE_LOCK = int.from_bytes(b"trichat1", "big")
_SQL = Statements(POSTGRES)
# InternalClientError: asyncpg's protocol out of step (seen when PostgreSQL ends an
# idle session and the next call finds it mid-teardown): its connection is dropped
_DRIVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


class _Append(Job):
    __slots__ = ("draft",)

    def __init__(self, draft: MessageDraft) -> None:
        self.draft = draft
        self.result: AppendResult | None = None
        self.error: BaseException | None = None
        self.done = None
        self.on_done = None


# Every append of a batch in one statement: the channels' rows are locked first, in
# id order (`locked`); the rows arrive as arrays; those not stored yet (first of
# their message_id) are numbered per channel after the channel's last_seq (and its
# message total), which grows by their count; then they are inserted, and their
# authors' counts raised (read_sql). Rows that get no seq here are duplicates or
# name a missing channel (`_settle` tells which).
_APPEND_MANY = f"""
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::text[], $9::bigint[])
        WITH ORDINALITY AS t(channel_id, message_id, user_id, username, display_name,
                             avatar_url, content, kind, created_at, ord)
), locked AS MATERIALIZED (
    SELECT id FROM channels WHERE id IN (SELECT channel_id FROM input)
    ORDER BY id FOR UPDATE
), fresh AS (
    SELECT DISTINCT ON (i.channel_id, i.user_id, i.message_id) i.*
    FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.channel_id = i.channel_id
                      AND m.user_id = i.user_id AND m.message_id = i.message_id)
    ORDER BY i.channel_id, i.user_id, i.message_id, i.ord
), counts AS (
    SELECT channel_id, count(*) AS n FROM fresh GROUP BY channel_id
), bumped AS (
    UPDATE channels c SET last_seq = c.last_seq + counts.n, msg_total = c.msg_total + counts.n
    FROM counts JOIN locked ON locked.id = counts.channel_id
    WHERE c.id = counts.channel_id
    RETURNING c.id, c.last_seq - counts.n AS base
), numbered AS (
    SELECT f.*, b.base + row_number() OVER (PARTITION BY f.channel_id ORDER BY f.ord) AS seq
    FROM fresh f JOIN bumped b ON b.id = f.channel_id
), inserted AS (
    INSERT INTO messages ({MESSAGES.columns})
    SELECT channel_id, seq, message_id, user_id, username, display_name, avatar_url,
           content, kind, created_at, NULL FROM numbered
), sent AS (
    INSERT INTO authors (channel_id, user_id, sent)
    SELECT channel_id, user_id, count(*) FROM numbered GROUP BY channel_id, user_id
    ON CONFLICT (channel_id, user_id) DO UPDATE SET sent = authors.sent + excluded.sent
)
SELECT ord, seq FROM numbered
"""


async def _append_batch(
    c: asyncpg.Connection, drafts: list[MessageDraft]
) -> list[AppendResult | Exception]:
    """The batch as one statement, its own transaction: one round trip. It locks the
    channels' rows in id order first (`locked`, materialized, which the update of
    their seqs joins: two instances' batches cannot deadlock). Another instance
    storing the same message_id between our check and our insert fails the
    statement: then the batch is run again, and the check sees it."""
    for attempt in (1, 2):
        try:
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
    row = await c.fetchrow(_SQL.message_by_id, draft.channel_id, draft.user_id, draft.message_id)
    if row is None:
        return LookupError(no_channel(draft.channel_id))
    return AppendResult(MESSAGES.record(row), duplicate=True)


def _changed(status: str) -> int:
    """The row count of a command status ("DELETE 1", "INSERT 0 1")."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresStore(SqlStore):
    name = "postgres"
    sql = _SQL
    reads = pg_reads.READS
    duplicate = (Conflict,)  # `_call` raises it for a unique violation

    def __init__(self, connections: Connections) -> None:
        # a call waits for a slot in trio; the claim holds one while it lasts
        self._conns = connections
        self._slots = connections.slots
        self._claim_slot = False
        self._claim_conn: asyncpg.Connection | None = None  # holds the instance lock
        self._writing = 0  # writes other than appends, running on the pool
        # a call missed its deadline: calls are refused at once (not each after
        # CALL_WAIT) until the prober's ping is answered again
        self._stalled = trio.Event()
        self._answering = True
        self._writer = Writer[_Append]("postgres", self._commit, MAX_BATCH)

    @property
    def pending_writes(self) -> int:
        return self._writer.pending + self._writing

    # ---- plumbing -------------------------------------------------------------

    async def _call(
        self, fn: Callable[[asyncpg.Connection], Awaitable[T]], *, probe: bool = False
    ) -> T:
        if not self._answering and not probe:
            raise StoreUnavailable("postgres is not answering")

        async def body() -> T:
            conn, error = None, None
            try:
                if not self._answering and not probe:  # a stall seen while queued
                    raise StoreUnavailable("postgres is not answering")
                # one deadline for connecting (a new connection), the call and its
                # statements: asyncpg's own `command_timeout` is not set
                async with asyncio.timeout(CALL_WAIT):
                    conn = await self._conns.take()
                    return await fn(conn)
            except BaseException as exc:
                error = exc
                if isinstance(exc, TimeoutError):
                    self._answering = False  # refuse other calls now
                raise
            finally:
                if conn is not None:
                    self._conns.give(conn, error)

        try:
            with trio.fail_after(POOL_WAIT):
                await self._slots.acquire()
        except trio.TooSlowError:
            # this instance's own queue, not PostgreSQL failing: refuse this call only
            message = f"postgres: no connection free within {POOL_WAIT:g} s"
            raise StoreUnavailable(message) from None
        try:
            return await aio.run(body)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(str(exc)) from None
        except TimeoutError as exc:
            self._answering = False
            self._stalled.set()
            raise StoreUnavailable(f"postgres: no answer within {CALL_WAIT:g} s") from exc
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(f"postgres: {exc}") from exc
        finally:
            self._slots.release()

    async def _write(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """A write outside the writer, counted in `pending_writes`."""
        self._writing += 1
        try:
            return await self._call(fn)
        finally:
            self._writing -= 1

    async def _one(self, sql: str, args: Sequence[object]) -> Row | None:
        return await self._call(lambda c: c.fetchrow(sql, *args))

    async def _all(self, sql: str, args: Sequence[object]) -> list[Row]:
        return await self._call(lambda c: c.fetch(sql, *args))

    async def _change(self, sql: str, args: Sequence[object]) -> int:
        return _changed(await self._write(lambda c: c.execute(sql, *args)))

    async def _change_one(self, sql: str, args: Sequence[object]) -> Row | None:
        return await self._write(lambda c: c.fetchrow(sql, *args))

    async def _commit(self, batch: list[_Append]) -> None:
        """Group commit: every append of the batch in one transaction, one bridge
        crossing and one commit (one WAL flush)."""
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

    async def _unclaim(self) -> None:
        """(asyncio) Give the lock connection back, lock dropped (or the connection
        terminated: a session's locks end with it)."""
        conn, self._claim_conn = self._claim_conn, None
        if conn is not None:
            error: BaseException | None = None
            try:
                async with asyncio.timeout(CALL_WAIT):
                    await conn.execute("SELECT pg_advisory_unlock_all()")
            except (TimeoutError, *_DRIVER_ERRORS) as exc:
                error = exc
            self._conns.give(conn, error)

    # ---- the Store methods not in `SqlStore` ------------------------------------

    async def ping(self) -> None:
        await self._call(lambda c: c.fetchval("SELECT 1"))

    async def claim(self, *, alone: bool) -> bool:
        """A session advisory lock on one of the store's connections, held until close:
        exclusive for an instance without a broker, shared for the others."""
        take = "pg_try_advisory_lock" if alone else "pg_try_advisory_lock_shared"

        async def body() -> bool:
            async with asyncio.timeout(CALL_WAIT):
                if self._claim_conn is None:
                    self._claim_conn = await self._conns.take()
                return bool(await self._claim_conn.fetchval(f"SELECT {take}($1)", INSTANCE_LOCK))

        if not self._claim_slot:  # the lock's connection is one of the store's
            await self._slots.acquire()
            self._claim_slot = True
        try:
            return await aio.run(body)
        except _DRIVER_ERRORS as exc:  # TimeoutError among them
            raise StoreUnavailable(f"postgres: {exc}") from exc

    async def last_seqs(self, channel_ids: list[str]) -> dict[str, int]:
        rows = await self._all(
            "SELECT id, last_seq FROM channels WHERE id = ANY($1::uuid[])", (channel_ids,)
        )
        return {str(row["id"]): row["last_seq"] for row in rows}

    async def append(self, draft: MessageDraft) -> AppendResult:
        if draft.parent_seq is not None:  # a reply: its root is checked and counted
            return await self._write(partial(pg_log.reply, draft=draft))
        return await self._writer.submit(_Append(draft))  # type: ignore[no-any-return]

    async def append_soon(
        self, draft: MessageDraft, done: Callable[[AppendResult | BaseException], None]
    ) -> None:
        assert draft.parent_seq is None, "a reply goes through append"
        await self._writer.submit_soon(_Append(draft), done)

    async def change(self, op: Change) -> ChangeResult:
        return await self._write(partial(pg_log.change, op=op))

    async def start_read(self, channel_id: str, user_id: str, at: int) -> ReadMark | None:
        start = partial(pg_reads.start, channel_id=channel_id, user_id=user_id, at=at)
        return await self._write(start)

    async def put_reads(self, moves: Sequence[ReadMark]) -> None:
        await self._write(partial(pg_reads.put, moves=moves))


@asynccontextmanager
async def open_postgres_store(
    dsn: str, *, min_size: int = 2, max_size: int = 10
) -> AsyncIterator[PostgresStore]:
    """`max_size` connections on `dsn` at most, `min_size` of them opened now; needs
    `trichat.aio.open_aio_loop()` around it. At the end, answer every append
    queued, then close."""
    conns = Connections(dsn, max_size)
    try:
        await aio.run(_connect, conns, min_size)
    except (asyncpg.PostgresError, OSError) as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
    store = PostgresStore(conns)
    try:
        async with running(store._writer, store.run_prober):
            yield store
    finally:
        with trio.CancelScope(shield=True):
            await aio.run(store._unclaim)
            await aio.run(conns.close, CALL_WAIT)


async def _connect(conns: Connections, count: int) -> None:
    """(asyncio) Open `count` connections within `CALL_WAIT`."""
    async with asyncio.timeout(CALL_WAIT):
        await conns.open(count)
