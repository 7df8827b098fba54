"""A channel's delivery state, driven with plain numbers: no trio, no store."""

from __future__ import annotations

import math

import orjson

from trichat.broker.base import CLOSED, KICK, MESSAGE, PRESENCE, RECEIPT, TYPING, Event
from trichat.models import Message
from trichat.protocol.channel import ChannelState, Deliver, Fill, Remove
from trichat.protocol.frames import encode_message

CID = "c"


class Outlet:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def offer(self, data: bytes) -> None:
        self.frames.append(data)


class Person:
    def __init__(self, member_id: int, user_id: str) -> None:
        self.id = member_id
        self.user_id = user_id
        self.outbox = Outlet()
        self.removed_from: list[str] = []

    def removed(self, channel_id: str) -> None:
        self.removed_from.append(channel_id)


def message(seq: int, *, deleted: bool = False) -> Message:
    content = "" if deleted else f"t{seq}"
    return Message(CID, seq, f"m{seq}", "u", "u", None, None, content, "user", 1000 + seq, deleted)


def event(seq: int) -> Event:
    return Event(MESSAGE, CID, seq, encode_message(message(seq)), stamp=1000 + seq)


def seqs(actions: list[Deliver | Remove]) -> list[int]:
    return [a.seq for a in actions if isinstance(a, Deliver)]


def payload(frame: bytes) -> dict[str, object]:
    return orjson.loads(frame[2:] if frame[1] < 126 else frame[4:])


def joined(*people: Person, released: int = 0) -> ChannelState:
    state = ChannelState(CID, released, gap_hold=0.25, linger=5.0, recent=4)
    for person in people:
        state.hold()
        assert state.attach(person, released) == []
    return state


def test_in_order_messages_are_delivered_at_once_to_every_member() -> None:
    a, b = Person(1, "a"), Person(2, "b")
    state = joined(a, b)
    actions = state.offer(event(1), now=0.0)
    assert seqs(actions) == [1]
    deliver = actions[0]
    assert isinstance(deliver, Deliver) and deliver.to == [a, b] and deliver.stamp == 1001
    assert payload(deliver.frame)["content"] == "t1"
    assert state.offer(event(1), now=0.0) == []  # a duplicate is dropped
    assert state.deadline == math.inf and state.next_fill(100.0) is None


def test_a_gap_is_held_then_read_from_the_store_after_the_hold() -> None:
    state = joined(Person(1, "a"))
    assert state.offer(event(3), now=10.0) == []
    assert state.deadline == 10.25
    assert state.next_fill(10.2) is None
    assert seqs(state.offer(event(1), now=10.1)) == [1]  # the gap's start healed
    fill = state.next_fill(10.25)
    assert fill == Fill(after=1, upto=3, resync=False)
    actions = state.filled([message(2), message(3)], now=10.3, upto=3, complete=True)
    assert seqs(actions) == [2, 3]
    assert state.released == 3 and state.deadline == math.inf


def test_a_fill_skips_seqs_the_store_does_not_have_and_sends_deleted_ones_as_they_are() -> None:
    a = Person(1, "a")
    state = joined(a)
    state.offer(event(4), now=0.0)
    cut = state.filled([message(1)], now=1.0, upto=4, complete=False)  # a batch's limit
    assert seqs(cut) == [1] and state.released == 1
    actions = state.filled([message(2, deleted=True)], now=1.0, upto=4, complete=True)
    assert [(x.seq, x.to) for x in actions if isinstance(x, Deliver)] == [(2, [a]), (4, [a])]
    deleted = payload(actions[0].frame)  # type: ignore[union-attr]
    assert deleted["deleted"] is True and deleted["content"] == ""  # in its current state
    assert state.released == 4


def test_a_failed_fill_becomes_a_resync_retried_after_the_hold() -> None:
    state = joined(Person(1, "a"))
    state.offer(event(2), now=0.0)
    assert state.next_fill(0.25) is not None
    state.fill_failed(now=0.3)
    assert state.deadline == 0.55 and state.next_fill(0.5) is None
    assert state.next_fill(0.55) == Fill(after=0, upto=None, resync=True)
    assert state.next_fill(0.6) == Fill(after=0, upto=2, resync=False)  # the gap is still held


def test_a_resync_asked_for_during_a_fill_is_not_lost() -> None:
    state = joined(Person(1, "a"))
    state.want_resync()
    assert state.deadline == -math.inf
    assert state.next_fill(0.0) == Fill(after=0, upto=None, resync=True)
    state.want_resync()  # the tail watcher, while the first read runs
    assert state.next_fill(0.0) == Fill(after=0, upto=None, resync=True)
    assert state.next_fill(0.0) is None


def test_the_tail_check_resyncs_only_when_behind_a_tail_seen_a_round_ago() -> None:
    state = joined(Person(1, "a"))
    assert not state.check_tail(3)  # maybe still in flight
    assert state.check_tail(3)  # a round later, still not here: lost
    assert state.next_fill(0.0) == Fill(after=0, upto=None, resync=True)


def test_attach_catches_up_from_recent_frames_or_asks_for_the_store() -> None:
    state = joined(Person(1, "a"))
    for seq in range(1, 7):
        state.offer(event(seq), now=0.0)
    late = Person(2, "b")
    assert [payload(f)["seq"] for f in state.attach(late, 4)] == [5, 6]
    assert state.attach(Person(3, "c"), 1) == 1  # only 3..6 are kept: read after 1 first
    ahead = Person(4, "d")
    assert state.attach(ahead, 8) == []  # saw up to 8 elsewhere
    for seq in (7, 8, 9):
        to = state.offer(event(seq), now=0.0)[0]
        assert isinstance(to, Deliver) and (ahead in to.to) == (seq == 9)
    assert state.floors == {}


def test_typing_and_receipts_are_not_echoed_and_presence_goes_to_everyone() -> None:
    a, b = Person(1, "a"), Person(2, "b")
    state = joined(a, b)
    typing = state.offer(Event(TYPING, CID, payload=b"{}", user_id="a"), now=0.0)
    assert [x.to for x in typing if isinstance(x, Deliver)] == [[b]]
    presence = state.offer(Event(PRESENCE, CID, payload=b"{}", user_id="a"), now=0.0)
    assert [x.to for x in presence if isinstance(x, Deliver)] == [[a, b]]
    # a read receipt goes to the other members: a's own devices get the full `read`
    # on their personal stream instead
    receipt = state.offer(Event(RECEIPT, CID, payload=b"{}", user_id="a"), now=0.0)
    assert [x.to for x in receipt if isinstance(x, Deliver)] == [[b]]


def test_a_kick_removes_that_user_with_its_reason_and_close_removes_all() -> None:
    a, a2, b = Person(1, "a"), Person(2, "a"), Person(3, "b")
    state = joined(a, a2, b)
    [kick] = state.offer(Event(KICK, CID, user_id="a", reason="removed"), now=0.0)
    assert isinstance(kick, Remove) and kick.members == [a, a2]
    assert payload(kick.frame) == {"type": "left", "channel_id": CID, "reason": "removed"}
    assert list(state.members) == [3]
    assert state.offer(Event(KICK, CID, user_id="nobody"), now=0.0) == []
    [closed] = state.offer(Event(CLOSED, CID), now=0.0)
    assert isinstance(closed, Remove) and closed.members == [b]
    assert payload(closed.frame)["reason"] == "channel_closed" and not state.members


def test_a_channel_expires_after_lingering_with_no_one_in_it() -> None:
    a = Person(1, "a")
    state = joined(a)
    state.detach(a)
    state.release(now=20.0)
    assert state.deadline == 25.0 and not state.expired(24.9)
    state.hold()  # a rejoin within the linger keeps it
    assert state.deadline == math.inf and not state.expired(30.0)
    state.release(now=30.0)
    assert state.expired(35.0)


def test_events_that_came_before_the_start_read_are_kept() -> None:
    state = ChannelState(CID, 0)
    state.offer(event(11), now=0.0)  # subscribed, the last seq not read yet
    state.offer(event(9), now=0.0)
    assert seqs(state.start(10)) == [11]
    assert state.released == 11 and state.reorder.held == 0
