"""The coalesced writes of read markers (SPEC §7): at most one stored move per user
per channel per second, the first at once, the latest position always written
(trailing edge), kept through a store outage and flushed at shutdown. On a real
SQLite store, with trio's clock frozen and moved by the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from tests.component.stores import draft, new_channel
from trichat.errors import StoreUnavailable
from trichat.models import ReadMark
from trichat.service.read_flush import EVERY, ReadFlusher
from trichat.store.sqlite import SqliteStore, open_sqlite_store


class Recording:
    """The real store, recording each batch of moves it is given (and refusing
    them while `down`)."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.batches: list[list[tuple[str, int]]] = []
        self.down = False
        self.answered = 0
        self._changed = trio.Event()

    async def put_reads(self, moves: Sequence[ReadMark]) -> None:
        self.batches.append([(m.user_id, m.seq) for m in moves])
        try:
            if self.down:
                raise StoreUnavailable("down for the test")
            await self.store.put_reads(moves)
        finally:
            self.answered += 1
            self._changed.set()
            self._changed = trio.Event()

    async def answered_all(self) -> None:
        """Every batch given so far has been answered (the writes run in a thread)."""
        while self.answered < len(self.batches):
            await self._changed.wait()


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(rate=0, autojump_threshold=1.0)  # moved by the test


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with open_sqlite_store(tmp_path) as store:
        yield store


async def channel_of(store: SqliteStore, messages: int = 10) -> str:
    cid = await new_channel(store)
    for n in range(messages):
        await store.append(draft(cid, n))
    return cid


async def stored(store: SqliteStore, cid: str, user: str) -> int | None:
    marks = await store.read_marks(user, [cid])
    return marks[0].seq if marks else None


async def test_one_write_a_second_and_the_last_position_wins(
    store: SqliteStore, clock: trio.testing.MockClock
) -> None:
    cid = await channel_of(store)
    spy = Recording(store)
    flusher = ReadFlusher(spy)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(flusher.run)
        flusher.add(ReadMark(cid, "bob", 1, 0))
        await trio.testing.wait_all_tasks_blocked()
        assert spy.batches == [[("bob", 1)]]  # the leading edge: at once
        await spy.answered_all()
        for seq in (2, 3, 4):  # within the second: held, coalesced
            clock.jump(0.2)
            flusher.add(ReadMark(cid, "bob", seq, 0))
            flusher.add(ReadMark(cid, "bob", seq - 1, 0))  # never lower
            await trio.testing.wait_all_tasks_blocked()
        flusher.add(ReadMark(cid, "ann", 7, 0))  # another marker: not held back
        await trio.testing.wait_all_tasks_blocked()
        assert spy.batches == [[("bob", 1)], [("ann", 7)]]
        await spy.answered_all()
        clock.jump(EVERY - 0.6)  # a second after bob's first write
        await trio.testing.wait_all_tasks_blocked()
        assert spy.batches[2:] == [[("bob", 4)]]  # the trailing edge: the latest
        await spy.answered_all()
        assert await stored(store, cid, "bob") == 4
        clock.jump(10)
        await trio.testing.wait_all_tasks_blocked()
        assert len(spy.batches) == 3 and not flusher.waiting
        nursery.cancel_scope.cancel()


async def test_a_refused_write_is_kept_and_retried(
    store: SqliteStore, clock: trio.testing.MockClock
) -> None:
    cid = await channel_of(store)
    spy = Recording(store)
    spy.down = True
    flusher = ReadFlusher(spy)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(flusher.run)
        flusher.add(ReadMark(cid, "bob", 1, 0))
        await trio.testing.wait_all_tasks_blocked()
        await spy.answered_all()
        flusher.add(ReadMark(cid, "bob", 2, 0))
        spy.down = False
        clock.jump(EVERY)
        await trio.testing.wait_all_tasks_blocked()
        assert spy.batches == [[("bob", 1)], [("bob", 2)]]
        await spy.answered_all()
        assert await stored(store, cid, "bob") == 2
        nursery.cancel_scope.cancel()


async def test_flush_writes_everything_waiting(
    store: SqliteStore, clock: trio.testing.MockClock
) -> None:
    cid = await new_channel(store)
    flusher = ReadFlusher(store)
    flusher.add(ReadMark(cid, "bob", 0, 0))
    flusher.add(ReadMark(cid, "ann", 0, 0))
    await flusher.flush()  # no task ran: shutdown writes what waits, throttle or not
    assert (await stored(store, cid, "bob"), await stored(store, cid, "ann")) == (0, 0)
    assert not flusher.waiting and flusher.writes == 1
