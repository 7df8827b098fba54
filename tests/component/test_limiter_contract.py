"""The `RateLimiter` contract, run against every implementation (in-process and
Redis), as one instance sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from tests.component.backends import KINDS, open_backends
from trichat.broker.base import RateLimiter


@pytest.fixture(params=KINDS)
async def limits(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    async with open_backends(request) as (_, _, limits):
        yield limits


async def test_rate_limit_is_a_token_bucket(limits: RateLimiter) -> None:
    assert [await limits.spend("k", 3, 60.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await limits.spend("k", 3, 60.0)
    assert 19.0 < wait <= 20.0  # one token every 20 s
    assert await limits.spend("other", 3, 60.0) == 0.0  # buckets are per key


async def test_a_refused_spend_takes_no_token(limits: RateLimiter) -> None:
    assert await limits.spend("k", 1, 60.0) == 0.0
    first = await limits.spend("k", 1, 60.0)
    second = await limits.spend("k", 1, 60.0)
    assert 59.0 < second <= first <= 60.0  # still waiting for the same token


async def test_a_token_comes_back_after_the_wait(limits: RateLimiter) -> None:
    assert await limits.spend("k", 1, 0.2) == 0.0
    wait = await limits.spend("k", 1, 0.2)
    assert 0.0 < wait <= 0.2
    await trio.sleep(wait)  # the refill under test, not a synchronization
    assert await limits.spend("k", 1, 0.2) == 0.0
