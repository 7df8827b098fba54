"""What only the PostgreSQL store does: several instances on one database."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest
import trio
import trio.testing

from tests.component.stores import draft, migrated_database, new_channel
from tests.helpers.aio_timers import counted_timers
from tests.helpers.pg import PostgresServer
from trichat import aio
from trichat.errors import StoreUnavailable
from trichat.models import AppendResult
from trichat.store.base import Store
from trichat.store.pg_pool import Connections
from trichat.store.postgres import open_postgres_store


async def test_two_postgres_instances_racing_one_message_id_store_it_once(
    postgres_server: PostgresServer,
) -> None:
    """Two instances (two pools) append the same message_id to one channel at the
    same moment, 20 times over: each time exactly one stores it, both answer with
    the same message, and the channel's seqs stay gap-free (a one-channel batch runs
    as a single statement, outside an explicit transaction)."""
    async with aio.open_aio_loop():
        dsn = await migrated_database(postgres_server)
        async with open_postgres_store(dsn) as a, open_postgres_store(dsn) as b:
            cid = await new_channel(a)

            async def append(store: Store, n: int, results: list[AppendResult]) -> None:
                results.append(await store.append(draft(cid, n, message_id=f"race-{n}")))

            for n in range(20):
                results: list[AppendResult] = []
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(append, a, n, results)
                    nursery.start_soon(append, b, n, results)
                assert sorted(r.duplicate for r in results) == [False, True]
                assert results[0].message == results[1].message
                assert results[0].message.seq == n + 1


async def test_postgres_claims_tell_instances_without_a_broker_apart(
    postgres_server: PostgresServer,
) -> None:
    """Instances sharing a broker share the claim; one without a broker conflicts
    with any other, whichever starts first; a closed store's claim is gone."""
    async with aio.open_aio_loop():
        dsn = await migrated_database(postgres_server)
        async with open_postgres_store(dsn) as a, open_postgres_store(dsn) as b:
            assert await a.claim(alone=False)
            assert await b.claim(alone=False)
            async with open_postgres_store(dsn) as lone:
                assert not await lone.claim(alone=True)
        async with open_postgres_store(dsn) as lone, open_postgres_store(dsn) as c:
            assert await lone.claim(alone=True)  # a and b closed: their claims went
            assert not await c.claim(alone=False)
        async with open_postgres_store(dsn) as d:
            assert await d.claim(alone=True)


async def test_a_queue_for_pooled_connections_is_not_postgres_stalling(
    postgres_server: PostgresServer,
) -> None:
    """A storm of calls (joins after a restart, say) queues for the pool longer than
    one call's deadline: each waits its turn and is answered; the store never
    counts itself as not answering."""
    async with aio.open_aio_loop():
        dsn = await migrated_database(postgres_server)
        async with open_postgres_store(dsn, min_size=1, max_size=2) as store:
            answers: list[int] = []

            async def slow_call() -> None:
                # a call that PostgreSQL answers in 0.5 s: 16 of them on 2
                # connections take 4 s, twice the 2 s deadline of one call
                answers.append(
                    await store._call(lambda c: c.fetchval("SELECT 7 FROM pg_sleep(0.5)"))
                )

            async with trio.open_nursery() as nursery:
                for _ in range(16):
                    nursery.start_soon(slow_call)
            assert answers == [7] * 16
            await store.ping()  # still answering: not refused at once
            assert await store.get_channel(await new_channel(store)) is not None


async def test_two_instances_appending_across_the_same_channels_never_deadlock(
    postgres_server: PostgresServer,
) -> None:
    """Batches spanning several channels, from two instances at once and in
    opposite orders, 20 rounds: every append is stored (no deadlock: each batch is
    one statement that locks the channels' rows in id order first), and every
    channel's seqs run 1..n with no gap."""
    async with aio.open_aio_loop():
        dsn = await migrated_database(postgres_server)
        async with open_postgres_store(dsn) as a, open_postgres_store(dsn) as b:
            cids = [await new_channel(a, f"c{i}") for i in range(5)]
            results: list[AppendResult] = []

            async def append(store: Store, cid: str, n: int) -> None:
                results.append(await store.append(draft(cid, n)))

            for n in range(20):
                async with trio.open_nursery() as nursery:
                    for cid in cids:
                        nursery.start_soon(append, a, cid, 2 * n)
                    for cid in reversed(cids):
                        nursery.start_soon(append, b, cid, 2 * n + 1)
            assert len(results) == 200 and not any(r.duplicate for r in results)
            for cid in cids:
                seqs = sorted(r.message.seq for r in results if r.message.channel_id == cid)
                assert seqs == list(range(1, 41))
                assert (await a.get_channel(cid)).last_seq == 40  # type: ignore[union-attr]


async def test_a_store_call_arms_one_asyncio_timer_at_most(
    postgres_server: PostgresServer,
) -> None:
    """Each asyncio timer costs trio-asyncio's loop a queued handle, a heap push and a
    pop: a call arms its deadline, not a pool's timed acquire (a task and a timer),
    a release budget or a `command_timeout` per statement."""
    async with aio.open_aio_loop():
        dsn = await migrated_database(postgres_server)
        async with open_postgres_store(dsn) as store:
            cid = await new_channel(store)
            await store.ping()  # the connections used below are open (connecting
            await store.append(draft(cid, 99))  # arms a timer of its own)
            with counted_timers() as timers:
                for n in range(20):
                    await store.ping()
                    await store.append(draft(cid, n))
            assert 0 < timers[0] <= 40


async def test_a_connection_outlives_errors_but_not_a_call_cut_off(
    postgres_server: PostgresServer,
) -> None:
    """The store keeps its connections itself (`pg_pool`): after PostgreSQL's own
    error, or the caller's, the next call runs on the same session; a call cut off
    by its deadline (a statement may still be running) loses its connection, and
    the next one connects anew; so does a call after PostgreSQL ended the session
    of an idle connection (at most one call fails on finding it gone)."""
    async with aio.open_aio_loop():
        dsn = await migrated_database(postgres_server)
        async with open_postgres_store(dsn, min_size=1, max_size=1) as store:

            async def backend() -> int:
                return await store._call(lambda c: c.fetchval("SELECT pg_backend_pid()"))

            async def caller_fails(c: asyncpg.Connection) -> None:
                await c.fetchval("SELECT 1")
                raise LookupError("the caller's own")

            first = await backend()
            with pytest.raises(StoreUnavailable, match="syntax"):
                await store._call(lambda c: c.execute("SELEC 1"))
            with pytest.raises(LookupError):
                await store._call(caller_fails)
            assert await backend() == first

            cut = await aio.run(_cut_off, store._conns)
            assert cut.is_closed()
            second = await backend()
            assert second != first

            async with open_postgres_store(dsn, min_size=1, max_size=1) as other:
                await other._call(lambda c: c.execute(f"SELECT pg_terminate_backend({second})"))
            answers = []
            for _ in range(2):
                with contextlib.suppress(StoreUnavailable):
                    answers.append(await backend())
            assert answers and second not in answers


async def test_a_call_whose_protocol_fell_out_of_step_loses_its_connection(
    postgres_server: PostgresServer,
) -> None:
    """asyncpg's InternalClientError (its protocol out of step: seen when the next
    call meets a session PostgreSQL has just ended) is the store being unavailable
    for that call, and its connection is not used again."""
    async with aio.open_aio_loop():
        dsn = await migrated_database(postgres_server)
        async with open_postgres_store(dsn, min_size=1, max_size=1) as store:

            async def out_of_step(c: asyncpg.Connection) -> None:
                await c.fetchval("SELECT 1")
                raise asyncpg.InternalClientError("cannot switch to state 12")

            first = await store._call(lambda c: c.fetchval("SELECT pg_backend_pid()"))
            with pytest.raises(StoreUnavailable, match="state 12"):
                await store._call(out_of_step)
            assert await store._call(lambda c: c.fetchval("SELECT pg_backend_pid()")) != first


async def _cut_off(conns: Connections) -> asyncpg.Connection:
    """(asyncio) A call on one of `conns` whose deadline passes mid-statement."""
    conn = await conns.take()
    error: BaseException | None = None
    try:
        async with asyncio.timeout(0.2):
            await conn.execute("SELECT pg_sleep(5)")
    except TimeoutError as exc:
        error = exc
    conns.give(conn, error)
    return conn
