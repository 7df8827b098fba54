"""One channel's delivery state, sans-IO: who is in it, what was released, what is
held back, and when something is due.

`ChannelState` is the only owner of a channel's members, floors, reorder buffer,
recent frames and deadlines. Every change goes through one of its methods, none of
which blocks or awaits; each takes the time (`now`, in the caller's clock) rather
than reading one. What to do comes back as data:

- `offer(event, now)` → a list of `Deliver` (these bytes to these members) and
  `Remove` (these members are out, send them this frame);
- `next_fill(now)` → a `Fill` when the store must be read (a gap held for `gap_hold`, or
  a resync), and `filled(...)` takes the store's answer;
- `deadline` → when `next_fill` or `expired` next changes without any other call.

The hub's supervisor task (`hub.py`) runs it on trio's clock and does the I/O;
unit tests drive it with plain numbers.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from trichat.models import LogEvent, Message
from trichat.protocol.events import CLOSED, KICK, MESSAGE, RECEIPT, TYPING, Event
from trichat.protocol.frames import encode_left, encode_log_event, ws_frame
from trichat.protocol.reorder import SeqReorder

GAP_HOLD = 0.25  # seconds a seq gap may stay open before the store is read
LINGER = 5.0  # seconds a channel with no members stays, to absorb rejoin churn
RECENT = 128  # released frames kept to catch up a joining member


class Outlet(Protocol):
    def offer(self, data: bytes) -> None: ...


class Member(Protocol):
    id: int
    user_id: str
    outbox: Outlet

    def removed(self, channel_id: str) -> None:
        """The channel took this member out (ban, kick, channel closed)."""


@dataclass(slots=True)
class Deliver:
    """Offer `frame` to each of `to`. `seq`/`stamp`: the message's, else 0."""

    frame: bytes
    to: list[Member]
    seq: int = 0
    stamp: int = 0


@dataclass(slots=True)
class Remove:
    """`members` are out of the channel: offer each `frame`, then tell them."""

    frame: bytes
    members: list[Member]


@dataclass(slots=True)
class Fill:
    """Read the store's messages after `after`, up to `upto` (None: up to the
    channel's last seq, which the reader must look up). `resync`: why."""

    after: int
    upto: int | None
    resync: bool


Action = Deliver | Remove
# a log entry to release: (seq, stamp, the encoded frame's payload)
_Item = tuple[int, int, bytes]


class ChannelState:
    def __init__(
        self,
        channel_id: str,
        released: int,
        *,
        gap_hold: float = GAP_HOLD,
        linger: float = LINGER,
        recent: int = RECENT,
    ) -> None:
        self.channel_id = channel_id
        self.gap_hold = gap_hold
        self.linger = linger
        self.members: dict[int, Member] = {}
        # members attached having seen seqs not released here yet (they read them
        # elsewhere): member id → the last seq they have seen
        self.floors: dict[int, int] = {}
        self.refs = 0  # members plus joins in progress: the channel stays while > 0
        self.idle_since: float | None = None
        self.recent: deque[tuple[int, bytes]] = deque(maxlen=recent)
        self.reorder: SeqReorder[_Item] = SeqReorder(released)
        self.resync = False  # the store must be read up to its last seq
        self.retry_at = -math.inf  # a failed fill is not retried before this
        self.tail = 0  # the store's last seq at the previous tail check

    @property
    def released(self) -> int:
        return self.reorder.released

    def start(self, last_seq: int) -> list[Action]:
        """The store's last seq when the channel's events began to arrive: every
        seq up to it was delivered before (events that came meanwhile are kept)."""
        return [self._release(*ready) for ready in self.reorder.skip_to(last_seq)]

    # ---- members ------------------------------------------------------------------

    def hold(self) -> None:
        """A join is starting (or a member stays): the channel must not expire."""
        self.refs += 1
        self.idle_since = None

    def release(self, now: float) -> None:
        self.refs -= 1
        if self.refs <= 0 and self.idle_since is None:
            self.idle_since = now

    def attach(self, member: Member, seen: int) -> list[bytes] | int:
        """Add `member`, who has seen every seq up to `seen`. Returns the recent
        frames it must be sent first, or — when those do not reach back far enough —
        the seq after which it must read the store before trying again."""
        catch_up: list[bytes] = []
        if seen < self.released:
            oldest = self.recent[0][0] if self.recent else self.released + 1
            if seen + 1 < oldest:
                return seen
            catch_up = [frame for seq, frame in self.recent if seq > seen]
        elif seen > self.released:
            self.floors[member.id] = seen
        self.members[member.id] = member
        return catch_up

    def detach(self, member: Member) -> None:
        self.members.pop(member.id, None)
        self.floors.pop(member.id, None)

    # ---- events -------------------------------------------------------------------

    def offer(self, event: Event, now: float) -> list[Action]:
        kind = event.kind
        if kind == MESSAGE:
            item = (event.seq, event.stamp, event.payload)
            actions = [self._release(*ready) for ready in self.reorder.offer(event.seq, item, now)]
            if self.reorder.overfull:
                self.resync = True
            return actions
        if kind == KICK:
            who = event.user_id
            return self._remove([m for m in self.members.values() if m.user_id == who], event)
        if kind == CLOSED:
            return self._remove(list(self.members.values()), event)
        skip = event.user_id if kind in (TYPING, RECEIPT) else None
        to = [m for m in self.members.values() if m.user_id != skip]
        return [Deliver(ws_frame(event.payload), to)]

    def _release(self, seq: int, stamp: int, payload: bytes) -> Deliver:
        """Log entry `seq` is next in order: to every member that has not seen it."""
        frame = ws_frame(payload)
        if self.floors:
            floors = self.floors
            to = [m for m in self.members.values() if floors.get(m.id, 0) < seq]
            self.floors = {k: v for k, v in floors.items() if v > seq}
        else:
            to = list(self.members.values())
        self.recent.append((seq, frame))
        return Deliver(frame, to, seq, stamp)

    def _remove(self, members: list[Member], event: Event) -> list[Action]:
        reason = event.reason or ("channel_closed" if event.kind == CLOSED else "banned")
        for member in members:
            self.detach(member)
        return [Remove(ws_frame(encode_left(self.channel_id, reason)), members)] if members else []

    # ---- the store ----------------------------------------------------------------

    @property
    def deadline(self) -> float:
        """When `next_fill` or `expired` may next answer differently on its own."""
        idle = math.inf if self.idle_since is None else self.idle_since + self.linger
        return min(self._fill_at(), idle)

    def _fill_at(self) -> float:
        if self.resync:
            return self.retry_at
        opened = self.reorder.gap_opened_at
        return math.inf if opened is None else max(opened + self.gap_hold, self.retry_at)

    def next_fill(self, now: float) -> Fill | None:
        """The store read to make now, if any; a resync asked for is taken by it (one
        asked for while the read runs makes another)."""
        if now < self._fill_at():
            return None
        upto = self.reorder.highest_held
        fill = Fill(self.released, None if self.resync or upto is None else upto, self.resync)
        self.resync = False
        return fill

    def filled(
        self, rows: Sequence[Message | LogEvent], now: float, *, upto: int, complete: bool
    ) -> list[Action]:
        """The store's log after `released` (messages in current state, a deleted
        one included), for seqs up to `upto`. `complete`: the read was not cut
        short by its limit, so a seq up to `upto` it did not return does not exist
        and is skipped."""
        items = [(m.seq, (m.seq, m.created_at, encode_log_event(m))) for m in rows if m.seq <= upto]
        last = upto if complete or len(items) < len(rows) or not items else items[-1][0]
        return [self._release(*ready) for ready in self.reorder.fill(items, now, upto=last)]

    def fill_failed(self, now: float) -> None:
        """The store did not answer: read again, after `gap_hold`, up to its last seq."""
        self.resync = True
        self.retry_at = now + self.gap_hold

    def check_tail(self, tail: int) -> bool:
        """The store's last seq, read every tail round. True (and a resync is due)
        when this channel is behind a tail already seen on the previous round: a
        publish still in flight is not a loss, one missing for a round is."""
        behind = self.released < min(tail, self.tail)
        self.tail = tail
        if behind:
            self.resync = True
        return behind

    def want_resync(self) -> None:
        self.resync = True

    def expired(self, now: float) -> bool:
        idle = self.idle_since
        return self.refs <= 0 and idle is not None and now >= idle + self.linger
