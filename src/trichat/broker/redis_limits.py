"""Rate limits on Redis: one token bucket per key for the whole cluster.

Each spend is one atomic Lua script (`redis_lua.RATE_LIMIT`) on Redis' own clock.
Spends are pipelined: every spend waiting when the previous pipeline returns goes
in the next one, so concurrent senders share one crossing of the trio/asyncio
bridge (~470 µs of CPU on its own, docs/performance.md) instead of paying one each.
A lone spend goes at once from its caller's task, as before. While Redis is down
this instance's own buckets answer (`local.LocalLimiter`): a sender is limited per
instance rather than refused.
"""

from __future__ import annotations

from typing import Any

import trio

from trichat.broker import redis_lua
from trichat.broker.local import LocalLimiter
from trichat.broker.redis_link import NO_SCRIPT, RedisLink
from trichat.errors import BrokerUnavailable

BATCH = 256  # spends per pipeline at most


class _Spend:
    __slots__ = ("args", "done", "wait")

    def __init__(self, bucket: str, capacity: int, period: float) -> None:
        self.args = ([bucket], [capacity, period])
        self.done = trio.Event()
        self.wait: float | None = None  # None: Redis did not answer


class RedisLimiter:
    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._local = LocalLimiter()
        self._script = link.client.register_script(redis_lua.RATE_LIMIT)
        self._pending: list[_Spend] = []
        self._busy = False  # a pipeline (or a lone spend) is out
        self._wake = trio.Event()

    async def spend(self, key: str, capacity: int, period: float) -> float:
        if self._link.up:
            spend = _Spend(f"{self._link.prefix}rl:{key}", capacity, period)
            if self._busy or self._pending:
                self._pending.append(spend)  # the next pipeline takes it
                self._wake.set()
                await spend.done.wait()
            else:
                await self._alone(spend)
            if spend.wait is not None:
                return spend.wait
        return self._local.take(key, capacity, period)

    async def _alone(self, spend: _Spend) -> None:
        """Nothing else is waiting: send this spend from the caller's own task (a
        hand-off to the pipeline task would add two task switches)."""
        self._busy = True
        try:
            await self._send([spend])
        finally:
            self._busy = False
            if self._pending:
                self._wake.set()

    async def run(self) -> None:
        """The task that sends the waiting spends, one pipeline at a time."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            if self._busy:
                continue  # a lone spend is out; it wakes this task when it is back
            while self._pending:
                batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
                self._busy = True
                try:
                    await self._send(batch)
                finally:
                    self._busy = False

    async def _send(self, batch: list[_Spend]) -> None:
        try:
            with trio.CancelScope(shield=True):  # the waiting spends get an answer
                waits = await self._link.command("rate_limit", self._pipelined, batch)
        except BrokerUnavailable:
            waits = [None] * len(batch)  # each falls back to this instance's bucket
        for spend, wait in zip(batch, waits, strict=True):
            spend.wait = None if wait is None else float(wait)
            spend.done.set()

    async def _pipelined(self, batch: list[_Spend]) -> list[bytes]:
        """(asyncio) Every spend of `batch` in one pipeline of EVALSHA. Not the
        script object's pipeline form: redis-py then sends SCRIPT EXISTS first, a
        second round trip per pipeline (docs/performance.md, "Performance IV"). A
        Redis that lost the script (restarted, flushed) answers NOSCRIPT: load it,
        and send the pipeline once more."""
        if len(batch) == 1:
            keys, args = batch[0].args
            return [await self._script(keys, args)]  # loads the script when missing
        results = await self._evalsha_all(batch)
        if any(isinstance(r, NO_SCRIPT) for r in results):
            self._script.sha = await self._link.client.script_load(redis_lua.RATE_LIMIT)
            results = await self._evalsha_all(batch)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def _evalsha_all(self, batch: list[_Spend]) -> list[Any]:
        """(asyncio) One pipeline; errors come back in place, not raised."""
        sha = self._script.sha
        async with self._link.client.pipeline(transaction=False) as pipe:
            for spend in batch:
                keys, args = spend.args
                pipe.evalsha(sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))
