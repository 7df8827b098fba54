"""The conveyor: this instance's per-message Redis commands, one pipeline per tick.

Two things happen in Redis for every message: its sender's rate-limit spend (the
cluster-wide bucket, before the store) and its publish (after). Both go here, on
one trio-side connection (`redis_resp`): each tick sends every spend waiting (one
EVALSHA of `redis_lua.RATE_LIMIT` over all their buckets, on Redis' own clock) and
every publish waiting, in one write, and reads the replies. Under trio-asyncio the
two were two redis-py calls: 7 publishes and 6 spends cost 476 to 501 + 268 to
291 µs of CPU, one tick of both here 290 to 331, with the six spending tasks' own 83
(`bench/conveyor_cost.py`; docs/performance.md, "Performance VI").

Spends are paced: a tick with spends starts no sooner than `every` after the
previous paced one started, so that spends spread over time (800 senders a second,
each alone) share it; publishes waiting then ride along. With nothing spent lately,
a tick starts at once. Publishes alone are not paced: they come in a commit's
batches already, and waiting for the pace cost a timed wake-up per message at low
rates, and up to `every` of latency to other instances (docs/performance.md,
"Performance VII").

Failure: an error, a lost connection or a missed deadline (`COMMAND_WAIT`) drops
the connection and marks Redis down (`RedisLink.down`): the waiting spends answer
None (their callers use this instance's buckets) and the publishes are dropped
(other instances heal the gap from the store). While Redis is down nothing is
queued; the first tick after Redis is back (whoever saw it go) connects again.
"""

from __future__ import annotations

import hashlib
import math

import hiredis
import trio

from trichat.broker import redis_lua
from trichat.broker.redis_link import COMMAND_WAIT, FAILURES, RedisLink
from trichat.broker.redis_resp import RespConnection, raise_error

# Pacing. Spends one at a time (many senders, each alone) went one call each: at 800
# msg/s on PostgreSQL + Redis, 0.83 calls per message; 8 ms made them ~6 per call
# (docs/performance.md, "Performance V").
EVERY = 0.008
SPENDS = 256  # per tick at most
PUBLISHES = 1024  # per tick at most
WAITING = 65_536  # publishes waiting at most (beyond: dropped)
_SHA = hashlib.sha1(redis_lua.RATE_LIMIT.encode()).hexdigest()


class Spend:
    __slots__ = ("bucket", "done", "limit", "wait")

    def __init__(self, bucket: str, capacity: int, period: float) -> None:
        self.bucket = bucket
        self.limit = (capacity, period)
        self.done = trio.Event()
        self.wait: float | None = None  # None: Redis did not answer


class Conveyor:
    def __init__(self, link: RedisLink, every: float = EVERY) -> None:
        self._link = link
        self.every = every
        self._spends: list[Spend] = []
        self._publishes: list[bytes] = []  # PUBLISH commands, packed
        self._wake = trio.Event()
        self._next = -math.inf  # trio time before which no tick starts
        self._conn: RespConnection | None = None
        self._conn_ups = 0  # the link's `ups` when it connected
        self.dropped = 0  # publishes lost: Redis down, or too many waiting
        self.ticks = 0  # pipelines sent

    def publish(self, topic: str, data: bytes) -> None:
        """Queue a PUBLISH for the next tick."""
        if not self._link.up or len(self._publishes) >= WAITING:
            self.dropped += 1
            return
        self._publishes.append(hiredis.pack_command(("PUBLISH", topic, data)))
        self._wake.set()

    async def spend(self, bucket: str, capacity: int, period: float) -> float | None:
        """Take a token from `bucket` (a key) in the next tick: 0, or the seconds
        until one is there; None when Redis did not answer."""
        if not self._link.up:
            return None
        spend = Spend(bucket, capacity, period)
        self._spends.append(spend)
        self._wake.set()
        await spend.done.wait()
        return spend.wait

    async def run(self) -> None:
        """The task that sends the ticks."""
        try:
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                while self._spends or self._publishes:
                    if self._spends:
                        await trio.sleep_until(self._next)
                        self._next = trio.current_time() + self.every
                    await self._tick()
        finally:
            for spend in self._spends:
                spend.done.set()  # no answer: their callers use this instance's buckets
            await self._disconnect()

    async def _tick(self) -> None:
        spends, self._spends = self._spends[:SPENDS], self._spends[SPENDS:]
        publishes, self._publishes = self._publishes[:PUBLISHES], self._publishes[PUBLISHES:]
        try:
            if self._link.up:
                waits = await self._send(spends, publishes)
                for spend, wait in zip(spends, waits, strict=True):
                    spend.wait = float(wait)
            else:
                self.dropped += len(publishes)
        except FAILURES as exc:
            self.dropped += len(publishes)
            await self._disconnect()
            self._link.down("conveyor", exc)
        finally:
            for spend in spends:
                spend.done.set()

    async def _send(self, spends: list[Spend], publishes: list[bytes]) -> list[bytes]:
        """One pipeline: the spends' script call first, then the publishes."""
        commands = [self._script("EVALSHA", _SHA, spends)] if spends else []
        commands += publishes
        try:
            with trio.fail_after(COMMAND_WAIT):
                conn = await self._connection()
                await conn.send_packed(b"".join(commands))
                self.ticks += 1  # (counted once sent: what another instance can see)
                replies = await conn.replies(len(commands))
                for reply in replies[1 if spends else 0 :]:
                    raise_error(reply)
                if not spends:
                    return []
                waits = replies[0]
                if isinstance(waits, hiredis.ReplyError) and str(waits).startswith("NOSCRIPT"):
                    # Redis lost the script (restarted, flushed): EVAL loads it again
                    await conn.send_packed(self._script("EVAL", redis_lua.RATE_LIMIT, spends))
                    waits = (await conn.replies(1))[0]
                return raise_error(waits)  # type: ignore[no-any-return]
        except BaseException:
            await self._disconnect()  # cancelled mid-pipeline: replies out of step
            raise

    @staticmethod
    def _script(how: str, script: str, spends: list[Spend]) -> bytes:
        keys = [spend.bucket for spend in spends]
        args = [value for spend in spends for value in spend.limit]
        return hiredis.pack_command((how, script, len(keys), *keys, *args))

    async def _connection(self) -> RespConnection:
        """The connection, opened again if Redis was down since it was opened."""
        if self._conn is not None and self._conn_ups == self._link.ups:
            return self._conn
        await self._disconnect()
        self._conn = await RespConnection.open(self._link.url)
        self._conn_ups = self._link.ups
        return self._conn

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.aclose()
