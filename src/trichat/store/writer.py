"""The group-commit writer both stores share: a bounded queue of write jobs, one
task that takes them in batches and commits each batch at once, and the answers.

What is store-specific is only `commit(batch)`: it runs the batch in one
transaction and sets each job's `result` or `error`; the writer then answers every
job of the batch (after the commit, so an answer means durable). Shutdown is the
same in both stores: `close()` refuses new jobs, `run` commits those queued and
returns, then the store closes its connections.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Generic, TypeVar

import trio

from trichat.errors import StoreUnavailable

T = TypeVar("T")
log = logging.getLogger("trichat.store")

# Group commit pacing: under load a writer starts at most one commit per
# COMMIT_EVERY seconds, so the pause lets the next batch fill and one commit (one
# fsync, one thread hand-off or bridge crossing) serves many writes. A writer that
# is idle, or whose last batch held a single write (one client writing in turn:
# a pause would only slow it), commits at once. 8 ms, not 2: at 2,500 msg/s a
# message's CPU falls ~11 % (the batch's fixed cost, both threads, is shared by ~20
# messages, not ~5) for ~5 ms more at p50; 16 ms gave p99 spikes of 0.5 s
# (docs/performance.md, "Performance IV").
COMMIT_EVERY = 0.008
QUEUE = 4096  # jobs waiting; past this, a write waits for room


async def batches(
    recv: trio.MemoryReceiveChannel[T], max_batch: int, every: float = COMMIT_EVERY
) -> AsyncIterator[list[T]]:
    """Everything queued on `recv` (up to `max_batch`), one batch at a time; after
    a batch of several, the next starts no sooner than `every` seconds after it."""
    started, pace = -math.inf, False
    async for first in recv:
        wait = started + every - trio.current_time()
        if pace and wait > 0:
            await trio.sleep(wait)
        batch = [first]
        while len(batch) < max_batch:
            try:
                batch.append(recv.receive_nowait())
            except trio.WouldBlock:
                break
        started, pace = trio.current_time(), len(batch) > 1
        yield batch


class Job:
    """One write, answered once its batch is committed: its waiting caller woken
    (`submit`), or its `on_done` called by the writer (`submit_soon`). Each store's
    kind of job adds what it carries and sets every slot in its own `__init__` (one
    call per write, not two: the append is the hottest path of the store)."""

    __slots__ = ("done", "error", "on_done", "result")

    done: trio.Event | None  # made by `submit`: the caller waits on it
    on_done: Callable[[Any], None] | None  # set by `submit_soon`: result or error
    error: BaseException | None
    result: Any


J = TypeVar("J", bound=Job)


class Writer(Generic[J]):
    def __init__(
        self,
        name: str,
        commit: Callable[[list[J]], Awaitable[None]],
        max_batch: int,
        queue: int = QUEUE,
    ) -> None:
        self.name = name
        self._commit = commit
        self.max_batch = max_batch
        self._send, self._recv = trio.open_memory_channel[J](queue)
        self.in_flight = 0  # jobs of the batch being committed
        self.committed = 0  # statistics: batches committed
        self.observe_batch: Callable[[int], None] = lambda size: None

    @property
    def pending(self) -> int:
        """Jobs queued or in the batch being committed: not yet answered."""
        return self._recv.statistics().current_buffer_used + self.in_flight

    async def submit(self, job: J) -> Any:
        """Queue `job`; its result once committed, or its error raised."""
        done = job.done = trio.Event()
        await self._queue(job)
        await done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    async def submit_soon(self, job: J, on_done: Callable[[Any], None]) -> None:
        """Queue `job` (waiting only while the queue is full); once it is committed
        the writer's task calls `on_done` with its result, or with the exception
        that failed it. The caller goes on meanwhile: a WebSocket reader is back at
        its socket, with no wake-up of its own for the answer (docs/architecture.md,
        "Tasks")."""
        job.on_done = on_done
        await self._queue(job)

    async def _queue(self, job: J) -> None:
        # with room in the queue, no scheduler round here (`send` would yield once
        # per write: docs/performance.md, session 11)
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self._send.send_nowait(job)
        except trio.WouldBlock:
            await self._send_when_room(job)
        except trio.ClosedResourceError:
            raise StoreUnavailable(f"{self.name}: the store is closing") from None

    async def _send_when_room(self, job: J) -> None:
        try:
            await self._send.send(job)
        except trio.ClosedResourceError:
            raise StoreUnavailable(f"{self.name}: the store is closing") from None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Commit batch after batch until `close()`, and then what is queued."""
        task_status.started()
        async for batch in batches(self._recv, self.max_batch):
            self.in_flight = len(batch)
            await self._commit(batch)
            self.committed += 1
            self.observe_batch(len(batch))
            for job in batch:
                if job.on_done is None:
                    job.done.set()  # type: ignore[union-attr]  # submit made it
                else:
                    _answer(job)
            self.in_flight = 0

    def close(self) -> None:
        """Refuse new jobs (`StoreUnavailable`); `run` still commits those queued.
        Callers waiting for room in a full queue are refused too."""
        self._send.close()


def _answer(job: Job) -> None:
    """A `submit_soon` job's answer. Its callback's failure is a bug to log, never
    the writer's end: the other jobs of the batch are still to be answered."""
    try:
        job.on_done(job.result if job.error is None else job.error)  # type: ignore[misc]
    except Exception:
        log.exception("answering a committed write failed")


@asynccontextmanager
async def running(
    writer: Writer[Any], background: Callable[[], Awaitable[None]]
) -> AsyncIterator[None]:
    """Run `writer` and a `background` task (the checkpointer, the prober) for the
    block; at its end stop `background`, drain the writer and wait for it."""
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        scope = trio.CancelScope()
        nursery.start_soon(_run_in, scope, background)
        try:
            yield
        finally:
            writer.close()
            scope.cancel()


async def _run_in(scope: trio.CancelScope, fn: Callable[[], Awaitable[None]]) -> None:
    with scope:
        await fn()


async def in_thread(fn: Callable[[T], None], arg: T, name: str) -> None:
    """`fn(arg)` in a worker thread; the caller waits, and cannot be cancelled
    meanwhile (a commit that started finishes). What `trio.to_thread.run_sync`
    does for one caller at a time, without its capacity limiter (a checkpoint and a
    task step more per call), context copy and thread bookkeeping: one wake-up when
    the thread is done (docs/performance.md, session 11)."""
    task = trio.lowlevel.current_task()
    token = trio.lowlevel.current_trio_token()

    def deliver(result: Any) -> None:  # in the worker thread: fn's outcome
        token.run_sync_soon(trio.lowlevel.reschedule, task, result)

    trio.lowlevel.start_thread_soon(partial(fn, arg), deliver, name)
    await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)
