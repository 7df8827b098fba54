"""What every chat operation stands on: the collaborators, the store's and the
broker's refusals made `unavailable` in one place each, who may see and who may
manage a channel, the moderation log, and publishing.

`Core` holds no state of its own beyond its collaborators (one of them, the
`ReadFlusher`, holds the read markers waiting for their coalesced write); the operations live in
the modules beside it, one per resource, and `ChatService` combines them.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import trio

from trichat.broker.base import Broker, Event, Marks, Presence, RateLimiter
from trichat.broker.memory import MemoryMarks
from trichat.config import Settings
from trichat.errors import (
    FORBIDDEN,
    NOT_FOUND,
    UNAVAILABLE,
    BrokerUnavailable,
    ClientError,
    StoreUnavailable,
)
from trichat.metrics import Metrics
from trichat.models import PRIVATE, Channel, Principal, now_ms
from trichat.protocol.values import canonical_uuid
from trichat.service.read_flush import ReadFlusher
from trichat.store.base import Store

log = logging.getLogger("trichat.service")
T = TypeVar("T")

# message ids for messages sent without one: a random per-process prefix and a
# counter, 32 hex digits like a uuid4 but without a getrandom() call per message
_ID_PREFIX = uuid.uuid4().hex[:16]
_id_counter = itertools.count(1)


def new_message_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


@dataclass
class Core:
    settings: Settings
    store: Store
    broker: Broker  # events between instances
    presence: Presence  # who is online, cluster-wide
    limits: RateLimiter  # token buckets, cluster-wide
    metrics: Metrics
    clock: Callable[[], int] = field(default=now_ms)  # epoch ms; tests move it for bans
    marks: Marks = field(default_factory=MemoryMarks)  # read markers as they move
    flusher: ReadFlusher = field(init=False)  # their coalesced writes to the store

    def __post_init__(self) -> None:
        self.flusher = ReadFlusher(self.store)

    async def _store_call(self, coro: Awaitable[T]) -> T:
        try:
            return await coro
        except StoreUnavailable as exc:
            log.warning("store call refused: %s", exc)
            raise ClientError(UNAVAILABLE, "the store is unavailable; try again") from exc

    async def _cluster_call(self, coro: Awaitable[T]) -> T:
        """A presence or rate-limit call. The Redis ones answer from this instance's
        state while Redis is away; one that cannot answer at all is `unavailable`."""
        try:
            return await coro
        except BrokerUnavailable as exc:
            log.warning("broker call refused: %s", exc)
            raise ClientError(UNAVAILABLE, "the broker is unavailable; try again") from exc

    async def channel(self, channel_id: str) -> Channel | None:
        canonical = canonical_uuid(channel_id)
        if canonical is None:
            return None  # no channel has such an id (the doors pass canonical ones)
        return await self._store_call(self.store.get_channel(canonical))  # type: ignore[no-any-return]

    async def may_see(self, who: Principal, channel: Channel) -> bool:
        if open_to(who, channel):
            return True
        return await self._store_call(  # type: ignore[no-any-return]
            self.store.is_member(channel.id, who.user_id)
        )

    async def visible_channel(self, who: Principal, channel_id: str) -> Channel:
        """The channel if `who` may see it; `not_found` otherwise (a private channel
        does not reveal itself to strangers)."""
        channel = await self.channel(channel_id)
        if channel is None or not await self.may_see(who, channel):
            raise ClientError(NOT_FOUND, "no such channel", channel_id=channel_id)
        return channel

    def _must_manage(self, who: Principal, channel: Channel) -> None:
        if not (who.is_admin or channel.created_by == who.user_id):
            raise ClientError(
                FORBIDDEN,
                "only the channel's creator or an admin may do this",
                channel_id=channel.id,
            )

    async def managed_channel(self, who: Principal, channel_id: str) -> Channel:
        channel = await self.visible_channel(who, channel_id)
        self._must_manage(who, channel)
        return channel

    async def publish(self, event: Event) -> None:
        """Best effort: a lost message event is a seq gap that supervisors heal."""
        self.publish_now(event)

    def publish_now(self, event: Event) -> None:
        """`publish`, callable where nothing may be awaited (it never waits)."""
        try:
            self.broker.publish_now(event)
        except BrokerUnavailable as exc:
            log.warning("publish to the broker failed: %s", exc)

    async def _log(
        self, channel_id: str, who: Principal, action: str, target: str, detail: str
    ) -> None:
        await self._store_call(
            self.store.log_moderation(channel_id, who.user_id, action, target, detail, self.clock())
        )

    @property
    def broker_healthy(self) -> bool:
        return self.broker.healthy

    async def store_answers(self) -> bool:
        """Does the store answer now (its ping, within 2 s)?"""
        try:
            with trio.fail_after(2):
                await self.store.ping()
        except (StoreUnavailable, trio.TooSlowError):
            return False
        return True


def open_to(who: Principal, channel: Channel) -> bool:
    """May `who` see the channel whether or not they are its member? (Every
    channel but a private one; a private one to its creator and admins.)"""
    return channel.channel_type != PRIVATE or who.is_admin or channel.created_by == who.user_id
