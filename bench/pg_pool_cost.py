"""What a PostgreSQL store call costs the trio thread, by how it gets its connection
(docs/performance.md, "Performance VI").

    taskset -c 1 .venv/bin/python bench/pg_pool_cost.py [--pg DSN] [-n 2000]

CPU time of this thread per `SELECT 1` (`time.thread_time`: PostgreSQL's own work
does not count), one `aio.run` crossing each, in one trio run with one trio-asyncio
loop: through `asyncpg.Pool` as the store used it (acquire, the call under one
deadline, release with a budget), through the store's own connections
(`store.pg_pool.Connections`: take, the call, give), and the whole `PostgresStore.ping`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg
import trio
from ops import per_op, print_rows

from trichat import aio
from trichat.store.pg_pool import Connections
from trichat.store.postgres import open_postgres_store

WAIT = 10.0


async def cpu_per_op(n: int, fn: Callable[[], Awaitable[object]]) -> float:
    return await per_op(n, fn, clock=time.thread_time)


async def _asyncpg_pool(args: argparse.Namespace) -> float:
    pool = await aio.run(
        lambda: asyncpg.create_pool(args.pg, min_size=2, max_size=10,
                                    max_inactive_connection_lifetime=0)
    )  # fmt: skip

    async def call() -> object:
        async with asyncio.timeout(WAIT):
            conn = await pool.acquire()
            try:
                return await conn.fetchval("SELECT 1")
            finally:
                await pool.release(conn, timeout=WAIT)

    try:
        return await cpu_per_op(args.n, lambda: aio.run(call))
    finally:
        await aio.run(pool.close)


async def _connections(args: argparse.Namespace) -> float:
    conns = Connections(args.pg, 10)

    async def call() -> object:
        conn, error = None, None
        try:
            async with asyncio.timeout(WAIT):
                conn = await conns.take()
                return await conn.fetchval("SELECT 1")
        except BaseException as exc:
            error = exc
            raise
        finally:
            if conn is not None:
                conns.give(conn, error)

    try:
        return await cpu_per_op(args.n, lambda: aio.run(call))
    finally:
        await aio.run(conns.close, WAIT)


async def main(args: argparse.Namespace) -> None:
    rows: list[tuple[str, float]] = []
    async with aio.open_aio_loop():

        async def noop() -> None:
            return None

        rows.append(("empty crossing", await cpu_per_op(args.n, lambda: aio.run(noop))))
        rows.append(("SELECT 1 through asyncpg.Pool", await _asyncpg_pool(args)))
        rows.append(("SELECT 1 through Connections", await _connections(args)))
        async with open_postgres_store(args.pg) as store:
            rows.append(("PostgresStore.ping (the whole call)",
                         await cpu_per_op(args.n, store.ping)))  # fmt: skip
    print_rows(rows, "µs CPU/op")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("-n", type=int, default=2000)
    trio.run(main, parser.parse_args())
