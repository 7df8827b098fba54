"""One suite, run against every Store implementation (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
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
Release = Callable[[], Awaitable[None]]


@dataclass
class Backend:
    """One kind of store: how to open it (again and again: the same data) and how
    to hold its writes up from outside (another connection holding the write lock:
    SQLite's database lock, PostgreSQL's lock on the channel's row), so that writes
    can be caught queued or in flight."""

    kind: str
    open: Callable[[], AbstractAsyncContextManager[Store]]
    hold: Callable[[str], Awaitable[Release]]


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield Backend(
            "sqlite", partial(open_sqlite_store, tmp_path), partial(hold_sqlite, tmp_path)
        )
        return
    pg: PostgresServer = request.getfixturevalue("postgres_server")
    async with aio.open_aio_loop():
        dsn = await migrated_database(pg)
        yield Backend("postgres", partial(open_postgres_store, dsn), partial(hold_postgres, dsn))


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    async with backend.open() as s:
        yield s


async def hold_sqlite(data_dir: Path, channel_id: str) -> Release:
    conn = sqlite3.connect(data_dir / "trichat.db", isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")  # the writer's BEGIN IMMEDIATE waits (busy_timeout)

    async def release() -> None:
        conn.execute("ROLLBACK")
        conn.close()

    return release


async def hold_postgres(dsn: str, channel_id: str) -> Release:
    """Lock the channel's row: appends to it (they raise its last_seq) and writes of
    rows referring to it (members, bans: their foreign key) wait."""

    async def lock() -> tuple[asyncpg.Connection, Any]:
        conn = await asyncpg.connect(dsn)
        tx = conn.transaction()
        await tx.start()
        await conn.execute("SELECT 1 FROM channels WHERE id = $1 FOR UPDATE", channel_id)
        return conn, tx

    conn, tx = await aio.run(lock)

    async def unlock() -> None:
        await tx.rollback()
        await conn.close()

    return partial(aio.run, unlock)


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


# ---- every method of the Store protocol, on both stores ---------------------------


async def test_ping_answers_and_a_lone_instance_may_claim_its_store(store: Store) -> None:
    assert store.name in ("sqlite", "postgres")
    await store.ping()
    assert await store.claim(alone=True)  # no other instance on this store


async def test_channels_are_found_by_id_and_by_name(store: Store) -> None:
    cid = await new_channel(store, "found")
    by_id, by_name = await store.get_channel(cid), await store.find_channel_by_name("found")
    assert by_id is not None and by_id == by_name
    assert (by_id.name, by_id.channel_type, by_id.is_active, by_id.last_seq) == (
        "found",
        "public",
        True,
        0,
    )
    assert await store.get_channel(str(uuid.uuid4())) is None
    assert await store.find_channel_by_name("missing") is None


async def test_update_channel_changes_what_it_names(store: Store) -> None:
    cid = await new_channel(store, "before")
    await new_channel(store, "taken")
    changes: dict[str, object] = {"name": "after", "description": "d", "max_participants": 5}
    updated = await store.update_channel(cid, changes, now=50)
    assert updated is not None
    assert (updated.name, updated.description, updated.max_participants) == ("after", "d", 5)
    assert (updated.created_at, updated.updated_at, updated.is_active) == (1, 50, True)
    assert await store.get_channel(cid) == updated
    closed = await store.update_channel(cid, {"is_active": False}, now=60)
    assert closed is not None and not closed.is_active and closed.name == "after"
    assert await store.update_channel(cid, {}, now=70) == closed  # nothing to change
    assert await store.update_channel(str(uuid.uuid4()), {"description": "x"}, now=80) is None
    with pytest.raises(Conflict, match="'taken' exists already"):
        await store.update_channel(cid, {"name": "taken"}, now=90)
    assert await store.find_channel_by_name("after") == closed


async def test_list_channels_pages_and_filters(store: Store) -> None:
    ids = sorted([await new_channel(store, f"p{n}") for n in range(5)])  # same created_at
    mine = str(uuid.uuid4())
    await store.create_channel(
        channel_id=mine,
        name="mine",
        description="",
        channel_type="private",
        max_participants=None,
        created_by="x",
        now=9,
    )
    page, total = await store.list_channels(
        user_id="x", see_all=False, channel_type=None, limit=2, offset=1
    )
    assert [c.id for c in page] == ids[1:3] and total == 6  # its creator sees `mine`
    page, total = await store.list_channels(
        user_id="x", see_all=False, channel_type="private", limit=10, offset=0
    )
    assert [c.id for c in page] == [mine] and total == 1
    page, total = await store.list_channels(
        user_id="y", see_all=False, channel_type=None, limit=10, offset=4
    )
    assert [c.id for c in page] == [ids[4]] and total == 5


async def test_get_message_and_deleting_twice(store: Store) -> None:
    cid = await new_channel(store)
    stored = (await store.append(draft(cid, 1))).message
    assert await store.get_message(cid, 1) == stored
    assert await store.get_message(cid, 2) is None
    assert await store.delete_message(cid, 1, now=5) == stored  # as it was
    assert (await store.get_message(cid, 1)) == replace(stored, deleted=True)
    again = await store.delete_message(cid, 1, now=6)
    assert again is not None and again.deleted
    assert await store.delete_message(cid, 7, now=7) is None
    assert await store.messages(cid, limit=10) == []
    assert await store.messages(cid, before=2, limit=10, include_deleted=True) == [again]


async def test_membership_comes_and_goes(store: Store) -> None:
    cid = await new_channel(store)
    assert not await store.is_member(cid, "x")
    await store.set_member(cid, "x", True, "owner", 2)
    await store.set_member(cid, "x", True, "owner", 3)  # twice: still one membership
    assert await store.is_member(cid, "x")
    await store.set_member(cid, "x", False, "owner", 4)
    assert not await store.is_member(cid, "x")
    assert not await store.delete_ban(cid, "x", "admin", 5)  # no ban to lift


async def test_the_moderation_log_is_newest_first_per_channel(store: Store) -> None:
    a, b = await new_channel(store, "a"), await new_channel(store, "b")
    for n in range(3):
        await store.log_moderation(a, "admin", "ban", f"user{n}", f"detail {n}", 10 + n)
    await store.log_moderation(b, "admin", "kick", "other", "", 20)
    log = await store.moderation_log(a, 2)
    assert log == [
        {
            "actor": "admin",
            "action": "ban",
            "target": "user2",
            "detail": "detail 2",
            "created_at": 12,
        },
        {
            "actor": "admin",
            "action": "ban",
            "target": "user1",
            "detail": "detail 1",
            "created_at": 11,
        },
    ]
    assert [e["target"] for e in await store.moderation_log(b, 10)] == ["other"]


async def test_pending_writes_counts_writes_until_they_are_answered(backend: Backend) -> None:
    """Writes queued or being committed, and not yet answered; never reads."""
    async with backend.open() as store:
        cid = await new_channel(store)
        assert store.pending_writes == 0
        release = await backend.hold(cid)
        async with trio.open_nursery() as nursery:
            for n in range(3):
                nursery.start_soon(store.append, draft(cid, n))
            nursery.start_soon(store.set_member, cid, "x", True, "owner", 2)
            nursery.start_soon(store.put_ban, Ban(cid, "b", "spam", "admin", 2, None))
            await trio.testing.wait_all_tasks_blocked()
            assert store.pending_writes == 5
            assert (await store.get_channel(cid)) is not None  # a read passes, uncounted
            assert store.pending_writes == 5
            await release()
        assert store.pending_writes == 0
        assert [m.seq for m in await store.messages(cid, after=0, limit=10)] == [1, 2, 3]
        assert await store.is_member(cid, "x") and await store.get_ban(cid, "b", 3)


async def test_shutdown_answers_every_queued_write_then_closes(backend: Backend) -> None:
    """Leaving the store's block with writes queued behind a held write lock: each
    is committed and answered, then the store is closed and refuses writes."""
    answers: list[AppendResult] = []

    async def append(store: Store, n: int) -> None:
        answers.append(await store.append(draft(cid, n)))

    async def release_once_closing(release: Release) -> None:
        await trio.testing.wait_all_tasks_blocked()  # the block's end is waiting
        await release()

    async with trio.open_nursery() as nursery:
        async with backend.open() as store:
            cid = await new_channel(store)
            release = await backend.hold(cid)
            for n in range(5):
                nursery.start_soon(append, store, n)
            await trio.testing.wait_all_tasks_blocked()
            assert store.pending_writes == 5
            nursery.start_soon(release_once_closing, release)
        assert store.pending_writes == 0
    assert sorted(a.message.seq for a in answers) == [1, 2, 3, 4, 5]
    with pytest.raises(StoreUnavailable):
        await store.append(draft(cid, 6))
    async with backend.open() as store:  # and every one of them is stored
        assert [m.seq for m in await store.messages(cid, after=0, limit=10)] == [1, 2, 3, 4, 5]


def test_this_suite_calls_every_method_of_the_store_protocol() -> None:
    """A guard for the next method (issue 16's events): it needs a test here."""
    members = {n for n in vars(Store) if not n.startswith("_")} | set(Store.__annotations__)
    source = Path(__file__).read_text()
    assert members and {m for m in members if f"store.{m}" not in source} == set()
