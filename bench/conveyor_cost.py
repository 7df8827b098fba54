"""What a message's two Redis commands cost the trio thread: through redis-py under
trio-asyncio, and on the conveyor's trio stream (docs/performance.md, "Performance VI").

    taskset -c 1 .venv/bin/python bench/conveyor_cost.py [--redis URL] [-n 2000]

CPU time of this thread per operation (`time.thread_time`, so a slower Redis does not
count), in one trio run with one trio-asyncio loop: a pipeline of 7 PUBLISH (a
commit's worth at 800 msg/s) and a rate-limit script call over 6 buckets (one
paced call's worth), each as redis-py did them (one `aio.run` crossing each) and as
the conveyor does (packed bytes on a `RespConnection`); then one whole conveyor
tick of both, with the spends awaited by 6 tasks as senders' readers would.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable

import hiredis
import redis.asyncio as aioredis
import trio
from ops import per_op, print_rows

from trichat import aio
from trichat.broker import redis_lua
from trichat.broker.redis import open_redis
from trichat.broker.redis_resp import RespConnection

PUBLISHES = 7
BUCKETS = 6
PAYLOAD = b'origin\n{"type":"message","seq":1,"content":"lg:1700000000000:1"}'


async def cpu_per_op(n: int, fn: Callable[[], Awaitable[object]]) -> float:
    return await per_op(n, fn, clock=time.thread_time)


async def _redis_py_rows(args: argparse.Namespace, rows: list[tuple[str, float]]) -> None:
    client = aioredis.Redis.from_url(args.redis)
    script = client.register_script(redis_lua.RATE_LIMIT)
    keys = [f"conveyor-cost:rl:{i}" for i in range(BUCKETS)]
    limits = [value for _ in keys for value in (10**9, 60.0)]

    async def publishes() -> None:
        async with client.pipeline(transaction=False) as pipe:
            for i in range(PUBLISHES):
                pipe.publish(f"conveyor-cost:ev:{i}", PAYLOAD)
            await pipe.execute()

    async def spends() -> None:
        await script(keys, limits)

    rows.append((f"redis-py: pipeline of {PUBLISHES} PUBLISH",
                 await cpu_per_op(args.n, lambda: aio.run(publishes))))  # fmt: skip
    rows.append((f"redis-py: script over {BUCKETS} buckets",
                 await cpu_per_op(args.n, lambda: aio.run(spends))))  # fmt: skip
    await aio.run(client.aclose)


async def _stream_rows(args: argparse.Namespace, rows: list[tuple[str, float]]) -> None:
    conn = await RespConnection.open(args.redis)
    packed = b"".join(
        hiredis.pack_command(("PUBLISH", f"conveyor-cost:ev:{i}", PAYLOAD))
        for i in range(PUBLISHES)
    )

    async def publishes() -> None:
        await conn.send_packed(packed)
        await conn.replies(PUBLISHES)

    rows.append((f"trio stream: {PUBLISHES} PUBLISH, one write",
                 await cpu_per_op(args.n, publishes)))  # fmt: skip
    await conn.aclose()


async def _tick_row(args: argparse.Namespace, rows: list[tuple[str, float]]) -> None:
    async with open_redis(args.redis, prefix="conveyor-cost:") as redis:
        conveyor = redis.conveyor
        conveyor.every = 0.0

        async def tick() -> None:
            async with trio.open_nursery() as nursery:
                for i in range(BUCKETS):
                    nursery.start_soon(conveyor.spend, f"conveyor-cost:rl:{i}", 10**9, 60.0)
                for i in range(PUBLISHES):
                    conveyor.publish(f"conveyor-cost:ev:{i}", PAYLOAD)

        before = conveyor.ticks
        rows.append((f"conveyor: tick of {BUCKETS} spends (6 tasks) + {PUBLISHES} PUBLISH",
                     await cpu_per_op(args.n, tick)))  # fmt: skip
        ticks = (conveyor.ticks - before) / (args.n + min(args.n, 100))
        rows.append(("  (conveyor ticks per operation)", ticks))


async def main(args: argparse.Namespace) -> None:
    rows: list[tuple[str, float]] = []
    async with aio.open_aio_loop():
        await _redis_py_rows(args, rows)
        await _stream_rows(args, rows)
        await _tick_row(args, rows)
    print_rows(rows, "µs CPU/op")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("-n", type=int, default=2000)
    trio.run(main, parser.parse_args())
