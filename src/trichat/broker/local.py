"""This instance's own presence and rate-limit state, in dicts.

The memory presence and limiter are nothing more; the Redis ones keep the same
state as their heartbeat source and as the fallback while Redis is away.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import trio

from trichat.models import PresenceEntry, ReadMark
from trichat.protocol.ratelimit import TokenBucket

MAX_BUCKETS = 100_000  # beyond this, full (stateless) buckets are forgotten
MARK_TTL = 10.0  # seconds a moved marker is held (the store has it within ~1 s)


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


class LocalMarks:
    """Read markers moved lately on this instance, each held for `MARK_TTL` on
    trio's clock (they expire in the order they moved: one queue)."""

    def __init__(self, ttl: float = MARK_TTL) -> None:
        self._ttl = ttl
        self._by_user: dict[str, dict[str, ReadMark]] = {}
        self._by_channel: dict[str, dict[str, ReadMark]] = {}
        self._moved: deque[tuple[float, ReadMark]] = deque()

    def raise_mark(self, mark: ReadMark, floor: int) -> bool:
        self._expire(trio.current_time())
        held = self._by_user.get(mark.user_id, {}).get(mark.channel_id)
        if mark.seq <= max(floor, held.seq if held else floor):
            return False
        self._by_user.setdefault(mark.user_id, {})[mark.channel_id] = mark
        self._by_channel.setdefault(mark.channel_id, {})[mark.user_id] = mark
        self._moved.append((trio.current_time() + self._ttl, mark))
        return True

    def of_user(self, user_id: str) -> dict[str, ReadMark]:
        self._expire(trio.current_time())
        return dict(self._by_user.get(user_id, {}))

    def of_channel(self, channel_id: str) -> dict[str, ReadMark]:
        self._expire(trio.current_time())
        return dict(self._by_channel.get(channel_id, {}))

    def _expire(self, now: float) -> None:
        moved = self._moved
        while moved and moved[0][0] <= now:
            _, mark = moved.popleft()
            for outer, key, inner in (
                (self._by_user, mark.user_id, mark.channel_id),
                (self._by_channel, mark.channel_id, mark.user_id),
            ):
                entries = outer.get(key)
                if entries is not None and entries.get(inner) is mark:
                    del entries[inner]
                    if not entries:
                        del outer[key]
