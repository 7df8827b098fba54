"""This instance's read markers as they move (`LocalMarks`, the memory `Marks` and
the Redis one's fallback): only raised, by user and by channel, held for a TTL."""

from __future__ import annotations

import trio
import trio.testing

from trichat.broker.local import LocalMarks
from trichat.models import ReadMark


def mark(seq: int, user: str = "bob", channel: str = "room") -> ReadMark:
    return ReadMark(channel, user, seq, 1000 + seq)


async def test_a_marker_only_rises() -> None:
    marks = LocalMarks(ttl=10)
    assert marks.raise_mark(mark(3), floor=-1)
    assert not marks.raise_mark(mark(3), floor=-1)  # equal: nothing moves
    assert not marks.raise_mark(mark(2), floor=-1)
    assert not marks.raise_mark(mark(5), floor=5)  # the stored marker is there already
    assert marks.raise_mark(mark(6), floor=5)
    assert marks.raise_mark(mark(1, user="ann"), floor=0)
    assert {c: m.seq for c, m in marks.of_user("bob").items()} == {"room": 6}
    assert {u: m.seq for u, m in marks.of_channel("room").items()} == {"bob": 6, "ann": 1}


async def test_markers_are_held_for_their_ttl(autojump_clock: trio.testing.MockClock) -> None:
    marks = LocalMarks(ttl=10)
    marks.raise_mark(mark(1), floor=-1)
    await trio.sleep(6)
    marks.raise_mark(mark(2, channel="hall"), floor=-1)
    await trio.sleep(5)  # the first is 11 s old, the second 5
    assert list(marks.of_user("bob")) == ["hall"]
    assert marks.of_channel("room") == {}
    assert marks.raise_mark(mark(1), floor=-1)  # expired: a lower move is news again
    await trio.sleep(20)
    assert marks.of_user("bob") == {} and marks.of_channel("hall") == {}
