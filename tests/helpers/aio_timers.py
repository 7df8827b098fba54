"""Counting the asyncio timers (and handles) a piece of code queues on the running
trio-asyncio loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio_asyncio


@contextmanager
def counted_timers() -> Iterator[list[int]]:
    """Yield a list holding how many `TimerHandle`s, then how many handles of any
    kind, were queued so far."""
    loop: Any = trio_asyncio.current_loop.get()
    queue = loop._queue_handle
    count = [0, 0]

    def counting(handle: asyncio.Handle) -> asyncio.Handle:
        count[0] += isinstance(handle, asyncio.TimerHandle)
        count[1] += 1
        return queue(handle)  # type: ignore[no-any-return]

    loop._queue_handle = counting
    try:
        yield count
    finally:
        loop._queue_handle = queue
