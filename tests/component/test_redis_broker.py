"""Several Redis brokers on one Redis, as several instances see each other: fan-out,
shared presence and buckets, a killed instance's users dropping out, and outages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, aclosing
from dataclasses import replace

import pytest
import trio

from tests.component.backends import FAST, kill_an_instance_with_bob
from tests.helpers.aio_timers import counted_timers
from tests.helpers.redis import RedisServer
from trichat import aio
from trichat.broker.base import MESSAGE, PERSONAL, RESYNC, Departure, Event
from trichat.broker.redis import RedisBackends, open_redis
from trichat.models import PresenceEntry, ReadMark, now_ms


async def healthy(instances: list[RedisBackends], up: bool = True) -> None:
    with trio.fail_after(10):
        for redis in instances:
            await redis.broker.wait_healthy(up)


async def next_event(events: AsyncIterator[Event], within: float = 5.0) -> Event:
    with trio.fail_after(within):
        return await anext(events)


def ticks_from_now(redis: RedisBackends) -> Callable[[], int]:
    """How many conveyor ticks (one pipeline each: spends, publishes) `redis` has
    sent since this call."""
    start = redis.conveyor.ticks
    return lambda: redis.conveyor.ticks - start


def calls(commandstats: str, command: str) -> int:
    """How many times Redis ran `command`, from `INFO commandstats`."""
    _, found, rest = commandstats.partition(f"cmdstat_{command}:calls=")
    return int(rest.split(",")[0]) if found else 0


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[list[RedisBackends]]:
    async with aio.open_aio_loop(), AsyncExitStack() as stack:
        instances = [
            await stack.enter_async_context(open_redis(redis_server.url, **FAST)) for _ in range(3)
        ]
        yield instances


async def test_events_fan_out_to_subscribed_instances_only(
    cluster: list[RedisBackends],
) -> None:
    a, b, c = (redis.broker for redis in cluster)
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


async def test_personal_events_reach_the_instances_where_their_user_is(
    cluster: list[RedisBackends],
) -> None:
    a, b, c = (redis.broker for redis in cluster)
    b.subscribe_user("bob")
    await b.subscribe("sync")  # confirmed: so is bob's topic, sent before or with it
    c.subscribe_user("cat")
    await c.subscribe("sync")
    async with aclosing(b.events()) as b_events, aclosing(c.events()) as c_events:
        await a.publish(Event(PERSONAL, "", payload=b'{"type":"read"}', user_id="bob"))
        await a.publish(Event(PERSONAL, "", payload=b"{}", user_id="cat"))
        got = await next_event(b_events)
        assert (got.kind, got.channel_id, got.user_id, got.payload) == (
            PERSONAL, "", "bob", b'{"type":"read"}',
        )  # fmt: skip
        assert (await next_event(c_events)).user_id == "cat"  # bob's never reached c
        b.unsubscribe_user("bob")
        b.subscribe_user("bea")
        await b.subscribe("sync2")
        await a.publish(Event(PERSONAL, "", payload=b"{}", user_id="bob"))
        await a.publish(Event(PERSONAL, "", payload=b"{}", user_id="bea"))
        assert (await next_event(b_events)).user_id == "bea"  # bob's was not sent to b


async def test_read_markers_are_raised_once_across_instances(
    cluster: list[RedisBackends],
) -> None:
    a, b, c = (redis.marks for redis in cluster)
    mark = ReadMark("room", "bob", 5, now_ms())
    assert await a.raise_mark(mark, floor=-1) is True
    assert await b.raise_mark(replace(mark, seq=4), floor=-1) is False  # lower than a's
    assert await b.raise_mark(replace(mark, seq=6), floor=7) is False  # below the stored
    assert await c.raise_mark(replace(mark, seq=9), floor=-1) is True
    assert (await a.of_user("bob"))["room"].seq == 9
    assert (await b.of_channel("room"))["bob"].seq == 9
    assert await c.of_user("nobody") == {} and await c.of_channel("nowhere") == {}


async def test_presence_and_rate_limits_are_cluster_wide(cluster: list[RedisBackends]) -> None:
    a, b, c = (redis.presence for redis in cluster)
    alice = PresenceEntry("alice", "Alice", 1)
    assert await a.join("room", alice, "a-1") is True
    assert await b.join("room", alice, "b-1") is False  # online already via a
    assert [p.user_id for p in await c.online("room")] == ["alice"]
    assert await c.counts() == {"room": 1}
    assert await a.leave("room", "alice", "a-1") is False  # still on b
    assert await b.leave("room", "alice", "b-1") is True
    assert await c.online("room") == []
    waits = [await redis.limits.spend("msg:alice", 2, 60.0) for redis in cluster]
    assert waits[:2] == [0.0, 0.0] and 29.0 < waits[2] <= 30.0


async def test_concurrent_spends_share_script_calls_and_stay_exact(
    cluster: list[RedisBackends],
) -> None:
    """300 senders at once on three instances, one bucket of 100: the spends go in
    batches (fewer crossings than spends), and exactly 100 get through."""
    waits: list[float] = []
    ticks = ticks_from_now(cluster[0])

    async def send(redis: RedisBackends) -> None:
        waits.append(await redis.limits.spend("msg:crowd", 100, 60.0))

    async with trio.open_nursery() as nursery:
        for i in range(300):
            nursery.start_soon(send, cluster[i % 3])
    assert sorted(waits)[:100] == [0.0] * 100
    assert all(0 < w <= 0.6 for w in sorted(waits)[100:])  # the bucket refills at 100/min
    assert 1 <= ticks() < 100  # the first instance's 100 spends, in a few ticks


async def test_spends_close_behind_a_tick_wait_for_the_next_one_and_share_it(
    cluster: list[RedisBackends],
) -> None:
    """Ticks are paced: a spend arriving within `every` of the last tick's start
    waits for the next one, so spends that arrive one after another (many senders,
    each alone) share a tick as well as spends that arrive at once."""
    redis = cluster[0]
    redis.conveyor.every = 0.25  # wide enough that the six below queue within it
    ticks = ticks_from_now(redis)
    assert await redis.limits.spend("msg:first", 5, 60.0) == 0.0  # alone, at once
    waits: list[float] = []

    async def send(i: int) -> None:
        waits.append(await redis.limits.spend(f"msg:u{i}", 5, 60.0))

    async with trio.open_nursery() as nursery:
        for i in range(6):  # each alone, none while a call is out
            nursery.start_soon(send, i)
    assert waits == [0.0] * 6
    assert ticks() == 2  # unpaced, the first of the six would have gone alone


async def test_a_publish_right_after_a_spend_goes_at_once_not_at_the_pace(
    cluster: list[RedisBackends],
) -> None:
    """A message's spend, then its publish once stored: the publish alone is not
    held for the spends' pace (it would be, by up to `every`, at low rates)."""
    a, b = cluster[0], cluster[1]
    a.conveyor.every = 30.0  # a paced tick would come long after the deadline below
    await b.broker.subscribe("room")
    async with aclosing(b.broker.events()) as b_events:
        assert await a.limits.spend("msg:alice", 5, 60.0) == 0.0  # a tick, at once
        ticks = ticks_from_now(a)
        await a.broker.publish(Event(MESSAGE, "room", 1, b"{}"))
        assert (await next_event(b_events, within=5.0)).seq == 1
        assert ticks() == 1  # the publish's own tick


async def test_a_batch_of_spends_is_one_script_call_and_survives_a_flushed_script(
    cluster: list[RedisBackends], redis_server: RedisServer
) -> None:
    """Spends waiting together go as one EVALSHA over all their buckets (no pipeline
    of one command each, no SCRIPT EXISTS before it), each bucket spent in turn. A
    Redis that lost the script (SCRIPT FLUSH, as after a restart) answers NOSCRIPT:
    the spends go again as one EVAL (which loads it), and the buckets stay exact."""
    redis = cluster[0]

    async def burst(buckets: list[str], capacity: int) -> dict[str, list[float]]:
        waits: dict[str, list[float]] = {bucket: [] for bucket in buckets}

        async def send(bucket: str) -> None:
            waits[bucket].append(await redis.limits.spend(bucket, capacity, 60.0))

        async with trio.open_nursery() as nursery:
            for i in range(30 * len(buckets)):
                nursery.start_soon(send, buckets[i % len(buckets)])
        return {bucket: sorted(w) for bucket, w in waits.items()}

    for waits in (await burst(["msg:a", "msg:b"], 20)).values():
        assert waits[:20] == [0.0] * 20 and all(w > 0 for w in waits[20:])
    stats = redis_server.command("INFO", "commandstats").decode()
    assert calls(stats, "evalsha") + calls(stats, "eval") < 30  # 60 spends, in a few calls
    assert "cmdstat_script|exists" not in stats

    assert redis_server.command("SCRIPT", "FLUSH") == b"+OK\r\n"
    for waits in (await burst(["msg:c", "msg:d", "msg:e"], 10)).values():
        assert waits[:10] == [0.0] * 10 and all(w > 0 for w in waits[10:])
    after = redis_server.command("INFO", "commandstats").decode()
    assert calls(after, "eval") == calls(stats, "eval") + 1  # the first call after the flush
    assert redis.link.up


async def test_a_killed_instance_users_are_reaped_and_reported(
    redis_server: RedisServer,
) -> None:
    async with aio.open_aio_loop(), open_redis(redis_server.url, **FAST) as survivor:
        departures = survivor.presence.departures()
        await kill_an_instance_with_bob(redis_server, survivor)
        with trio.fail_after(5):
            gone = await anext(departures)
        assert gone == Departure("room", "bob", "Bob")
        assert await survivor.presence.online("room") == []


async def test_redis_restart_degrades_then_heals(
    redis_server: RedisServer, cluster: list[RedisBackends]
) -> None:
    a, b = cluster[0].broker, cluster[1].broker
    await b.subscribe("room")
    await cluster[1].presence.join("room", PresenceEntry("bob", "Bob", 1), "b-1")
    assert await cluster[1].limits.spend("before", 1, 60.0) == 0.0  # connections open
    async with aclosing(a.events()) as a_events, aclosing(b.events()) as b_events:
        redis_server.stop()
        await healthy(cluster[:2], up=False)
        # each instance keeps serving its own members
        await b.publish(Event(MESSAGE, "room", 1, b"{}"))
        assert (await next_event(b_events)).seq == 1
        assert [p.user_id for p in await cluster[1].presence.online("room")] == ["bob"]
        assert await cluster[1].presence.counts() == {"room": 1}
        assert await cluster[1].limits.spend("k", 1, 60.0) == 0.0  # local buckets meanwhile
        redis_server.start()
        await healthy(cluster[:2])
        resync = await next_event(a_events)  # what was published meanwhile is lost:
        assert (resync.kind, resync.channel_id) == (RESYNC, "")  # the store fills it
        assert (await next_event(b_events)).kind == RESYNC
        await a.publish(Event(MESSAGE, "room", 2, b"{}"))  # b is subscribed again
        got = await next_event(b_events)
        assert (got.channel_id, got.seq) == ("room", 2)
        # b's conveyor connection from before the restart is not used: Redis answers
        assert await cluster[1].limits.spend("after", 1, 60.0) == 0.0
        assert await cluster[1].limits.spend("after", 1, 60.0) > 0.0
        assert redis_server.command("EXISTS", "trichat:rl:after") == b":1\r\n"
        assert cluster[1].link.up
        # the heartbeat puts bob back into the emptied Redis
        with trio.fail_after(5):
            await cluster[1].presence.wait_heartbeat()
        assert [p.user_id for p in await cluster[0].presence.online("room")] == ["bob"]


async def test_starts_without_redis_and_connects_when_it_comes(
    redis_server: RedisServer,
) -> None:
    redis_server.stop()
    async with aio.open_aio_loop(), open_redis(redis_server.url, **FAST) as redis:
        assert not redis.broker.healthy
        assert await redis.limits.spend("k", 1, 60.0) == 0.0
        redis_server.start()
        await healthy([redis])
        assert await redis.limits.spend("k", 1, 60.0) == 0.0  # Redis' bucket is fresh
        assert await redis.limits.spend("k", 1, 60.0) > 0.0


async def test_more_concurrent_commands_than_pool_connections_wait_their_turn(
    redis_server: RedisServer,
) -> None:
    """A thousand clients leaving at once must not mark Redis down (a plain pool
    raised "Too many connections" past 64)."""
    from trichat.broker.redis_link import MAX_CONNECTIONS

    async with aio.open_aio_loop(), open_redis(redis_server.url, **FAST) as redis:
        await healthy([redis])
        waits: list[float] = []

        async def take(i: int) -> None:
            waits.append(await redis.limits.spend(f"user{i}", 5, 60.0))

        async with trio.open_nursery() as nursery:
            for i in range(MAX_CONNECTIONS * 4):
                nursery.start_soon(take, i)
        assert waits == [0.0] * (MAX_CONNECTIONS * 4)
        assert redis.broker.healthy

        # commands Redis takes 0.3 s to answer, five rounds of the pool's
        # connections: the last wait 1.2 s for one, past a command's 1 s deadline
        answers: list[object] = []

        async def slow(i: int) -> None:
            blpop = redis.link.client.blpop
            answers.append(await redis.link.command("slow", blpop, [f"none{i}"], 0.3))

        async with trio.open_nursery() as nursery:
            for i in range(MAX_CONNECTIONS * 5):
                nursery.start_soon(slow, i)
        assert answers == [None] * (MAX_CONNECTIONS * 5)
        assert redis.broker.healthy


async def test_spends_and_publishes_stay_on_trio_and_commands_arm_no_asyncio_timers(
    redis_server: RedisServer,
) -> None:
    """A spend and a publish go on the conveyor's trio-side connection: they queue
    nothing on the asyncio loop. The commands that do go through redis-py (read
    markers here) arm no asyncio timer: deadlines are trio's (`RedisLink.command`),
    redis-py runs with no socket timeout and a plain pool (each timer would cost
    trio-asyncio's loop a queued handle, a heap push and a pop)."""
    async with aio.open_aio_loop(), AsyncExitStack() as stack:
        a, b = [  # no presence heartbeat while counting
            await stack.enter_async_context(open_redis(redis_server.url, heartbeat_every=3600.0))
            for _ in range(2)
        ]
        await healthy([a, b])
        await b.broker.subscribe("room")
        events = await stack.enter_async_context(aclosing(b.broker.events()))
        await a.limits.spend("msg:warm", 5, 60.0)  # connections opened (a connect
        await a.marks.raise_mark(ReadMark("room", "bob", 0, now_ms()), floor=-1)  # arms one)
        with counted_timers() as queued:
            for n in range(20):
                assert await a.limits.spend(f"msg:t{n}", 5, 60.0) == 0.0
                await a.broker.publish(Event(MESSAGE, "room", n + 1, b"{}"))
                assert (await next_event(events)).seq == n + 1
        assert queued == [0, 0]
        with counted_timers() as queued:
            for n in range(20):
                await a.marks.raise_mark(ReadMark("room", "bob", n + 1, now_ms()), floor=-1)
        assert queued[0] == 0 and queued[1] > 0


async def test_a_stalled_redis_answers_a_spend_locally_after_the_deadline(
    redis_server: RedisServer,
) -> None:
    """SIGSTOP: the conveyor's connection stays open and nothing answers. Its tick
    misses `COMMAND_WAIT`: the spend is answered from this instance's bucket, the
    publish in the same tick is dropped, Redis is down, and once it answers again
    the next tick goes on a new connection."""
    from trichat.broker.redis_link import COMMAND_WAIT

    async with aio.open_aio_loop(), open_redis(redis_server.url, **FAST) as redis:
        await healthy([redis])
        assert await redis.limits.spend("warm", 1, 60.0) == 0.0
        redis_server.pause()
        try:
            started = trio.current_time()
            await redis.broker.publish(Event(MESSAGE, "room", 1, b"{}"))
            assert await redis.limits.spend("k", 1, 60.0) == 0.0  # the local bucket
            assert COMMAND_WAIT <= trio.current_time() - started < COMMAND_WAIT + 1
            assert not redis.link.up and redis.conveyor.dropped == 1
        finally:
            redis_server.resume()
        await healthy([redis])  # (the stalled call may have run once Redis woke)
        assert await redis.limits.spend("after", 1, 60.0) == 0.0
        assert redis_server.command("EXISTS", "trichat:rl:after") == b":1\r\n"
