"""Coalescing read markers' writes (SPEC §7): at most one stored move per user per
channel per second, and the latest position always written.

A move is answered at once from `Marks` (shared by the instances); here it only
waits for its write. A marker not written within the last `EVERY` seconds is
written at once (the leading edge); one moved again sooner waits until a second
after its last write and is written then at its latest seq (the trailing edge).
Due moves are written together, one store call. A write the store refuses is
kept (a later move of the same marker only raises it) and tried again after
`EVERY`. At shutdown `flush` writes everything still waiting, whatever its time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import trio

from trichat.errors import StoreUnavailable
from trichat.models import ReadMark
from trichat.store.base import Store

log = logging.getLogger("trichat.service")

EVERY = 1.0  # seconds: one stored move per marker per this

_Key = tuple[str, str]  # (channel, user)


class ReadFlusher:
    def __init__(self, store: Store, clock: Callable[[], float] = trio.current_time) -> None:
        self._store = store
        self._clock = clock
        self.waiting: dict[_Key, ReadMark] = {}  # the latest move of each marker not written
        self._written: dict[_Key, float] = {}  # when each was last written (or tried)
        self._wake = trio.Event()
        self.writes = 0  # store calls made (each writes a batch)

    def add(self, mark: ReadMark) -> None:
        key = (mark.channel_id, mark.user_id)
        held = self.waiting.get(key)
        if held is None or mark.seq > held.seq:
            self.waiting[key] = mark
        self._wake.set()

    def _due_at(self, key: _Key) -> float:
        return self._written.get(key, -math.inf) + EVERY

    def _take_due(self, now: float) -> list[ReadMark]:
        due = [key for key in self.waiting if self._due_at(key) <= now]
        return [self.waiting.pop(key) for key in due]

    async def run(self) -> None:
        """For the instance's life: write each marker as it falls due."""
        while True:
            now = self._clock()
            batch = self._take_due(now)
            if batch:
                await self._write(batch, now)
                continue
            self._forget(now)
            self._wake = trio.Event()
            nearest = min((self._due_at(k) for k in self.waiting), default=math.inf)
            with trio.move_on_after(max(0.0, nearest - now)):
                await self._wake.wait()

    async def flush(self) -> None:
        """Write every waiting move now (shutdown)."""
        batch, self.waiting = list(self.waiting.values()), {}
        if batch:
            await self._write(batch, self._clock())

    async def _write(self, batch: list[ReadMark], now: float) -> None:
        for mark in batch:
            self._written[(mark.channel_id, mark.user_id)] = now
        self.writes += 1
        try:
            await self._store.put_reads(batch)
        except StoreUnavailable as exc:
            log.warning("read markers not stored yet (%d): %s", len(batch), exc)
            for mark in batch:
                self.add(mark)  # a newer move of the same marker wins

    def _forget(self, now: float) -> None:
        """Markers written over `EVERY` ago no longer hold anything back."""
        if len(self._written) > len(self.waiting):
            stale = [k for k, at in self._written.items() if at + EVERY <= now]
            for key in stale:
                if key not in self.waiting:
                    del self._written[key]
