"""The group-commit writer's plumbing: its queue and its worker thread."""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing

from trichat.errors import StoreUnavailable
from trichat.store.writer import Job, Writer, in_thread


class _Job(Job):
    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value
        self.result = None
        self.error = None
        self.done = None
        self.on_done = None


async def test_in_thread_runs_off_the_trio_thread_and_reports_errors() -> None:
    seen: list[int] = []
    await in_thread(lambda n: seen.extend([n, threading.get_ident()]), 7, "test writer")
    assert seen[0] == 7 and seen[1] != threading.get_ident()

    def fail(_: int) -> None:
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        await in_thread(fail, 0, "test writer")


async def test_in_thread_finishes_what_it_started_when_cancelled() -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    done_when_returned: list[bool] = []

    def commit(_: int) -> None:
        started.set()
        release.wait(5)
        finished.set()

    async def caller() -> None:
        try:
            await in_thread(commit, 0, "test writer")
        finally:
            done_when_returned.append(finished.is_set())

    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(caller)
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(started.wait, 5)
            scope.cancel()  # the commit is under way: the caller keeps waiting for it
            with trio.CancelScope(shield=True):
                await trio.testing.wait_all_tasks_blocked()
            assert done_when_returned == []
            release.set()
    assert done_when_returned == [True]


async def test_submit_answers_after_the_commit_and_refuses_once_closed() -> None:
    committed: list[list[int]] = []

    async def commit(batch: list[_Job]) -> None:
        await trio.lowlevel.checkpoint()
        committed.append([job.value for job in batch])
        for job in batch:
            job.result = job.value * 10

    writer = Writer[_Job]("test", commit, max_batch=10)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        results = [await writer.submit(_Job(n)) for n in (1, 2)]
        assert results == [10, 20] and committed == [[1], [2]]
        writer.close()
        with pytest.raises(StoreUnavailable, match="closing"):
            await writer.submit(_Job(3))


async def test_a_full_queue_makes_submit_wait_for_room() -> None:
    gate = trio.Event()

    async def commit(batch: list[_Job]) -> None:
        await gate.wait()

    writer = Writer[_Job]("test", commit, max_batch=1, queue=4)
    answered: list[int] = []
    all_answered = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)

        async def submit(n: int) -> None:
            answered.append(await writer.submit(_Job(n)) or n)
            if len(answered) == 8:
                all_answered.set()

        for n in range(8):  # one in the commit, four queued, three waiting for room
            nursery.start_soon(submit, n)
        await trio.testing.wait_all_tasks_blocked()
        assert writer.pending == 5 and answered == []
        gate.set()
        await all_answered.wait()
        writer.close()
    assert sorted(answered) == list(range(8))
