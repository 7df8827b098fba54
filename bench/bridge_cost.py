"""What a crossing of the trio/asyncio bridge costs (docs/performance.md).

    .venv/bin/python bench/bridge_cost.py [--redis URL] [--pg DSN] [-n 2000]

Measures, in one trio run with one trio-asyncio loop: an empty crossing; a Redis
PING per crossing vs 100 PINGs in one pipelined crossing; the Redis broker's rate
limit script; a PostgreSQL `SELECT 1` through the pool; and a message published by
one Redis broker until another one's bridge has it. Wall time per operation.
"""

from __future__ import annotations

import argparse
import statistics
import time

import asyncpg
import redis.asyncio as aioredis
import trio
from ops import per_op, print_rows

from trichat import aio
from trichat.broker.base import MESSAGE, Event
from trichat.broker.redis import open_redis


async def _redis_rows(args: argparse.Namespace, rows: list[tuple[str, float]]) -> None:
    n = args.n
    client = aioredis.Redis.from_url(args.redis)
    rows.append(("redis PING, one crossing each", await per_op(n, lambda: aio.run(client.ping))))

    async def hundred_pings() -> None:
        async with client.pipeline(transaction=False) as pipe:
            for _ in range(100):
                pipe.ping()
            await pipe.execute()

    rows.append(
        ("redis PING, 100 per crossing (pipeline)",
         await per_op(n // 100 or 1, lambda: aio.run(hundred_pings), batch=100))
    )  # fmt: skip
    await aio.run(client.aclose)


async def _broker_rows(args: argparse.Namespace, rows: list[tuple[str, float]]) -> None:
    async with (
        open_redis(args.redis, prefix="bridge-cost:") as redis_a,
        open_redis(args.redis, prefix="bridge-cost:") as redis_b,
    ):
        a, b = redis_a.broker, redis_b.broker
        redis_a.conveyor.every = 0.0  # one tick per spend, not one per 8 ms
        rows.append(
            ("rate limiter spend (Lua token bucket)",
             await per_op(args.n, lambda: redis_a.limits.spend("bench", 10**9, 60.0)))
        )  # fmt: skip
        await b.subscribe("bench")
        events = b.events()
        latencies = []
        for seq in range(1, min(args.n, 1000) + 1):
            started = time.perf_counter()
            await a.publish(Event(MESSAGE, "bench", seq, b"{}"))
            await anext(events)
            latencies.append((time.perf_counter() - started) * 1e6)
        await events.aclose()  # type: ignore[attr-defined]
        rows.append(("publish → other instance's bridge (median)", statistics.median(latencies)))


async def _postgres_rows(args: argparse.Namespace, rows: list[tuple[str, float]]) -> None:
    pool = await aio.run(asyncpg.create_pool, args.pg)

    async def select_one() -> None:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    rows.append(
        ("postgres SELECT 1 via the pool, one crossing",
         await per_op(args.n, lambda: aio.run(select_one)))
    )  # fmt: skip
    await aio.run(pool.close)


async def main(args: argparse.Namespace) -> None:
    rows: list[tuple[str, float]] = []
    async with aio.open_aio_loop():

        async def noop() -> None:
            return None

        crossing = await per_op(args.n, lambda: aio.run(noop))
        rows.append(("empty crossing (aio.run of a no-op)", crossing))
        await _redis_rows(args, rows)
        await _broker_rows(args, rows)
        await _postgres_rows(args, rows)
    print_rows(rows, "µs/op")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("-n", type=int, default=2000)
    trio.run(main, parser.parse_args())
