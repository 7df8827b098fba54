"""The one Redis client the three Redis implementations share, and whether Redis is
up.

redis-py's asyncio client runs under trio-asyncio (`trichat.aio`): `command` runs
one asyncio call within `COMMAND_WAIT`. Any Redis error, any socket error and any
missed deadline (a stalled Redis keeps its sockets open and answers nothing) marks
Redis down and raises `BrokerUnavailable`; nothing else is caught, so a programming
error stays one. The broker's PubSub connection decides when Redis is up again
(`RedisBroker`), and is told to reconnect when a command finds it down.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
import trio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from trichat import aio
from trichat.broker.redis_packing import connection_pool
from trichat.errors import BrokerUnavailable

log = logging.getLogger("trichat.broker")

MAX_CONNECTIONS = 64  # per instance; commands beyond wait for a free one
# seconds one command may take before Redis counts as down: it answers in well under
# a millisecond, and a sender's rate-limit check waits for it
COMMAND_WAIT = 1.0
# what a Redis command can fail with: the driver's errors, the socket's, our deadline
FAILURES = (RedisError, OSError, trio.TooSlowError)


class RedisLink:
    """The pooled client, the key prefix, this instance's origin id, and health."""

    def __init__(self, url: str, *, prefix: str = "trichat:") -> None:
        # A plain pool: `command` lets no more than its connections out at once, so
        # it never runs out ("Too many connections"), and the blocking pool's
        # condition and timer per command are not needed. No socket timeout:
        # `command`'s deadline is trio's, and cancels the call (redis-py then drops
        # the connection). Under trio-asyncio every asyncio timer is a handle the
        # loop queues, heaps and pops a second later; redis-py armed one per reply
        # read (a pipeline of 12 publishes: 13): 708 → 656 µs of CPU per stored
        # message at 800 msg/s (docs/performance.md, "Performance V").
        pool = connection_pool(
            url,
            decode_responses=False,
            socket_connect_timeout=COMMAND_WAIT,
            socket_timeout=None,  # not redis-py's default of 5 s
            retry=Retry(NoBackoff(), 0),  # reconnecting is the broker's: see its _listen
            max_connections=MAX_CONNECTIONS,
        )
        self.client = aioredis.Redis.from_pool(pool)  # closing the client closes the pool
        self.url = url  # for the broker's trio-side connections (`redis_resp`)
        self.prefix = prefix
        self.origin = secrets.token_hex(8).encode()  # not INSTANCE_ID: that may repeat
        self.up = False  # a plain attribute: publish reads it per event
        self.ups = 0  # times Redis came up: a connection from before is stale
        self._slots = trio.Semaphore(MAX_CONNECTIONS)  # commands out at once
        self._changed = trio.Event()
        self.on_down: Callable[[], None] = lambda: None  # the broker: reconnect

    async def wait_healthy(self, healthy: bool = True) -> None:
        """Return once Redis is reachable (or, with False, once it is not)."""
        while self.up != healthy:
            await self._changed.wait()

    def set_up(self, up: bool) -> None:
        if up != self.up:
            self.up = up
            self.ups += up
            self._changed.set()
            self._changed = trio.Event()

    def down(self, what: str, exc: BaseException) -> None:
        if self.up:
            log.warning("redis is down (%s: %r); serving this instance's members alone", what, exc)
        self.set_up(False)
        self.on_down()

    async def command(self, what: str, fn: Any, *args: Any) -> Any:
        """Run one asyncio call against Redis within `COMMAND_WAIT`. A failure or a
        missed deadline marks Redis down and raises `BrokerUnavailable`. The wait for
        one of the `MAX_CONNECTIONS` is before the deadline: a queue of this
        instance's own (a thousand clients leaving at once) is not Redis failing."""
        async with self._slots:
            try:
                with trio.fail_after(COMMAND_WAIT):
                    return await aio.run(fn, *args)
            except FAILURES as exc:
                self.down(what, exc)
                raise BrokerUnavailable(f"redis {what}: {exc!r}") from exc

    async def close(self) -> None:
        await aio.run(self.client.aclose)
