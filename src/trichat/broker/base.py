"""The broker seam: fan-out between instances, cluster presence and rate limits.

Guarantees every implementation gives:

- `publish` hands an event to every instance subscribed to its channel, this one
  included, at most once, in no promised order. Delivery is best effort: a lost
  `message` event shows as a seq gap that supervisors fill from the store.
- `events()` is consumed by exactly one bridge task per instance; it never blocks
  the publisher on a slow consumer (overflow drops, the store heals).
- Presence counts connections per (channel, user) across all instances: `join`
  returns True for a user's first connection in the channel, `leave` for the last.
- `rate_limit` is one token bucket per key shared by all instances.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import trio

from trichat.models import PresenceEntry

MESSAGE = "message"
DELETED = "deleted"
TYPING = "typing"
PRESENCE = "presence"
KICK = "kick"
CLOSED = "closed"
RESYNC = "resync"  # local only: re-read the store's last seq


@dataclass(frozen=True, slots=True)
class Event:
    """Something every member of a channel should see (or, for `kick`, lose)."""

    kind: str
    channel_id: str
    seq: int = 0
    payload: bytes = b""  # the encoded server frame to deliver, built once
    user_id: str = ""  # typing: whose (not echoed to them); kick: who is removed
    stamp: int = 0  # message: when the store acked it (epoch ms), for the latency metric
    reason: str = ""  # kick: why the user is removed (the `left` frame's reason)


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


class Broker(Protocol):
    name: str

    @property
    def healthy(self) -> bool: ...

    async def publish(self, event: Event) -> None: ...

    def events(self) -> AsyncIterator[Event]:
        """The one stream of events for this instance's subscribed channels."""

    async def subscribe(self, channel_id: str) -> None: ...

    async def unsubscribe(self, channel_id: str) -> None: ...

    async def presence_join(self, channel_id: str, entry: PresenceEntry, conn_key: str) -> bool: ...

    async def presence_leave(self, channel_id: str, user_id: str, conn_key: str) -> bool: ...

    async def presence(self, channel_id: str) -> list[PresenceEntry]: ...

    async def presence_counts(self) -> dict[str, int]:
        """Users online per channel, across the cluster (channels with nobody left out)."""

    async def rate_limit(self, key: str, capacity: int, period: float) -> float:
        """Spend one token of the bucket `key`: 0.0 if allowed, else seconds to wait."""
