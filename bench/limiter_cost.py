"""What a cluster-wide rate-limit spend costs: `--senders` tasks, each spending on
its own bucket in turn (as senders in many small channels do), through the Redis
broker's limiter; prints spends/s and this process's CPU (all threads) per spend.

    taskset -c 1 .venv/bin/python bench/limiter_cost.py [--redis URL] [--senders 50] [-n 4000]

Uses keys under the prefix `limiter-cost:` on the given Redis (they expire).
"""

from __future__ import annotations

import argparse
import time

import trio

from trichat import aio
from trichat.bench.procstat import own_cpu_seconds
from trichat.broker.redis import open_redis


async def main(url: str, senders: int, n: int) -> None:
    async with aio.open_aio_loop(), open_redis(url, prefix="limiter-cost:") as redis:
        limits = redis.limits
        each = n // senders

        async def sender(i: int) -> None:
            for _ in range(each):
                await limits.spend(f"msg:u{i}", 10**9, 60.0)

        await sender(0)  # warm up: the script is loaded
        cpu, wall = own_cpu_seconds(), time.perf_counter()
        async with trio.open_nursery() as nursery:
            for i in range(senders):
                nursery.start_soon(sender, i)
        cpu, wall = own_cpu_seconds() - cpu, time.perf_counter() - wall
    total = each * senders
    print(
        f"{senders} senders, {total} spends: {total / wall:,.0f} spends/s, "
        f"{cpu / total * 1e6:.1f} µs CPU per spend"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("-n", type=int, default=4000)
    args = parser.parse_args()
    trio.run(main, args.redis, args.senders, args.n)
