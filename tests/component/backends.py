"""The memory and the Redis implementations of the three broker interfaces, for
the contract suites (`test_broker_contract`, `test_presence_contract`,
`test_limiter_contract`): each suite's fixture asks for one kind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from tests.helpers.redis import RedisServer
from trichat import aio
from trichat.broker.base import Broker, Presence, RateLimiter
from trichat.broker.memory import MemoryBroker, MemoryLimiter, MemoryPresence
from trichat.broker.redis import RedisBackends, RedisBroker, open_redis
from trichat.broker.redis_conveyor import Conveyor
from trichat.broker.redis_link import RedisLink
from trichat.broker.redis_presence import RedisPresence
from trichat.models import PresenceEntry

KINDS = ["memory", "redis"]
FAST = {"presence_ttl": 1.0, "heartbeat_every": 0.25}  # Redis presence, for reaping tests


@asynccontextmanager
async def open_backends(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[Broker, Presence, RateLimiter]]:
    """`request.param` names the kind; Redis runs on the test's throwaway server."""
    if request.param == "memory":
        yield MemoryBroker(), MemoryPresence(), MemoryLimiter()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    async with aio.open_aio_loop(), open_redis(server.url) as redis:
        assert redis.broker.healthy
        yield redis.broker, redis.presence, redis.limits


async def kill_an_instance_with_bob(redis_server: RedisServer, survivor: RedisBackends) -> None:
    """An instance where bob is present, killed: no leave, no more heartbeats."""
    link = RedisLink(redis_server.url)
    doomed = RedisPresence(link, **FAST)
    async with trio.open_nursery() as nursery:
        await nursery.start(RedisBroker(link, Conveyor(link)).run)
        nursery.start_soon(doomed.run)
        await doomed.join("room", PresenceEntry("bob", "Bob", 1), "d-1")
        assert [p.user_id for p in await survivor.presence.online("room")] == ["bob"]
        nursery.cancel_scope.cancel()
    await link.close()
