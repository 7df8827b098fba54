"""Several Redis brokers on one Redis, as several instances see each other: fan-out,
shared presence and buckets, a killed instance's users dropping out, and outages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, aclosing

import pytest
import trio

from tests.helpers.redis import RedisServer
from trichat import aio
from trichat.broker.base import MESSAGE, PRESENCE, RESYNC, Event
from trichat.broker.redis import RedisBroker, open_redis_broker
from trichat.models import PresenceEntry

FAST = {"presence_ttl": 1.0, "heartbeat_every": 0.25}


async def healthy(brokers: list[RedisBroker], up: bool = True) -> None:
    with trio.fail_after(10):
        for broker in brokers:
            await broker.wait_healthy(up)


async def next_event(events: AsyncIterator[Event], within: float = 5.0) -> Event:
    with trio.fail_after(within):
        return await anext(events)


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[list[RedisBroker]]:
    async with aio.open_aio_loop(), AsyncExitStack() as stack:
        brokers = [
            await stack.enter_async_context(open_redis_broker(redis_server.url, **FAST))
            for _ in range(3)
        ]
        yield brokers


async def test_events_fan_out_to_subscribed_instances_only(cluster: list[RedisBroker]) -> None:
    a, b, c = cluster
    await b.subscribe("room")
    await c.subscribe("elsewhere")
    async with aclosing(b.events()) as b_events, aclosing(c.events()) as c_events:
        await a.publish(Event(MESSAGE, "room", 1, b'{"x":1}', stamp=7))
        await a.publish(Event(MESSAGE, "elsewhere", 9, b"{}", stamp=7))
        got = await next_event(b_events)
        assert (got.kind, got.channel_id, got.seq, got.payload) == (MESSAGE, "room", 1, b'{"x":1}')
        other = await next_event(c_events)
        assert (other.channel_id, other.seq) == ("elsewhere", 9)  # "room" never reached c
        await b.unsubscribe("room")
        await b.subscribe("marker")
        await a.publish(Event(MESSAGE, "room", 2, b"{}"))
        await a.publish(Event(MESSAGE, "marker", 1, b"{}"))
        assert (await next_event(b_events)).channel_id == "marker"  # seq 2 was not sent


async def test_presence_and_rate_limits_are_cluster_wide(cluster: list[RedisBroker]) -> None:
    a, b, c = cluster
    alice = PresenceEntry("alice", "Alice", 1)
    assert await a.presence_join("room", alice, "a-1") is True
    assert await b.presence_join("room", alice, "b-1") is False  # online already via a
    assert [p.user_id for p in await c.presence("room")] == ["alice"]
    assert await c.presence_counts() == {"room": 1}
    assert await a.presence_leave("room", "alice", "a-1") is False  # still on b
    assert await b.presence_leave("room", "alice", "b-1") is True
    assert await c.presence("room") == []
    waits = [await broker.rate_limit("msg:alice", 2, 60.0) for broker in (a, b, c)]
    assert waits[:2] == [0.0, 0.0] and 29.0 < waits[2] <= 30.0


async def test_a_killed_instance_users_are_reaped_and_announced(redis_server: RedisServer) -> None:
    async with aio.open_aio_loop(), open_redis_broker(redis_server.url, **FAST) as survivor:
        await survivor.subscribe("room")
        async with aclosing(survivor.events()) as events:
            doomed = RedisBroker(redis_server.url, **FAST)
            async with trio.open_nursery() as nursery:
                await nursery.start(doomed.run)
                await doomed.presence_join("room", PresenceEntry("bob", "Bob", 1), "d-1")
                assert [p.user_id for p in await survivor.presence("room")] == ["bob"]
                nursery.cancel_scope.cancel()  # killed: no leave, no more heartbeats
            await aio.run(doomed._client.aclose)
            event = await next_event(events, within=5.0)
            assert (event.kind, event.channel_id, event.user_id) == (PRESENCE, "room", "bob")
            assert b'"presence_type":"left"' in event.payload
            assert await survivor.presence("room") == []


async def test_redis_restart_degrades_then_heals(
    redis_server: RedisServer, cluster: list[RedisBroker]
) -> None:
    a, b, _ = cluster
    await b.subscribe("room")
    await b.presence_join("room", PresenceEntry("bob", "Bob", 1), "b-1")
    async with aclosing(a.events()) as a_events, aclosing(b.events()) as b_events:
        redis_server.stop()
        await healthy([a, b], up=False)
        # each instance keeps serving its own members
        await b.publish(Event(MESSAGE, "room", 1, b"{}"))
        assert (await next_event(b_events)).seq == 1
        assert [p.user_id for p in await b.presence("room")] == ["bob"]
        assert await b.rate_limit("k", 1, 60.0) == 0.0  # local buckets meanwhile
        redis_server.start()
        await healthy([a, b])
        resync = await next_event(a_events)  # what was published meanwhile is lost:
        assert (resync.kind, resync.channel_id) == (RESYNC, "")  # the store fills it
        assert (await next_event(b_events)).kind == RESYNC
        await a.publish(Event(MESSAGE, "room", 2, b"{}"))  # b is subscribed again
        got = await next_event(b_events)
        assert (got.channel_id, got.seq) == ("room", 2)
        # the heartbeat puts bob back into the emptied Redis
        with trio.fail_after(5):
            await b.wait_heartbeat()
        assert [p.user_id for p in await a.presence("room")] == ["bob"]


async def test_starts_without_redis_and_connects_when_it_comes(
    redis_server: RedisServer,
) -> None:
    redis_server.stop()
    async with aio.open_aio_loop(), open_redis_broker(redis_server.url, **FAST) as broker:
        assert not broker.healthy
        assert await broker.rate_limit("k", 1, 60.0) == 0.0
        redis_server.start()
        await healthy([broker])
        assert await broker.rate_limit("k", 1, 60.0) == 0.0  # Redis' bucket is fresh
        assert await broker.rate_limit("k", 1, 60.0) > 0.0


async def test_more_concurrent_commands_than_pool_connections_wait_their_turn(
    redis_server: RedisServer,
) -> None:
    """A thousand clients leaving at once must not mark Redis down (a plain pool
    raised "Too many connections" past 64)."""
    from trichat.broker.redis import MAX_CONNECTIONS

    async with aio.open_aio_loop(), open_redis_broker(redis_server.url, **FAST) as broker:
        await healthy([broker])
        waits: list[float] = []

        async def take(i: int) -> None:
            waits.append(await broker.rate_limit(f"user{i}", 5, 60.0))

        async with trio.open_nursery() as nursery:
            for i in range(MAX_CONNECTIONS * 4):
                nursery.start_soon(take, i)
        assert waits == [0.0] * (MAX_CONNECTIONS * 4)
        assert broker.healthy
