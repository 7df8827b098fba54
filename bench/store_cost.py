"""What an append costs the server: CPU (all threads) and wall time per message
when many channels append at once, as in the many-channels scenario (S2).

    .venv/bin/python bench/store_cost.py [--pg DSN] [--sync full|normal] [-n 20000]

With --pg, the database is migrated first; give it an empty database.

Runs `--writers` concurrent appenders, each on its own channel, appending until `-n`
messages are stored; prints appends/s and process CPU µs per append.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import trio

from trichat import aio
from trichat.models import MessageDraft
from trichat.store.base import Store


async def drive(store: Store, writers: int, n: int) -> tuple[float, float]:
    channels = []
    for i in range(writers):
        cid = str(uuid.uuid4())
        await store.create_channel(
            channel_id=cid,
            name=f"c{i}",
            description="",
            channel_type="public",
            max_participants=None,
            created_by="bench",
            now=0,
        )
        channels.append(cid)
    per = n // writers

    async def writer(cid: str) -> None:
        for k in range(per):
            draft = MessageDraft(cid, f"m{k}", "u", "user", None, None, "x" * 40, "user", k)
            await store.append(draft)

    cpu, wall = time.process_time(), time.perf_counter()
    async with trio.open_nursery() as nursery:
        for cid in channels:
            nursery.start_soon(writer, cid)
    return time.process_time() - cpu, time.perf_counter() - wall


async def main(args: argparse.Namespace) -> None:
    n = args.n
    if args.pg:
        from trichat.store.pg_migrate import default_directory, migrate_up
        from trichat.store.postgres import open_postgres_store

        async with aio.open_aio_loop():
            await aio.run(migrate_up, args.pg, default_directory())
        async with aio.open_aio_loop(), open_postgres_store(args.pg) as store:
            cpu, wall = await drive(store, args.writers, n)
    else:
        from trichat.store.sqlite import SqliteStore

        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "bench.db", args.sync)
            async with trio.open_nursery() as nursery:
                await nursery.start(store.run_writer)
                cpu, wall = await drive(store, args.writers, n)
                nursery.cancel_scope.cancel()
            store.close()
    print(
        f"{store.name} {args.sync if not args.pg else ''}: {n / wall:,.0f} appends/s, "
        f"{cpu / n * 1e6:.0f} µs CPU per append ({args.writers} writers)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", help="a PostgreSQL DSN (default: SQLite in a temp folder)")
    parser.add_argument("--sync", default="full", choices=["full", "normal"])
    parser.add_argument("--writers", type=int, default=1000)
    parser.add_argument("-n", type=int, default=20000)
    trio.run(main, parser.parse_args())
