"""The one module that touches trio-asyncio: the rest of trichat sees trio functions.

`open_aio_loop()` opens the single asyncio loop that wraps the server (or a test)
and installs an exception handler at once: trio-asyncio's default re-raises every
`loop.call_exception_handler` report into the loop's nursery, so one stray asyncio
warning (an unclosed client, a failed listener callback) would kill the process.
`run(fn, *args)` runs an asyncio coroutine function from trio: one crossing of the
bridge (~75-90 us here), so callers batch work into one coroutine per call.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import trio
import trio_asyncio

log = logging.getLogger("trichat.aio")
T = TypeVar("T")


def _report(loop: Any, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    if isinstance(exc, OSError):  # a driver's connection failing (TimeoutError included)
        log.warning("asyncio: %s: %r", context.get("message"), exc)
    else:
        log.warning("asyncio: %s", context.get("message"), exc_info=exc)


@asynccontextmanager
async def open_aio_loop() -> AsyncIterator[None]:
    """The asyncio loop for the asyncio drivers (asyncpg, redis-py)."""
    async with trio_asyncio.open_loop() as loop:
        loop.set_exception_handler(_report)
        _run_ready_callbacks_together(loop)
        yield


def _run_ready_callbacks_together(loop: Any) -> None:
    """Make the loop run every callback already queued when it wakes, as asyncio's
    own loop does in one pass, instead of one callback per trio checkpoint.

    trio-asyncio's `_main_loop_one` takes one handle and then waits on its queue
    again, a trio checkpoint, so each asyncio callback costs a round of trio's
    scheduler and, on a busy instance, waits behind every other runnable task: one
    asyncpg query is ~26 callbacks, ~16 scheduler rounds (docs/performance.md,
    "Performance II"). An internal API (the loop's `_main_loop_one` and `_q_recv`),
    hence trio-asyncio pinned to the minor version the tests cover."""
    one = loop._main_loop_one  # the bound original; `_main_loop` looks it up per round

    async def main_loop_one(no_wait: bool = False) -> None:
        await one(no_wait)
        if no_wait:  # the loop's own draining at exit, as it was
            return
        for _ in range(loop._q_recv.statistics().current_buffer_used):
            try:
                await one(no_wait=True)
            except trio.WouldBlock:
                return

    loop._main_loop_one = main_loop_one


def loop_is_open() -> bool:
    return trio_asyncio.current_loop.get() is not None


async def run(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Await the asyncio coroutine function `fn(*args)` from trio."""
    return await trio_asyncio.aio_as_trio(fn)(*args)  # type: ignore[no-any-return]
