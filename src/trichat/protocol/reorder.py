"""Seq reorder buffer: releases a channel's events in seq order, exactly once.

Pure bookkeeping. The supervisor offers each event with its seq; what comes back is
ready to deliver, in order. Events ahead of a gap are held; `gap()` names the
missing range so the owner can fetch it from the store once the gap has been open
long enough (`gap_opened_at`, in the owner's clock).
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class SeqReorder(Generic[T]):
    def __init__(self, released: int, *, max_held: int = 10_000) -> None:
        self.released = released  # highest seq handed out
        self.max_held = max_held
        self._held: dict[int, T] = {}
        self.gap_opened_at: float | None = None

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def overfull(self) -> bool:
        return len(self._held) >= self.max_held

    def offer(self, seq: int, item: T, now: float) -> list[T]:
        """Take one event; return the events now releasable, in seq order."""
        if seq <= self.released or seq in self._held:
            return []  # already delivered, or a duplicate of something held
        if seq != self.released + 1:
            self._held[seq] = item
            if self.gap_opened_at is None:
                self.gap_opened_at = now
            return []
        self.released = seq
        ready = [item]
        self._drain(ready)
        return ready

    def _drain(self, ready: list[T]) -> None:
        held = self._held
        while held:
            nxt = held.pop(self.released + 1, None)
            if nxt is None:
                break
            self.released += 1
            ready.append(nxt)
        self.gap_opened_at = None if not held else self.gap_opened_at

    def skip_to(self, seq: int) -> list[T]:
        """Everything up to `seq` counts as released (it was seen before this buffer
        started); returns what that makes releasable after it."""
        if seq <= self.released:
            return []
        for old in [s for s in self._held if s <= seq]:
            del self._held[old]
        self.released = seq
        ready: list[T] = []
        self._drain(ready)
        return ready

    @property
    def highest_held(self) -> int | None:
        """The highest seq held back, if any: every gap lies below it."""
        return max(self._held) if self._held else None

    def gap(self) -> tuple[int, int] | None:
        """The missing range (first, last) before the lowest held seq, if any."""
        if not self._held:
            return None
        return self.released + 1, min(self._held) - 1

    def fill(self, items: list[tuple[int, T]], now: float, *, upto: int) -> list[T]:
        """Accept fetched events for seqs up to `upto`; seqs the store did not
        return (none exist) are skipped. Returns what is now releasable."""
        for seq, item in items:
            if seq > self.released and seq not in self._held:
                self._held[seq] = item
        ready: list[T] = []
        while self.released < upto or (self.released + 1) in self._held:
            nxt = self._held.pop(self.released + 1, None)
            self.released += 1
            if nxt is not None:
                ready.append(nxt)
        self.gap_opened_at = now if self._held else None
        return ready
