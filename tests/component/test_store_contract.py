"""One suite, run against every Store implementation (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing

from tests.helpers.pg import PostgresServer
from trichat import aio
from trichat.errors import Conflict, StoreUnavailable
from trichat.models import AppendResult, Ban, MessageDraft
from trichat.store.base import Store
from trichat.store.pg_migrate import default_directory, migrate_up
from trichat.store.postgres import open_postgres_store
from trichat.store.sqlite import SqliteStore, open_sqlite_store

_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        async with open_sqlite_store(tmp_path) as s:
            yield s
        return
    pg: PostgresServer = request.getfixturevalue("postgres_server")
    async with aio.open_aio_loop(), open_postgres_store(await migrated_database(pg)) as s:
        yield s


async def migrated_database(pg: PostgresServer) -> str:
    """A new database on `pg`, migrated (inside `aio.open_aio_loop()`); its DSN."""
    name = f"contract_{next(_databases)}"
    await trio.to_thread.run_sync(pg.psql, f"CREATE DATABASE {name}")
    await aio.run(migrate_up, pg.dsn(name), default_directory())
    return pg.dsn(name)


def draft(channel_id: str, n: int, user: str = "u", message_id: str | None = None) -> MessageDraft:
    return MessageDraft(
        channel_id, message_id or f"m{n}", user, user, None, None, f"text {n}", "user", 1000 + n
    )


async def new_channel(store: Store, name: str = "c") -> str:
    cid = str(uuid.uuid4())
    await store.create_channel(
        channel_id=cid,
        name=name,
        description="",
        channel_type="public",
        max_participants=None,
        created_by="u",
        now=1,
    )
    return cid


async def test_concurrent_appends_are_gap_free(store: Store) -> None:
    if True:  # (one body for every store)
        cid = await new_channel(store)
        results = []

        async def append(n: int) -> None:
            results.append(await store.append(draft(cid, n, user=f"u{n % 7}")))

        async with trio.open_nursery() as nursery:
            for n in range(300):
                nursery.start_soon(append, n)
        seqs = sorted(r.message.seq for r in results)
        assert seqs == list(range(1, 301))
        assert (await store.get_channel(cid)).last_seq == 300  # type: ignore[union-attr]


async def test_last_seqs_reads_many_channels_at_once(store: Store) -> None:
    a, b = await new_channel(store, "a"), await new_channel(store, "b")
    for n in range(3):
        await store.append(draft(a, n))
    unknown = str(uuid.uuid4())
    assert await store.last_seqs([a, b, unknown]) == {a: 3, b: 0}
    assert await store.last_seqs([]) == {}


async def test_presence_history_keeps_the_latest_sighting(store: Store) -> None:
    cid = await new_channel(store)
    await store.record_seen(cid, "alice", "Alice", 100)
    await store.record_seen(cid, "bob", "Bob", 200)
    await store.record_seen(cid, "alice", "Alice B.", 300)
    await store.record_seen(cid, "bob", "Bob", 150)  # an older report changes nothing
    seen = await store.recently_seen(cid, 10)
    assert [(p.user_id, p.username, p.last_seen) for p in seen] == [
        ("alice", "Alice B.", 300),
        ("bob", "Bob", 200),
    ]
    assert [p.user_id for p in await store.recently_seen(cid, 1)] == ["alice"]


async def test_dedupe_returns_the_first(store: Store) -> None:
    if True:  # (one body for every store)
        cid = await new_channel(store)
        first = await store.append(draft(cid, 1, message_id="same"))
        again = await store.append(draft(cid, 2, message_id="same"))
        other_user = await store.append(draft(cid, 3, user="v", message_id="same"))
        assert not first.duplicate and again.duplicate
        assert again.message == first.message
        assert other_user.message.seq == 2


async def test_paging_before_after_and_deleted(store: Store) -> None:
    if True:  # (one body for every store)
        cid = await new_channel(store)
        for n in range(10):
            await store.append(draft(cid, n))
        assert [m.seq for m in await store.messages(cid, limit=3)] == [8, 9, 10]
        assert [m.seq for m in await store.messages(cid, before=8, limit=3)] == [5, 6, 7]
        assert [m.seq for m in await store.messages(cid, after=2, limit=3)] == [3, 4, 5]
        deleted = await store.delete_message(cid, 4, now=5)
        assert deleted is not None and deleted.seq == 4
        assert [m.seq for m in await store.messages(cid, after=2, limit=3)] == [3, 5, 6]
        with_deleted = await store.messages(cid, after=3, limit=1, include_deleted=True)
        assert with_deleted[0].seq == 4 and with_deleted[0].deleted


async def test_append_to_unknown_channel_fails_alone(store: Store) -> None:
    if True:  # (one body for every store)
        cid = await new_channel(store)
        outcomes: dict[str, object] = {}

        async def bad() -> None:
            try:
                await store.append(draft(str(uuid.uuid4()), 1))
            except LookupError as exc:
                outcomes["bad"] = exc

        async def good() -> None:
            outcomes["good"] = await store.append(draft(cid, 1))

        async with trio.open_nursery() as nursery:  # likely one batch: one job fails
            nursery.start_soon(bad)
            nursery.start_soon(good)
        assert isinstance(outcomes["bad"], LookupError)
        assert outcomes["good"].message.seq == 1  # type: ignore[attr-defined]


async def test_channel_names_unique_and_listing(store: Store) -> None:
    if True:  # (one body for every store)
        pub = await new_channel(store, "pub")
        with pytest.raises(Conflict):
            await new_channel(store, "pub")
        priv = str(uuid.uuid4())
        await store.create_channel(
            channel_id=priv,
            name="priv",
            description="",
            channel_type="private",
            max_participants=None,
            created_by="owner",
            now=2,
        )
        seen, total = await store.list_channels(
            user_id="x", see_all=False, channel_type=None, limit=10, offset=0
        )
        assert [c.id for c in seen] == [pub] and total == 1
        await store.set_member(priv, "x", True, "owner", 3)
        seen, total = await store.list_channels(
            user_id="x", see_all=False, channel_type=None, limit=10, offset=0
        )
        assert total == 2 and await store.is_member(priv, "x")
        _, total = await store.list_channels(
            user_id="y", see_all=True, channel_type="private", limit=10, offset=0
        )
        assert total == 1


async def test_bans_expire(store: Store) -> None:
    if True:  # (one body for every store)
        cid = await new_channel(store)
        await store.put_ban(Ban(cid, "m", "spam", "admin", 100, expires_at=200))
        assert (await store.get_ban(cid, "m", 150)) is not None
        assert (await store.get_ban(cid, "m", 200)) is None
        await store.put_ban(Ban(cid, "m", "again", "admin", 300, expires_at=None))
        assert (await store.get_ban(cid, "m", 10**12)) is not None
        assert await store.delete_ban(cid, "m", "admin", 400)
        assert (await store.get_ban(cid, "m", 500)) is None


async def test_concurrent_appends_share_transactions(store: Store) -> None:
    """Group commit: appends waiting together go into one transaction (one commit)."""
    channels = [await new_channel(store, name=f"g{i}") for i in range(5)]
    batches: list[int] = []
    store.observe_batch = batches.append
    async with trio.open_nursery() as nursery:
        for n in range(200):
            nursery.start_soon(store.append, draft(channels[n % 5], n, user=f"u{n % 7}"))
    assert sum(batches) == 200
    assert len(batches) < 100 and max(batches) > 1  # many appends shared a commit
    for cid in channels:
        stored = await store.messages(cid, after=0, limit=100)
        assert [m.seq for m in stored] == list(range(1, 41))


async def test_data_survives_reopen(tmp_path: Path) -> None:
    async with open_sqlite_store(tmp_path) as store:
        cid = await new_channel(store)
        await store.append(draft(cid, 1))
    async with open_sqlite_store(tmp_path) as store:
        assert (await store.get_channel(cid)).last_seq == 1  # type: ignore[union-attr]
        assert (await store.append(draft(cid, 2))).message.seq == 2


async def one_sqlite_batch(
    store: SqliteStore, *calls: Callable[[], Awaitable[object]]
) -> list[object]:
    """Run `calls` (store operations) so that they land in one writer batch, queued
    in order; their results or exceptions, in order."""
    holding, release = threading.Event(), threading.Event()

    def hold(c: sqlite3.Connection) -> None:  # keeps the writer in the batch before
        holding.set()
        release.wait(10)

    outcomes: dict[int, object] = {}

    async def run(i: int, call: Callable[[], Awaitable[object]]) -> None:
        try:
            outcomes[i] = await call()
        except Exception as exc:
            outcomes[i] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(store._write, hold)
        await trio.to_thread.run_sync(holding.wait)
        for i, call in enumerate(calls):
            nursery.start_soon(run, i, call)
            await trio.testing.wait_all_tasks_blocked()  # queued: the next one after it
        release.set()
    return [outcomes[i] for i in range(len(calls))]


async def test_a_sqlite_batch_that_fails_whole_leaves_no_gap_in_seqs(tmp_path: Path) -> None:
    """The writer numbers messages from its own memory of each channel's last seq;
    when a batch is rolled back, its appends must not have used up their seqs."""

    def disk_fails(c: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    async with open_sqlite_store(tmp_path) as store:
        cid = await new_channel(store)
        await store.append(draft(cid, 1))
        outcomes = await one_sqlite_batch(
            store,
            partial(store.append, draft(cid, 10)),
            partial(store.append, draft(cid, 11)),
            partial(store._write, disk_fails),
        )
        assert all(isinstance(o, StoreUnavailable) for o in outcomes)
        assert (await store.append(draft(cid, 3))).message.seq == 2
        assert [m.seq for m in await store.messages(cid, after=0, limit=10)] == [1, 2]
        assert (await store.get_channel(cid)).last_seq == 2  # type: ignore[union-attr]


async def test_a_sqlite_batch_with_a_duplicate_or_an_unknown_channel_sorts_them_out(
    tmp_path: Path,
) -> None:
    """Appends that share a batch each get their own answer: a duplicate of a stored
    message or of one earlier in the same batch, an unknown channel, and the
    messages around them, numbered gap-free."""
    async with open_sqlite_store(tmp_path) as store:
        a, b = await new_channel(store, "a"), await new_channel(store, "b")
        first = await store.append(draft(a, 1, message_id="stored"))
        clean = await one_sqlite_batch(
            store, *[partial(store.append, draft(cid, n)) for n in (2, 3) for cid in (a, b)]
        )
        assert [(r.message.channel_id, r.message.seq) for r in clean] == [  # type: ignore[attr-defined]
            (a, 2),
            (b, 1),
            (a, 3),
            (b, 2),
        ]
        new, dup = await one_sqlite_batch(  # a duplicate of a stored message
            store,
            partial(store.append, draft(a, 4)),
            partial(store.append, draft(a, 5, message_id="stored")),
        )
        assert isinstance(new, AppendResult) and new.message.seq == 4 and not new.duplicate
        assert isinstance(dup, AppendResult) and dup.duplicate and dup.message == first.message
        once, again = await one_sqlite_batch(  # the same message twice in one batch
            store,
            partial(store.append, draft(b, 7, message_id="twice")),
            partial(store.append, draft(b, 8, message_id="twice")),
        )
        assert isinstance(once, AppendResult) and once.message.seq == 3
        assert isinstance(again, AppendResult) and again.duplicate
        assert again.message == once.message
        unknown, known = await one_sqlite_batch(
            store,
            partial(store.append, draft(str(uuid.uuid4()), 6)),
            partial(store.append, draft(a, 9)),
        )
        assert isinstance(unknown, LookupError)
        assert isinstance(known, AppendResult) and known.message.seq == 5
        stored = await store.messages(b, after=0, limit=10)
        assert [m.seq for m in stored] == [1, 2, 3]
        assert (await store.get_channel(a)).last_seq == 5  # type: ignore[union-attr]
        assert (await store.get_channel(b)).last_seq == 3  # type: ignore[union-attr]


async def test_a_second_process_cannot_open_a_sqlite_store_in_use(tmp_path: Path) -> None:
    """The writer numbers messages from memory: two processes on one file would
    hand out the same seqs, so the second is refused."""
    async with open_sqlite_store(tmp_path) as store:
        cid = await new_channel(store)
        with pytest.raises(StoreUnavailable, match="another trichat process is using"):
            async with open_sqlite_store(tmp_path):
                pass
        assert (await store.append(draft(cid, 1))).message.seq == 1  # still working
    async with open_sqlite_store(tmp_path) as store:  # free again once closed
        assert (await store.append(draft(cid, 2))).message.seq == 2


async def test_synchronous_mode_is_applied(tmp_path: Path) -> None:
    for mode, expected in (("full", 2), ("normal", 1)):
        async with open_sqlite_store(tmp_path / mode, mode) as store:
            level = store._writer_conn.execute("PRAGMA synchronous").fetchone()[0]
            assert level == expected
            assert store._writer_conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0


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


async def test_sqlite_claims_always_succeed(tmp_path: Path) -> None:
    async with open_sqlite_store(tmp_path) as store:
        assert await store.claim(alone=True)  # the lock file is the guard there
