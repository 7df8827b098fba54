"""Rate limits on Redis: one token bucket per key for the whole cluster.

A spend goes in the conveyor's next tick (`redis_conveyor`): every spend waiting
then is one atomic Lua script call over all their buckets (`redis_lua.RATE_LIMIT`,
on Redis' own clock), in the same pipeline as the tick's publishes, so concurrent
senders share one command instead of paying one each.
While Redis is down this instance's own buckets answer (`local.LocalLimiter`): a
sender is limited per instance rather than refused.
"""

from __future__ import annotations

from trichat.broker.local import LocalLimiter
from trichat.broker.redis_conveyor import Conveyor
from trichat.broker.redis_link import RedisLink


class RedisLimiter:
    def __init__(self, link: RedisLink, conveyor: Conveyor) -> None:
        self._prefix = f"{link.prefix}rl:"
        self._conveyor = conveyor
        self._local = LocalLimiter()

    async def spend(self, key: str, capacity: int, period: float) -> float:
        wait = await self._conveyor.spend(self._prefix + key, capacity, period)
        return self._local.take(key, capacity, period) if wait is None else wait
