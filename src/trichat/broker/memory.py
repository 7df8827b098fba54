"""The in-process broker: one instance, no services. Events go through a bounded
memory channel to this instance's bridge; presence and rate limits live in dicts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import trio

from trichat.broker.base import Event
from trichat.models import PresenceEntry
from trichat.protocol.ratelimit import TokenBucket

EVENT_BUFFER = 65_536


class MemoryBroker:
    name = "memory"

    def __init__(self, *, buffer: int = EVENT_BUFFER) -> None:
        self._send, self._recv = trio.open_memory_channel[Event](buffer)
        self._presence: dict[str, dict[str, tuple[PresenceEntry, set[str]]]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self.dropped = 0

    @property
    def healthy(self) -> bool:
        return True

    async def publish(self, event: Event) -> None:
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self.dropped += 1  # supervisors see the seq gap and read the store

    async def events(self) -> AsyncIterator[Event]:
        async for event in self._recv:
            yield event

    async def subscribe(self, channel_id: str) -> None:
        return None

    async def unsubscribe(self, channel_id: str) -> None:
        return None

    async def presence_join(self, channel_id: str, entry: PresenceEntry, conn_key: str) -> bool:
        users = self._presence.setdefault(channel_id, {})
        current = users.get(entry.user_id)
        if current is None:
            users[entry.user_id] = (entry, {conn_key})
            return True
        current[1].add(conn_key)
        users[entry.user_id] = (entry, current[1])
        return False

    async def presence_leave(self, channel_id: str, user_id: str, conn_key: str) -> bool:
        users = self._presence.get(channel_id)
        if not users or user_id not in users:
            return False
        conns = users[user_id][1]
        conns.discard(conn_key)
        if conns:
            return False
        del users[user_id]
        if not users:
            del self._presence[channel_id]
        return True

    async def presence(self, channel_id: str) -> list[PresenceEntry]:
        return [entry for entry, _ in self._presence.get(channel_id, {}).values()]

    async def presence_counts(self) -> dict[str, int]:
        return {cid: len(users) for cid, users in self._presence.items()}

    async def rate_limit(self, key: str, capacity: int, period: float) -> float:
        now = trio.current_time()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > 100_000:
                self._forget_full(now)
            bucket = self._buckets[key] = TokenBucket(capacity, period, now)
        return bucket.take(now)

    def _forget_full(self, now: float) -> None:
        """A full bucket carries no state: drop those to keep the dict bounded."""
        for key in [k for k, b in self._buckets.items() if b.full_at(now) <= now]:
            del self._buckets[key]
