"""Rate limits on Redis: one token bucket per key for the whole cluster.

Spends are batched: every spend waiting when the previous call returns goes in the
next one, one atomic Lua script over all their buckets (`redis_lua.RATE_LIMIT`, on
Redis' own clock), so concurrent senders share one crossing of the trio/asyncio
bridge (~470 µs of CPU on its own, docs/performance.md) and one command instead of
paying one each. Calls are paced: one starts no sooner than `spend_every` after the
previous one started, so that spends spread over time (800 senders a second, each
alone) share calls too; a spend with no call out and none lately goes at once from
its caller's task.
While Redis is down this instance's own buckets answer (`local.LocalLimiter`): a
sender is limited per instance rather than refused.
"""

from __future__ import annotations

import math

import trio

from trichat.broker import redis_lua
from trichat.broker.local import LocalLimiter
from trichat.broker.redis_link import RedisLink
from trichat.errors import BrokerUnavailable

BATCH = 256  # spends per script call at most
# Pacing: at most one script call per SPEND_EVERY seconds. Spends one at a time
# (many senders, each alone) went one call each: at 800 msg/s on PostgreSQL +
# Redis, 0.83 calls per message. 8 ms makes them ~6 per call: 888 → 694 µs of CPU
# per stored message, for ≤ 8 ms more before the store sees a message (4 ms:
# 736 µs; docs/performance.md, "Performance V").
SPEND_EVERY = 0.008


class _Spend:
    __slots__ = ("bucket", "done", "limit", "wait")

    def __init__(self, bucket: str, capacity: int, period: float) -> None:
        self.bucket = bucket
        self.limit = (capacity, period)
        self.done = trio.Event()
        self.wait: float | None = None  # None: Redis did not answer


class RedisLimiter:
    def __init__(self, link: RedisLink, spend_every: float = SPEND_EVERY) -> None:
        self._link = link
        self.spend_every = spend_every
        self._local = LocalLimiter()
        self._script = link.client.register_script(redis_lua.RATE_LIMIT)
        self._pending: list[_Spend] = []
        self._busy = False  # a batch (or a lone spend) is out
        self._next = -math.inf  # trio time before which no call starts
        self._wake = trio.Event()

    async def spend(self, key: str, capacity: int, period: float) -> float:
        if self._link.up:
            spend = _Spend(f"{self._link.prefix}rl:{key}", capacity, period)
            if self._busy or self._pending or trio.current_time() < self._next:
                self._pending.append(spend)  # the next batch takes it, on time
                self._wake.set()
                await spend.done.wait()
            else:
                await self._alone(spend)
            if spend.wait is not None:
                return spend.wait
        return self._local.take(key, capacity, period)

    async def _alone(self, spend: _Spend) -> None:
        """Nothing else is waiting: send this spend from the caller's own task (a
        hand-off to the batching task would add two task switches)."""
        self._busy = True
        try:
            await self._send([spend])
        finally:
            self._busy = False
            if self._pending:
                self._wake.set()

    async def run(self) -> None:
        """The task that sends the waiting spends, one batch at a time."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            if self._busy:
                continue  # a lone spend is out; it wakes this task when it is back
            while self._pending:
                await trio.sleep_until(self._next)
                batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
                self._busy = True
                try:
                    await self._send(batch)
                finally:
                    self._busy = False

    async def _send(self, batch: list[_Spend]) -> None:
        self._next = trio.current_time() + self.spend_every
        try:
            with trio.CancelScope(shield=True):  # the waiting spends get an answer
                waits = await self._link.command("rate_limit", self._spend_all, batch)
        except BrokerUnavailable:
            waits = [None] * len(batch)  # each falls back to this instance's bucket
        for spend, wait in zip(batch, waits, strict=True):
            spend.wait = None if wait is None else float(wait)
            spend.done.set()

    async def _spend_all(self, batch: list[_Spend]) -> list[bytes]:
        """(asyncio) Every spend of `batch` in one script call: one command, one
        reply. The script object loads the script when Redis lost it (NOSCRIPT:
        restarted, flushed) and calls again."""
        keys = [spend.bucket for spend in batch]
        args = [value for spend in batch for value in spend.limit]
        return list(await self._script(keys, args))
