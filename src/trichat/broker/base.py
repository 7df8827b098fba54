"""The cluster seams, as centrifuge separates its Broker and PresenceManager:
`Broker` (fan-out of events between instances), `Presence` (who is online in a
channel), `RateLimiter` (token buckets) and `Marks` (read markers as they move).
Each has a memory implementation (`memory`, one instance) and a Redis one (`redis`,
`redis_presence`, `redis_limits`, `redis_marks`, sharing one client, `redis_link`).
None of them builds a frame: the service does.

Guarantees every implementation gives:

- `Broker.publish` hands an event to every instance subscribed to its channel (a
  `personal` event: to its user), this one included, at most once, in no promised
  order. Delivery is best effort: a lost
  `message` event shows as a seq gap that supervisors fill from the store.
- `Broker.events()` is consumed by exactly one bridge task per instance; it never
  blocks the publisher on a slow consumer (overflow drops, the store heals).
- Once the hub sets `local_route`, this instance's own events go to it inside
  `publish`, in publish order, instead of through `events()` (one task switch and a
  queue less per message: docs/architecture.md, "Tasks").
- `Presence` counts connections per (channel, user) across all instances: `join`
  returns True for a user's first connection in the channel, `leave` for the last.
  Users whose instance died without leaving are reported once, cluster-wide, by
  `departures()`, for the service to announce.
- `RateLimiter.spend` is one token bucket per key shared by all instances.
- `Marks.raise_mark` only ever raises a marker, and every instance sees it at once.

A call that cannot be answered raises `BrokerUnavailable` (`errors`), and only for
the backend's own failures (its driver's errors, the socket's, a missed deadline);
the Redis implementations answer from this instance's state instead where they can.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import trio

from trichat.models import PresenceEntry, ReadMark
from trichat.protocol.events import (  # the events the broker carries, re-exported
    CLOSED,
    KICK,
    MESSAGE,
    PERSONAL,
    PRESENCE,
    RECEIPT,
    RESYNC,
    TYPING,
    Event,
)

__all__ = [
    "CLOSED",
    "KICK",
    "MESSAGE",
    "PERSONAL",
    "PRESENCE",
    "RECEIPT",
    "RESYNC",
    "TYPING",
    "Broker",
    "Departure",
    "Event",
    "Marks",
    "Presence",
    "RateLimiter",
    "drain",
    "hand_over",
]


async def drain(recv: trio.MemoryReceiveChannel[Event]) -> AsyncIterator[Event]:
    """Every event from `recv`, taking whatever is queued at each wake-up without a
    checkpoint per event (`async for` over a memory channel yields to the scheduler
    once per item: a task switch per message on the bridge)."""
    while True:
        try:
            event = await recv.receive()
        except trio.EndOfChannel:
            return
        yield event
        while True:
            try:
                event = recv.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            yield event


def hand_over(
    event: Event, route: Callable[[Event], None] | None, send: trio.MemorySendChannel[Event]
) -> bool:
    """This instance's own event to its route, or queued for the bridge; False when
    the queue is full (dropped: the supervisors heal the gap from the store)."""
    if route is not None:
        route(event)
        return True
    try:
        send.send_nowait(event)
    except trio.WouldBlock:
        return False
    return True


class Broker(Protocol):
    """Fan-out of events between instances."""

    name: str
    # where this instance's own events go, set by the hub while it runs (else
    # through `events()`); called synchronously, it never blocks
    local_route: Callable[[Event], None] | None

    @property
    def healthy(self) -> bool: ...

    async def publish(self, event: Event) -> None: ...

    def publish_now(self, event: Event) -> None:
        """`publish` without waiting for anything (each implementation's `publish`
        is this): for a caller that cannot await, such as a store's writer task
        answering a committed message."""

    def events(self) -> AsyncIterator[Event]:
        """The one stream of events for this instance's subscribed channels."""

    async def subscribe(self, channel_id: str) -> None: ...

    async def unsubscribe(self, channel_id: str) -> None: ...

    def subscribe_user(self, user_id: str) -> None:
        """Receive `personal` events for `user_id` too (counted: as many
        `unsubscribe_user` calls end it). Does not wait for the backend."""

    def unsubscribe_user(self, user_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Departure:
    """A user whose instance stopped refreshing their presence in a channel."""

    channel_id: str
    user_id: str
    username: str


class Presence(Protocol):
    """Who is online in each channel, across the cluster."""

    async def join(self, channel_id: str, entry: PresenceEntry, conn_key: str) -> bool:
        """Add a connection; True when it is the user's first in the channel."""

    async def leave(self, channel_id: str, user_id: str, conn_key: str) -> bool:
        """Remove a connection; True when it was the user's last in the channel."""

    async def online(self, channel_id: str) -> list[PresenceEntry]: ...

    async def counts(self) -> dict[str, int]:
        """Users online per channel, across the cluster (channels with nobody left out)."""

    def departures(self) -> AsyncIterator[Departure]:
        """Users dropped for their instance's silence, each once across the cluster;
        consumed by one task per instance (the service announces them as left)."""


class Marks(Protocol):
    """Read markers as they move (SPEC §7), shared by every instance at once: the
    store gets the moves coalesced, up to a second later, so answers take the
    higher of the stored marker and the one held here. An entry is held for
    `MARK_TTL` after its move, by then long stored."""

    async def raise_mark(self, mark: ReadMark, floor: int) -> bool:
        """Hold `mark` (its user's marker in its channel, at `mark.seq`, moved at
        `mark.at`) if its seq is above both `floor` (the stored marker's) and the
        one held: True when it moved, atomically across the cluster."""

    async def of_user(self, user_id: str) -> dict[str, ReadMark]:
        """The user's markers held, by channel."""

    async def of_channel(self, channel_id: str) -> dict[str, ReadMark]:
        """The channel's markers held, by user."""


class RateLimiter(Protocol):
    """Token buckets shared by every instance."""

    async def spend(self, key: str, capacity: int, period: float) -> float:
        """Spend one token of the bucket `key` (`capacity` tokens refilled over
        `period` seconds): 0.0 if allowed, else seconds to wait."""
