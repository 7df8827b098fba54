"""One task keeps every connection of the instance alive: pings, pong timeouts and
token expiry, from a heap of due times.

A task per connection for this (the first design) cost each idle connection a
task, its coroutine chain, a cancel scope and a timer, and the collector walked
them all (docs/performance.md, "Idle connections"). Here a connection is one heap
entry: `schedule` pushes its next due time, the task pops what is due, calls the
connection's `keepalive(now)`, which does what is due and answers its next due
time (None once it has ended), and pushes that. A stale entry (the connection was
rescheduled since) is skipped.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import Protocol

import trio


class KeptAlive(Protocol):
    keepalive_due: float

    def keepalive(self, now: float) -> float | None:
        """Do what is due at trio time `now`; return the next due time or None."""


class KeepAlive:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, KeptAlive]] = []
        self._order = itertools.count()
        self._sleeping_until = math.inf
        self._wake = trio.Event()

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, conn: KeptAlive, due: float) -> None:
        conn.keepalive_due = due
        heapq.heappush(self._heap, (due, next(self._order), conn))
        if due < self._sleeping_until:
            self._wake.set()

    async def run(self) -> None:
        heap = self._heap
        while True:
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                due, _, conn = heapq.heappop(heap)
                if due != conn.keepalive_due:
                    continue  # rescheduled since: a newer entry stands for it
                following = conn.keepalive(now)
                if following is not None:
                    self.schedule(conn, max(following, now + 0.001))
            self._sleeping_until = heap[0][0] if heap else math.inf
            self._wake = trio.Event()
            with trio.move_on_at(self._sleeping_until):
                await self._wake.wait()
