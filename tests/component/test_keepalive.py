"""The instance-wide keep-alive scheduler, on trio's mock clock (time is virtual:
the scheduler's own sleeps are what advance it)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trichat.keepalive import MAX_SLACK, KeepAlive, slack_for


class Conn:
    """Answers a fixed period; records when it was called."""

    def __init__(self, name: str, period: float, calls: list[tuple[str, float]]) -> None:
        self.name = name
        self.period = period
        self.calls = calls
        self.keepalive_due = 0.0
        self.remaining = 1_000

    def keepalive(self, now: float) -> float | None:
        self.calls.append((self.name, round(now, 3)))
        self.remaining -= 1
        return now + self.period if self.remaining > 0 else None


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


async def run_for(keep: KeepAlive, seconds: float) -> None:
    with trio.move_on_after(seconds):
        await keep.run()


async def test_each_connection_is_called_at_its_own_period(
    clock: trio.testing.MockClock,
) -> None:
    calls: list[tuple[str, float]] = []
    keep = KeepAlive()
    t0 = trio.current_time()
    keep.schedule(Conn("a", 1.0, calls), t0 + 1.0)
    keep.schedule(Conn("b", 2.5, calls), t0 + 2.5)
    await run_for(keep, 5.2)
    seen = [(name, round(at - t0, 3)) for name, at in calls]
    assert seen == [
        ("a", 1.0),
        ("a", 2.0),
        ("b", 2.5),
        ("a", 3.0),
        ("a", 4.0),
        ("b", 5.0),  # a tie goes to the entry pushed first
        ("a", 5.0),
    ]


async def test_none_ends_and_rescheduling_supersedes_the_old_entry(
    clock: trio.testing.MockClock,
) -> None:
    calls: list[tuple[str, float]] = []
    keep = KeepAlive()
    t0 = trio.current_time()
    once = Conn("once", 1.0, calls)
    once.remaining = 1
    moved = Conn("moved", 1.0, calls)
    keep.schedule(once, t0 + 0.5)
    keep.schedule(moved, t0 + 3.0)
    keep.schedule(moved, t0 + 0.25)  # e.g. a refreshed token: look again sooner
    await run_for(keep, 3.1)
    seen = [(name, round(at - t0, 3)) for name, at in calls]
    # "once" ran once; the stale 3.0 entry for "moved" was skipped
    assert seen == [("moved", 0.25), ("once", 0.5), ("moved", 1.25), ("moved", 2.25)]


async def test_a_connection_added_while_sleeping_wakes_the_scheduler(
    clock: trio.testing.MockClock,
) -> None:
    calls: list[tuple[str, float]] = []
    keep = KeepAlive()
    t0 = trio.current_time()
    keep.schedule(Conn("late", 100.0, calls), t0 + 100.0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_for, keep, 3.0)
        await trio.sleep(1.0)
        keep.schedule(Conn("early", 10.0, calls), trio.current_time() + 0.5)
    assert [(n, round(at - t0, 3)) for n, at in calls] == [("early", 1.5)]


async def test_calls_due_within_the_slack_share_one_wake_up(
    clock: trio.testing.MockClock,
) -> None:
    calls: list[tuple[str, float]] = []
    keep = KeepAlive(slack=0.5)
    t0 = trio.current_time()
    keep.schedule(Conn("a", 10.0, calls), t0 + 1.0)
    keep.schedule(Conn("b", 10.0, calls), t0 + 1.4)
    keep.schedule(Conn("c", 10.0, calls), t0 + 1.6)
    await run_for(keep, 3.0)
    seen = [(name, round(at - t0, 3)) for name, at in calls]
    # a and b at a's due time plus the slack; c, due after that, half a second late
    assert seen == [("a", 1.5), ("b", 1.5), ("c", 2.1)]


async def test_a_call_due_now_is_not_delayed_by_the_slack(
    clock: trio.testing.MockClock,
) -> None:
    calls: list[tuple[str, float]] = []
    keep = KeepAlive(slack=0.5)
    t0 = trio.current_time()
    keep.schedule(Conn("late", 100.0, calls), t0 + 100.0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_for, keep, 3.0)
        await trio.sleep(1.0)
        keep.schedule(Conn("refreshed", 10.0, calls), trio.current_time())
    assert [(n, round(at - t0, 3)) for n, at in calls] == [("refreshed", 1.0)]


def test_the_slack_is_a_tenth_of_the_ping_interval_at_most_half_a_second() -> None:
    assert slack_for(30.0) == MAX_SLACK == 0.5
    assert slack_for(0.2) == pytest.approx(0.02)
