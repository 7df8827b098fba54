"""What only the SQLite store does: its writer's batches, its lock file, its files."""

from __future__ import annotations

import sqlite3
import uuid
from functools import partial
from pathlib import Path

import pytest

from tests.component.stores import draft, new_channel, one_sqlite_batch
from trichat.errors import StoreUnavailable
from trichat.models import AppendResult
from trichat.store.sqlite import open_sqlite_store


async def test_data_survives_reopen(tmp_path: Path) -> None:
    async with open_sqlite_store(tmp_path) as store:
        cid = await new_channel(store)
        await store.append(draft(cid, 1))
    async with open_sqlite_store(tmp_path) as store:
        assert (await store.get_channel(cid)).last_seq == 1  # type: ignore[union-attr]
        assert (await store.append(draft(cid, 2))).message.seq == 2


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


async def test_sqlite_claims_always_succeed(tmp_path: Path) -> None:
    async with open_sqlite_store(tmp_path) as store:
        assert await store.claim(alone=True)  # the lock file is the guard there
