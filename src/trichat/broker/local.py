"""This instance's own presence and rate-limit state, in dicts.

The memory presence and limiter are nothing more; the Redis ones keep the same
state as their heartbeat source and as the fallback while Redis is away.
"""

from __future__ import annotations

from collections.abc import Iterator

import trio

from trichat.models import PresenceEntry
from trichat.protocol.ratelimit import TokenBucket

MAX_BUCKETS = 100_000  # beyond this, full (stateless) buckets are forgotten


class LocalPresence:
    """Connections per (channel, user) on this instance."""

    def __init__(self) -> None:
        self._channels: dict[str, dict[str, tuple[PresenceEntry, set[str]]]] = {}

    def join(self, channel_id: str, entry: PresenceEntry, conn_key: str) -> bool:
        """Add a connection; True when it is the user's first here."""
        users = self._channels.setdefault(channel_id, {})
        current = users.get(entry.user_id)
        if current is None:
            users[entry.user_id] = (entry, {conn_key})
            return True
        current[1].add(conn_key)
        return False

    def leave(self, channel_id: str, user_id: str, conn_key: str) -> bool:
        """Remove a connection; True when it was the user's last here."""
        users = self._channels.get(channel_id)
        if not users or user_id not in users:
            return False
        conns = users[user_id][1]
        conns.discard(conn_key)
        if conns:
            return False
        del users[user_id]
        if not users:
            del self._channels[channel_id]
        return True

    def entries(self, channel_id: str) -> list[PresenceEntry]:
        return [entry for entry, _ in self._channels.get(channel_id, {}).values()]

    def counts(self) -> dict[str, int]:
        return {cid: len(users) for cid, users in self._channels.items()}

    def __iter__(self) -> Iterator[tuple[str, PresenceEntry]]:
        for cid, users in self._channels.items():
            for entry, _ in users.values():
                yield cid, entry


class LocalLimiter:
    """One token bucket per key, on trio's clock."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str, capacity: int, period: float) -> float:
        now = trio.current_time()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = TokenBucket(capacity, period, now)
        return bucket.take(now)

    def _forget_full(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.full_at(now) <= now]:
            del self._buckets[key]
