"""Presence and rate limits on Redis, for `RedisBroker`.

Each operation is one atomic Lua script (`redis_lua`). This instance's own presence
and token buckets are kept locally too: the local presence is what the heartbeat
refreshes in Redis, and both are the answer while Redis is down (a script that
fails or misses its deadline raises `BrokerUnavailable`, and the broker is marked
down by the command runner it was given).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis.asyncio as aioredis

from trichat.broker import redis_lua
from trichat.broker.local import LocalLimiter, LocalPresence
from trichat.errors import BrokerUnavailable
from trichat.models import PresenceEntry, now_ms

Command = Callable[..., Awaitable[Any]]  # (what, asyncio fn, *args) → its result
SCRIPTS = ("JOIN", "LEAVE", "HEARTBEAT", "PRESENCE", "COUNTS", "RATE_LIMIT")


class RedisPresence:
    def __init__(
        self,
        client: aioredis.Redis,
        command: Command,
        is_up: Callable[[], bool],
        *,
        prefix: str,
        origin: bytes,
        ttl_ms: int,
    ) -> None:
        self._command = command
        self._is_up = is_up
        self.prefix = prefix
        self.origin = origin
        self._ttl_ms = ttl_ms
        self._local = LocalPresence()
        self._limiter = LocalLimiter()
        self._scripts = {name: client.register_script(getattr(redis_lua, name)) for name in SCRIPTS}

    def _keys(self, channel_id: str, user_id: str) -> list[str]:
        p = self.prefix
        return [f"{p}pu:{channel_id}:{user_id}", f"{p}pc:{channel_id}", f"{p}pd:{channel_id}"]

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._command(name.lower(), self._scripts[name], keys, args)

    async def join(self, channel_id: str, entry: PresenceEntry, conn_key: str) -> bool:
        if not self._local.join(channel_id, entry, conn_key):
            return False
        if not self._is_up():
            return True
        now, ttl = now_ms(), self._ttl_ms
        args = [self.origin, now + ttl, now, entry.user_id, _entry_json(entry), channel_id, ttl]
        keys = [*self._keys(channel_id, entry.user_id), f"{self.prefix}pch"]
        try:
            return bool(await self._script("JOIN", keys, args))
        except BrokerUnavailable:
            return True  # this instance's first: the local answer stands

    async def leave(self, channel_id: str, user_id: str, conn_key: str) -> bool:
        if not self._local.leave(channel_id, user_id, conn_key):
            return False
        if not self._is_up():
            return True
        try:
            keys = self._keys(channel_id, user_id)
            return bool(await self._script("LEAVE", keys, [self.origin, now_ms(), user_id]))
        except BrokerUnavailable:
            return True

    async def entries(self, channel_id: str) -> list[PresenceEntry]:
        if self._is_up():
            keys = self._keys(channel_id, "")[1:]
            try:
                flat = await self._script("PRESENCE", keys, [now_ms()])
            except BrokerUnavailable:
                pass  # this instance's own view, below
            else:
                return [_entry(u, e) for u, e in zip(flat[::2], flat[1::2], strict=True)]
        return self._local.entries(channel_id)

    async def counts(self) -> dict[str, int]:
        if self._is_up():
            try:
                flat = await self._script("COUNTS", [], [self.prefix, now_ms()])
            except BrokerUnavailable:
                pass  # this instance's own view, below
            else:
                return {c.decode(): int(n) for c, n in zip(flat[::2], flat[1::2], strict=True)}
        return self._local.counts()

    async def rate_limit(self, key: str, capacity: int, period: float) -> float:
        if self._is_up():
            try:
                bucket = [f"{self.prefix}rl:{key}"]
                wait = await self._script("RATE_LIMIT", bucket, [capacity, period])
            except BrokerUnavailable:
                pass  # this instance's own bucket, below
            else:
                return float(wait)
        return self._limiter.take(key, capacity, period)

    async def heartbeat(self, now: int) -> list[tuple[str, str, str]]:
        """Refresh this instance's entries; the (channel, user, username) of users
        whose instance stopped refreshing theirs. Raises `BrokerUnavailable`."""
        ttl = self._ttl_ms
        args: list[Any] = [self.prefix, self.origin, now + ttl, now, ttl]
        for channel_id, entry in self._local:
            args += [channel_id, entry.user_id, _entry_json(entry)]
        reaped = await self._script("HEARTBEAT", [], args)
        return [
            (
                reaped[i].decode(),
                reaped[i + 1].decode(),
                _entry(reaped[i + 1], reaped[i + 2]).username,
            )
            for i in range(0, len(reaped), 3)
        ]

    async def leave_all(self) -> None:
        """Take this instance's users out of presence (shutdown)."""
        for channel_id, entry in list(self._local):
            keys = self._keys(channel_id, entry.user_id)
            try:
                await self._script("LEAVE", keys, [self.origin, now_ms(), entry.user_id])
            except BrokerUnavailable:
                break  # their entries expire within the TTL


def _entry_json(entry: PresenceEntry) -> bytes:
    return orjson.dumps([entry.username, entry.last_seen])


def _entry(user_id: bytes, data: bytes) -> PresenceEntry:
    username, last_seen = orjson.loads(data) if data else (user_id.decode(), 0)
    return PresenceEntry(user_id.decode(), username, last_seen)
