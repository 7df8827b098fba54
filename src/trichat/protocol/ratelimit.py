"""Token bucket: `capacity` tokens, refilled at `capacity` per `period`. Pure: the
caller passes the clock, so tests need no sleeping."""

from __future__ import annotations

_EPSILON = 1e-9


class TokenBucket:
    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, capacity: float, period: float, now: float) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / period  # tokens per second
        self.tokens = float(capacity)
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, now: float) -> float:
        """Spend one token: 0.0 when allowed, else seconds until one is available."""
        self._refill(now)
        if self.tokens >= 1.0 - _EPSILON:  # a client waiting exactly retry_after gets in
            self.tokens = max(0.0, self.tokens - 1.0)
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def full_at(self, now: float) -> float:
        """When the bucket will be full again (for forgetting idle buckets)."""
        self._refill(now)
        return now + (self.capacity - self.tokens) / self.rate
