"""One suite, run against every Store implementation (SQLite and PostgreSQL): every
method of the `Store` protocol, on both."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing

from tests.component.stores import (
    Backend,
    Release,
    banned,
    draft,
    hold_postgres,
    hold_sqlite,
    migrated_database,
    new_channel,
)
from tests.helpers.pg import PostgresServer
from trichat import aio
from trichat.errors import Conflict, StoreUnavailable
from trichat.models import EV_DELETE, AppendResult, Ban, Change, LogRefused
from trichat.store.base import Store
from trichat.store.postgres import open_postgres_store
from trichat.store.sqlite import open_sqlite_store


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


async def test_append_soon_answers_in_order_once_durable(store: Store) -> None:
    cid = await new_channel(store)
    answers: list[AppendResult | BaseException] = []
    all_in = trio.Event()

    def done(outcome: AppendResult | BaseException) -> None:
        answers.append(outcome)
        if len(answers) == 4:
            all_in.set()

    for n in (1, 2, 3):
        await store.append_soon(draft(cid, n), done)
    await store.append_soon(draft(cid, 2), done)  # its message_id again: a repeat
    with trio.fail_after(10):
        await all_in.wait()
    assert [(a.message.seq, a.duplicate) for a in answers] == [  # type: ignore[union-attr]
        (1, False),
        (2, False),
        (3, False),
        (2, True),
    ]
    # answered means stored: a read sees them all
    assert [m.seq for m in await store.messages(cid, limit=10)] == [1, 2, 3]
    missing = draft(str(uuid.uuid4()), 9)  # no such channel: answered with the error
    failed = trio.Event()
    got: list[AppendResult | BaseException] = []
    await store.append_soon(missing, lambda o: (got.append(o), failed.set()))
    with trio.fail_after(10):
        await failed.wait()
    assert isinstance(got[0], Exception) and not isinstance(got[0], AppendResult)


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
        deleted = await store.change(Change(cid, EV_DELETE, 4, "d4", "u", 5))
        assert deleted.event is not None and deleted.event.target_seq == 4
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
    await store.change(Change(cid, EV_DELETE, 1, "d1", "u", 5))
    gone = replace(stored, deleted=True, content="")  # its text erased
    assert await store.get_message(cid, 1) == gone
    with pytest.raises(LogRefused):  # twice: not found
        await store.change(Change(cid, EV_DELETE, 1, "d2", "u", 6))
    assert await store.messages(cid, limit=10) == []
    assert await store.messages(cid, before=2, limit=10, include_deleted=True) == [gone]


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
        assert await store.is_member(cid, "x") and await banned(store, cid, "b", 3)


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
    """A guard for the next method: it needs a test here or in the log's suite
    (`test_store_log.py`, the same two stores)."""
    members = {n for n in vars(Store) if not n.startswith("_")} | set(Store.__annotations__)
    here = Path(__file__)
    source = here.read_text() + "".join(
        here.with_name(f"test_store_{name}.py").read_text() for name in ("log", "reads")
    )
    assert members and {m for m in members if f"store.{m}" not in source} == set()
