"""A latency histogram with ~1 % relative error: log-spaced buckets, mergeable across
processes (a list of counts), no I/O."""

from __future__ import annotations

import math

_STEP = math.log(1.01)
_BUCKETS = int(math.log(100_000_001) / _STEP) + 2  # up to 100 s in microseconds


class Histogram:
    __slots__ = ("count", "counts", "max", "total")

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.count = 0
        self.total = 0
        self.max = 0

    def record(self, micros: int) -> None:
        micros = max(0, micros)
        self.counts[min(_BUCKETS - 1, int(math.log(micros + 1) / _STEP))] += 1
        self.count += 1
        self.total += micros
        if micros > self.max:
            self.max = micros

    def merge(self, other: Histogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)

    def percentile(self, p: float) -> float:
        """The value (µs) below which `p` percent of the samples fall."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(self.count * p / 100))
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                if index == _BUCKETS - 1:  # the overflow bucket: its largest is known
                    return float(self.max)
                middle = math.exp((index + 0.5) * _STEP) - 1
                return min(middle, float(self.max))
        return float(self.max)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def to_wire(self) -> tuple[list[int], int, int, int]:
        return self.counts, self.count, self.total, self.max

    @classmethod
    def from_wire(cls, wire: tuple[list[int], int, int, int]) -> Histogram:
        h = cls()
        h.counts, h.count, h.total, h.max = list(wire[0]), wire[1], wire[2], wire[3]
        return h
