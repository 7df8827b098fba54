"""What the per-operation scripts here share (`bridge_cost`, `conveyor_cost`,
`pg_pool_cost`): timing an operation over many calls, and printing the table. Run
from the scripts (`bench/` is on `sys.path` when one of them runs)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable


async def per_op(
    n: int,
    fn: Callable[[], Awaitable[object]],
    batch: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """µs of `clock` per operation: `fn()` awaited `n` times after a warm-up, each
    call doing `batch` operations. `time.thread_time` counts this thread's CPU
    only (a slower server does not count); the default is wall time."""
    for _ in range(min(n, 100)):
        await fn()  # warm up
    started = clock()
    for _ in range(n):
        await fn()
    return (clock() - started) / (n * batch) * 1e6


def print_rows(rows: list[tuple[str, float]], unit: str) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"{'operation':<{width}}  {unit}")
    for name, micros in rows:
        print(f"{name:<{width}}  {micros:9.1f}")
