"""What receiving one event from another instance costs: a `RedisBroker`
subscribed to 300 channels, a second process (on CPU 0) publishing events to them
at `--rate`; prints the CPU of the receiving trio thread per event.

    taskset -c 1 .venv/bin/python bench/pubsub_cost.py [--redis URL] [-n 3000] [--rate 500]
        [--batch 1]

Uses the key prefix `pubsub-cost:` on the given Redis (nothing is stored).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import redis
import trio

from trichat import aio
from trichat.broker.base import MESSAGE, Event
from trichat.broker.redis import encode_event, open_redis

CHANNELS = [f"c{i}" for i in range(300)]
PREFIX = "pubsub-cost:"
PAYLOAD = b'{"type":"message","channel_id":"c","seq":1,"content":"lg:1732000000000:1"}'


def publish(url: str, n: int, rate: float, batch: int) -> None:
    """`batch` events per pipeline, as a busy instance's publisher sends them."""
    client = redis.Redis.from_url(url)
    start = time.perf_counter()
    for first in range(0, n, batch):
        with client.pipeline(transaction=False) as pipe:
            for i in range(first, min(n, first + batch)):
                cid = CHANNELS[i % len(CHANNELS)]
                event = Event(MESSAGE, cid, i + 1, PAYLOAD, stamp=0)
                pipe.publish(f"{PREFIX}ev:{cid}", encode_event(b"elsewhere", event))
            pipe.execute()
        pause = start + (first + batch) / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)


async def receive(url: str, n: int, rate: float, batch: int) -> None:
    async with aio.open_aio_loop(), open_redis(url, prefix=PREFIX) as redis:
        broker = redis.broker
        for cid in CHANNELS:
            await broker.subscribe(cid)
        events = broker.events().__aiter__()
        before = resource.getrusage(resource.RUSAGE_THREAD)
        argv = [sys.executable, __file__, "--redis", url, "-n", str(n), "--rate", str(rate)]
        argv += ["--batch", str(batch)]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.run_process, ["taskset", "-c", "0", *argv, "--publish"])
            got = 0
            while got < n:
                if (await events.__anext__()).kind == MESSAGE:
                    got += 1
            after = resource.getrusage(resource.RUSAGE_THREAD)
    user = (after.ru_utime - before.ru_utime) / n * 1e6
    system = (after.ru_stime - before.ru_stime) / n * 1e6
    print(
        f"{n} events at {rate:g}/s, {batch} per publish: "
        f"{user + system:.1f} µs CPU per event in the trio thread "
        f"(user {user:.1f}, system {system:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--batch", type=int, default=1, help="events per publishing pipeline")
    parser.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        publish(args.redis, args.n, args.rate, args.batch)
    else:
        trio.run(receive, args.redis, args.n, args.rate, args.batch)


if __name__ == "__main__":
    main()
