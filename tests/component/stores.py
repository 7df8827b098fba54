"""What the store suites share: making drafts and channels, a migrated PostgreSQL
database, holding a store's writes up from outside, one SQLite writer batch."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import trio
import trio.testing

from tests.helpers.pg import PostgresServer
from trichat import aio
from trichat.models import MessageDraft
from trichat.store.base import Store
from trichat.store.pg_migrate import default_directory, migrate_up
from trichat.store.sqlite import SqliteStore

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


async def banned(store: Store, cid: str, user: str, now: int) -> bool:
    """Is a ban on `user` in `cid` in force at `now` (as a join would see it)?"""
    admission = await store.admission(cid, user, now)
    assert admission is not None
    return admission.banned


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
