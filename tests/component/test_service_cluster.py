"""The service over the three broker interfaces: presence frames are built here,
not in the broker (a killed instance's users announced as left), and a broker that
cannot answer is the client's `unavailable`, decided in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path

import orjson
import pytest
import trio

from tests.component.backends import FAST, kill_an_instance_with_bob
from tests.conftest import test_settings as settings_for
from tests.helpers.redis import RedisServer
from trichat import aio
from trichat.broker.base import PRESENCE, Broker, Departure, Presence, RateLimiter
from trichat.broker.memory import MemoryBroker, MemoryLimiter, MemoryPresence
from trichat.broker.redis import open_redis
from trichat.errors import UNAVAILABLE, BrokerUnavailable, ClientError
from trichat.metrics import Metrics
from trichat.models import PresenceEntry, Principal
from trichat.service import ChatService
from trichat.store.sqlite import open_sqlite_store

ALICE = Principal("alice", "Alice", None, None, False, 2**40)
ADMIN = Principal("root", "Root", None, None, True, 2**40)


@asynccontextmanager
async def open_service(
    data_dir: Path, broker: Broker, presence: Presence, limits: RateLimiter
) -> AsyncIterator[ChatService]:
    async with open_sqlite_store(data_dir) as store:
        yield ChatService(settings_for(data_dir), store, broker, presence, limits, Metrics())


async def test_a_killed_instance_users_are_announced_as_left(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with (
        aio.open_aio_loop(),
        open_redis(redis_server.url, **FAST) as survivor,
        open_service(tmp_path, survivor.broker, survivor.presence, survivor.limits) as service,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(service.announce_departures)
        await survivor.broker.subscribe("room")
        async with aclosing(survivor.broker.events()) as events:
            await kill_an_instance_with_bob(redis_server, survivor)
            with trio.fail_after(5):
                event = await anext(events)
        assert (event.kind, event.channel_id, event.user_id) == (PRESENCE, "room", "bob")
        frame = orjson.loads(event.payload)
        assert (frame["presence_type"], frame["user_id"], frame["username"]) == (
            "left",
            "bob",
            "Bob",
        )
        nursery.cancel_scope.cancel()


class Refusing:
    """A presence and rate limiter whose backend cannot answer at all. (The Redis
    ones answer from this instance's state instead; the contract still allows it.)"""

    async def join(self, channel_id: str, entry: PresenceEntry, conn_key: str) -> bool:
        raise BrokerUnavailable("join")

    async def leave(self, channel_id: str, user_id: str, conn_key: str) -> bool:
        raise BrokerUnavailable("leave")

    async def online(self, channel_id: str) -> list[PresenceEntry]:
        raise BrokerUnavailable("online")

    async def counts(self) -> dict[str, int]:
        raise BrokerUnavailable("counts")

    async def departures(self) -> AsyncIterator[Departure]:
        raise BrokerUnavailable("departures")
        yield  # an async generator

    async def spend(self, key: str, capacity: int, period: float) -> float:
        raise BrokerUnavailable("spend")


async def test_a_broker_that_cannot_answer_is_unavailable(tmp_path: Path) -> None:
    refusing = Refusing()
    async with open_service(tmp_path, MemoryBroker(), refusing, refusing) as service:
        for call in (
            lambda: service.send(ALICE, "c1", "hello", None),
            lambda: service.typing(ALICE, "c1"),
            lambda: service.presence_join(ALICE, "c1", "conn-1"),
            lambda: service.presence_counts(ADMIN),
            lambda: service.online("c1"),
        ):
            with pytest.raises(ClientError) as refused:
                await call()
            assert refused.value.code == UNAVAILABLE
        await service.presence_leave(ALICE, "c1", "conn-1")  # a leave is never refused


async def test_memory_presence_never_reports_departures(tmp_path: Path) -> None:
    async with open_service(tmp_path, MemoryBroker(), MemoryPresence(), MemoryLimiter()) as service:
        with trio.move_on_after(0.05) as waited:
            await service.announce_departures()
        assert waited.cancelled_caught  # it runs for the instance's life
