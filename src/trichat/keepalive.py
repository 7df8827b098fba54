"""One task keeps every connection of the instance alive: pings, pong timeouts and
token expiry, from a heap of due times.

A task per connection for this (the first design) cost each idle connection a
task, its coroutine chain, a cancel scope and a timer, and the collector walked
them all (docs/performance.md, "Idle connections"). Here a connection is one heap
entry: `schedule` pushes its next due time, the task pops what is due, calls the
connection's `keepalive(now)`, which does what is due and answers its next due
time (None once it has ended), and pushes that. A stale entry (the connection was
rescheduled since) is skipped.

Timer slack: the task sleeps until the first due time plus `slack`, then calls
everything due by then, so calls due close together share one wake-up (as the
kernel's timer slack does). Connections open at scattered moments, so their pings
are due at scattered moments: 2,000 idle connections pinged every 30 s woke the
task ~67 times a second, and one ping with its pong cost ~420 µs of CPU; with
0.5 s of slack ~33 pings share a wake-up and one costs ~80 (docs/performance.md,
"Keep-alive: timer slack"). A call comes at most `slack` late: a ping, a pong
timeout or a token's expiry.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import Protocol

import trio

MAX_SLACK = 0.5  # seconds: the most a keep-alive call waits to share a wake-up


def slack_for(ping_interval: float) -> float:
    """The slack for connections pinged every `ping_interval` seconds."""
    return min(MAX_SLACK, ping_interval / 10)


class KeptAlive(Protocol):
    keepalive_due: float

    def keepalive(self, now: float) -> float | None:
        """Do what is due at trio time `now`; return the next due time or None."""


class KeepAlive:
    def __init__(self, slack: float = 0.0) -> None:
        self._slack = slack
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
            self._sleeping_until = heap[0][0] + self._slack if heap else math.inf
            self._wake = trio.Event()
            with trio.move_on_at(self._sleeping_until):
                await self._wake.wait()
