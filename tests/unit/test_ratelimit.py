from __future__ import annotations

import pytest

from trichat.protocol.ratelimit import TokenBucket


def test_full_minute_at_once_then_refill() -> None:
    bucket = TokenBucket(20, 60.0, now=0.0)
    assert all(bucket.take(0.0) == 0.0 for _ in range(20))
    wait = bucket.take(0.0)
    assert wait == pytest.approx(3.0)  # one token every 3 s
    assert bucket.take(2.9) > 0
    assert bucket.take(3.0) == 0.0
    assert bucket.take(3.0) == pytest.approx(3.0)


def test_never_above_capacity() -> None:
    bucket = TokenBucket(5, 60.0, now=0.0)
    bucket.take(0.0)
    assert bucket.full_at(1000.0) == 1000.0
    assert sum(bucket.take(1000.0) == 0.0 for _ in range(10)) == 5


def test_clock_going_backwards_is_harmless() -> None:
    bucket = TokenBucket(1, 1.0, now=10.0)
    assert bucket.take(10.0) == 0.0
    assert bucket.take(5.0) > 0
