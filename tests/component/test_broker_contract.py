"""The `Broker` contract, run against every implementation (in-process and Redis),
as one instance sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest
import trio

from tests.component.backends import KINDS, open_backends
from trichat.broker.base import CLOSED, KICK, MESSAGE, PRESENCE, TYPING, Broker, Event


@pytest.fixture(params=KINDS)
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    async with open_backends(request) as (broker, _, _):
        yield broker


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


async def test_every_kind_of_event_arrives_whole(broker: Broker) -> None:
    sent = [
        Event(MESSAGE, "c1", 7, b'{"a":"\\n"}\n', stamp=1_700_000_000_000),
        Event(PRESENCE, "c2", payload=b'{"presence_type":"left"}', user_id="bob"),
        Event(KICK, "c1", user_id="bob", payload=b"banned"),
        Event(CLOSED, "c2"),
    ]
    for channel_id in ("c1", "c2"):
        await broker.subscribe(channel_id)
    async with aclosing(broker.events()) as events:
        for event in sent:
            await broker.publish(event)
        got = [await next_event(events) for _ in sent]
    assert sorted(got, key=repr) == sorted(sent, key=repr)  # no order across channels


async def test_subscriptions_are_counted(broker: Broker) -> None:
    """Two supervisors of one channel (a reopened one, say): the first to leave
    must not take the other's events away."""
    await broker.subscribe("c1")
    await broker.subscribe("c1")
    await broker.unsubscribe("c1")
    async with aclosing(broker.events()) as events:
        await broker.publish(Event(MESSAGE, "c1", 1, b"{}"))
        assert (await next_event(events)).seq == 1
    await broker.unsubscribe("c1")
    assert broker.healthy
