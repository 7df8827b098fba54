"""What the same work costs after the process has been idle: CPU of one trio wake-up
from a sleep, and of one store append, with GAP seconds of nothing between them.

    taskset -c 1 .venv/bin/python bench/idle_gap.py [--pg DSN] [-n 300] [GAP ...]

On this VM a wake-up after 1 ms costs ~90 µs and after 30 ms ~320; an append on
PostgreSQL ~350 µs back to back and ~960 after 30 ms: at low message rates every
step of a message is paid cold (docs/performance.md, "Performance VII"). SQLite by
default (a temporary file, synchronous=full); with --pg, an empty database.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from trichat import aio
from trichat.models import MessageDraft
from trichat.store.base import Store


async def wake_cost(gap: float, n: int) -> float:
    """µs of CPU per `trio.sleep(gap)` and its wake-up."""
    cpu = time.process_time()
    for _ in range(n):
        await trio.sleep(gap)
    return (time.process_time() - cpu) / n * 1e6


async def append_cost(store: Store, gap: float, n: int) -> float:
    """µs of CPU per append (the sleep before it not counted)."""
    cid = str(uuid.uuid4())
    await store.create_channel(
        channel_id=cid, name=f"g{cid[:8]}", description="", channel_type="public",
        max_participants=None, created_by="bench", now=0,
    )  # fmt: skip
    busy = 0.0
    for k in range(n + 20):  # the first 20 warm up
        await trio.sleep(gap)
        cpu = time.process_time()
        await store.append(MessageDraft(cid, f"m{k}", "u", "u", None, None, "x" * 40, "user", k))
        if k >= 20:
            busy += time.process_time() - cpu
    return busy / n * 1e6


@asynccontextmanager
async def open_store(pg: str | None) -> AsyncIterator[Store]:
    if pg:
        from trichat.store.pg_migrate import default_directory, migrate_up
        from trichat.store.postgres import open_postgres_store

        await aio.run(migrate_up, pg, default_directory())
        async with open_postgres_store(pg) as store:
            yield store
        return
    from trichat.store.sqlite import SqliteStore

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db", "full")
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run_writer)
            yield store
            nursery.cancel_scope.cancel()
        store.close()


async def main(args: argparse.Namespace) -> None:
    async with aio.open_aio_loop(), open_store(args.pg) as store:
        print(f"store: {store.name}; µs of CPU each, {args.n} of each")
        for gap in args.gaps:
            wake = await wake_cost(gap, args.n)
            append = await append_cost(store, gap, args.n)
            print(f"gap {gap * 1000:5.1f} ms: wake-up {wake:5.0f} µs, append {append:5.0f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", help="a PostgreSQL DSN (an empty database)")
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("gaps", nargs="*", type=float, default=[0.0, 0.001, 0.01, 0.03])
    trio.run(main, parser.parse_args())
