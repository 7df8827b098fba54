"""migrations/ against a real PostgreSQL: up, idempotent, concurrent, down."""

from __future__ import annotations

import itertools

import asyncpg
import trio

from tests.helpers.pg import PostgresServer
from trichat import aio
from trichat.store.pg_migrate import (
    current_version,
    default_directory,
    load,
    migrate_down,
    migrate_up,
)

_n = itertools.count()


async def _tables(dsn: str) -> set[str]:
    async def query() -> set[str]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
            return {r[0] for r in rows}
        finally:
            await conn.close()

    return await aio.run(query)


async def test_up_is_idempotent_and_safe_concurrently(postgres_server: PostgresServer) -> None:
    name = f"mig_{next(_n)}"
    await trio.to_thread.run_sync(postgres_server.psql, f"CREATE DATABASE {name}")
    dsn = postgres_server.dsn(name)
    latest = load(default_directory())[-1].version
    async with aio.open_aio_loop():
        results: list[list[int]] = []

        async def one() -> None:
            results.append(await aio.run(migrate_up, dsn, default_directory()))

        async with trio.open_nursery() as nursery:  # three instances starting at once
            for _ in range(3):
                nursery.start_soon(one)
        assert sorted(results, key=len) == [[], [], [m.version for m in load(default_directory())]]
        assert await aio.run(current_version, dsn) == latest
        assert await aio.run(migrate_up, dsn, default_directory()) == []
        assert {
            "channels",
            "messages",
            "members",
            "bans",
            "moderation_log",
            "presence",
            "reactions",
            "reaction_counts",
            "reads",
            "authors",
            "schema_migrations",
        } <= await _tables(dsn)


async def test_down_then_up(postgres_server: PostgresServer) -> None:
    name = f"mig_{next(_n)}"
    await trio.to_thread.run_sync(postgres_server.psql, f"CREATE DATABASE {name}")
    dsn = postgres_server.dsn(name)
    async with aio.open_aio_loop():
        await aio.run(migrate_up, dsn, default_directory())
        assert await aio.run(migrate_down, dsn, default_directory(), 1) == [4]
        assert await aio.run(current_version, dsn) == 3
        assert not {"reads", "authors"} & await _tables(dsn)
        assert await aio.run(migrate_down, dsn, default_directory(), 1) == [3]
        assert await aio.run(current_version, dsn) == 2
        assert not {"reactions", "reaction_counts"} & await _tables(dsn)
        assert await aio.run(migrate_down, dsn, default_directory(), 1) == [2]
        assert await aio.run(current_version, dsn) == 1
        assert "presence" not in await _tables(dsn)
        assert await aio.run(migrate_down, dsn, default_directory(), 5) == [1]
        assert await aio.run(current_version, dsn) == 0
        assert await _tables(dsn) == {"schema_migrations"}
        assert await aio.run(migrate_up, dsn, default_directory()) == [1, 2, 3, 4]
