"""What one presence heartbeat costs the trio thread, by how many users it refreshes
(docs/performance.md, "Presence heartbeat").

    taskset -c 1 .venv/bin/python bench/heartbeat_cost.py [--redis URL] [-n 20] [--users 2000]

CPU time of this thread (`time.thread_time`: Redis' own work does not count) per
`RedisPresence.heartbeat` with `--users` users present (one channel each), and what
packing its command costs alone (redis-py's asyncio packer, hiredis'). The Redis
database at `--redis` (default 13) is FLUSHED first.
"""

from __future__ import annotations

import argparse
import time

import hiredis
import trio
from ops import per_op, print_rows
from redis.asyncio.connection import Connection

from trichat import aio
from trichat.broker.redis_link import RedisLink
from trichat.broker.redis_presence import RedisPresence, _entry_json
from trichat.models import PresenceEntry, now_ms


def _heartbeat_argv(presence: RedisPresence) -> tuple[object, ...]:
    argv: list[object] = ["EVALSHA", "0" * 40, 0, presence.prefix, presence.origin, 1, 1, 1]
    for channel_id, entry in presence._local:
        argv += [channel_id, entry.user_id, _entry_json(entry)]
    return tuple(argv)


def _pack_costs(argv: tuple[object, ...], n: int) -> list[tuple[str, float]]:
    packer = Connection()
    rows = []
    for name, pack in (
        ("  packing it: redis-py's asyncio packer", lambda: packer.pack_command(*argv)),
        ("  packing it: hiredis.pack_command", lambda: hiredis.pack_command(argv)),
    ):
        started = time.thread_time()
        for _ in range(n):
            pack()
        rows.append((name, (time.thread_time() - started) / n * 1e6))
    return rows


async def main(args: argparse.Namespace) -> None:
    async with aio.open_aio_loop():
        link = RedisLink(args.redis, prefix="trichat-bench:")
        await link.command("flush", link.client.flushdb)
        link.set_up(True)
        presence = RedisPresence(link)
        try:
            for i in range(args.users):
                user = f"user-{i}"
                await presence.join(f"channel-{i:06d}", PresenceEntry(user, user, 0), user)
            beat = await per_op(
                args.n, lambda: presence.heartbeat(now_ms()), clock=time.thread_time
            )
            rows = [(f"heartbeat, {args.users} users", beat)]
            rows += _pack_costs(_heartbeat_argv(presence), args.n)
            rows.append(("the heartbeat per user", beat / args.users))
            print_rows(rows, "µs CPU")
        finally:
            await link.command("flush", link.client.flushdb)
            await link.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--users", type=int, default=2000)
    trio.run(main, parser.parse_args())
