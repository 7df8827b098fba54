"""Rate limits on Redis: one token bucket per key for the whole cluster.

Each spend is one atomic Lua script (`redis_lua.RATE_LIMIT`) on Redis' own clock.
While Redis is down this instance's own buckets answer (`local.LocalLimiter`): a
sender is limited per instance rather than refused.
"""

from __future__ import annotations

from trichat.broker import redis_lua
from trichat.broker.local import LocalLimiter
from trichat.broker.redis_link import RedisLink
from trichat.errors import BrokerUnavailable


class RedisLimiter:
    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._local = LocalLimiter()
        self._script = link.client.register_script(redis_lua.RATE_LIMIT)

    async def spend(self, key: str, capacity: int, period: float) -> float:
        if self._link.up:
            bucket, args = [f"{self._link.prefix}rl:{key}"], [capacity, period]
            try:
                wait = await self._link.command("rate_limit", self._script, bucket, args)
            except BrokerUnavailable:
                pass  # this instance's own bucket, below
            else:
                return float(wait)
        return self._local.take(key, capacity, period)
