"""One suite, run against every Broker implementation (in-process and Redis), as
one instance sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest
import trio

from tests.helpers.redis import RedisServer
from trichat import aio
from trichat.broker.base import MESSAGE, TYPING, Broker, Event
from trichat.broker.memory import MemoryBroker
from trichat.broker.redis import open_redis_broker
from trichat.models import PresenceEntry


@pytest.fixture(params=["memory", "redis"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    if request.param == "memory":
        yield MemoryBroker()
        return
    redis: RedisServer = request.getfixturevalue("redis_server")
    async with aio.open_aio_loop(), open_redis_broker(redis.url) as b:
        assert b.healthy
        yield b


async def next_event(events: AsyncIterator[Event]) -> Event:
    with trio.fail_after(5):
        return await anext(events)


async def test_publish_reaches_this_instance_once_in_order(broker: Broker) -> None:
    await broker.subscribe("c1")
    async with aclosing(broker.events()) as events:
        await _publish_and_read(broker, events)
    await broker.unsubscribe("c1")


async def _publish_and_read(broker: Broker, events: AsyncIterator[Event]) -> None:
    for seq in (1, 2, 3):
        await broker.publish(Event(MESSAGE, "c1", seq, b'{"seq":%d}' % seq, stamp=5))
    got = [await next_event(events) for _ in range(3)]
    assert [(e.kind, e.channel_id, e.seq, e.stamp) for e in got] == [
        (MESSAGE, "c1", 1, 5),
        (MESSAGE, "c1", 2, 5),
        (MESSAGE, "c1", 3, 5),
    ]
    await broker.publish(Event(TYPING, "c1", payload=b"t", user_id="u1"))
    typing = await next_event(events)  # the next one: no duplicate of 1..3 came first
    assert (typing.kind, typing.payload, typing.user_id) == (TYPING, b"t", "u1")


async def test_presence_counts_users_not_connections(broker: Broker) -> None:
    alice = PresenceEntry("alice", "Alice", 1000)
    assert await broker.presence_join("c1", alice, "conn-1") is True
    assert await broker.presence_join("c1", alice, "conn-2") is False  # second tab
    assert await broker.presence_join("c1", PresenceEntry("bob", "Bob", 1001), "conn-3")
    assert await broker.presence_join("c2", alice, "conn-1") is True
    present = sorted(await broker.presence("c1"), key=lambda p: p.user_id)
    assert [(p.user_id, p.username) for p in present] == [("alice", "Alice"), ("bob", "Bob")]
    assert await broker.presence_counts() == {"c1": 2, "c2": 1}
    assert await broker.presence_leave("c1", "alice", "conn-1") is False  # conn-2 remains
    assert await broker.presence_leave("c1", "alice", "conn-2") is True
    assert await broker.presence_leave("c1", "alice", "conn-2") is False  # already gone
    assert [p.user_id for p in await broker.presence("c1")] == ["bob"]
    assert await broker.presence_leave("c1", "bob", "conn-3") is True
    assert await broker.presence("c1") == []
    assert await broker.presence_counts() == {"c2": 1}


async def test_rate_limit_is_a_token_bucket(broker: Broker) -> None:
    assert [await broker.rate_limit("k", 3, 60.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await broker.rate_limit("k", 3, 60.0)
    assert 19.0 < wait <= 20.0  # one token every 20 s
    assert await broker.rate_limit("other", 3, 60.0) == 0.0  # buckets are per key
