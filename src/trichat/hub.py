"""Channel supervisors and the broker bridge.

One supervisor task per channel with local members. It alone owns that channel's
member set; it takes the channel's events from its bounded inbox, releases them in
seq order (holding a gap for `GAP_HOLD` seconds, then reading the store), frames
each one once, and offers the same bytes to every member's outbox.

The bridge task is this instance's one consumer of `broker.events()`; it routes
each event to its channel's supervisor (`Supervisor.take`): handled on the spot
when that supervisor is parked on an empty inbox, else queued with `send_nowait`.
A full inbox drops the event and marks the supervisor for a resync from the store,
so the bridge never waits for a slow channel.

A gap only shows when a later message arrives. The tail watcher covers the last
message of a burst whose publish was lost (an instance killed between commit and
publish): every `TAIL_EVERY` seconds it reads the last seq of every channel with a
supervisor in one store read, and resyncs a supervisor that is still behind a
tail it already saw on the previous round (so a publish in flight is not a gap).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import deque
from typing import Protocol

import trio

from trichat.broker.base import CLOSED, KICK, MESSAGE, RESYNC, TYPING, Broker, Event
from trichat.metrics import Metrics
from trichat.models import now_ms
from trichat.outbox import Outbox
from trichat.protocol.frames import encode_left, encode_message, ws_frame
from trichat.protocol.reorder import SeqReorder
from trichat.store.base import Store

log = logging.getLogger("trichat.hub")

INBOX = 4096  # events per supervisor inbox; overflow → resync from the store
GAP_HOLD = 0.25  # seconds a seq gap may stay open before the store is read
LINGER = 5.0  # seconds a supervisor with no members stays, to absorb rejoin churn
RECENT = 128  # released frames kept per channel to catch up a joining member
FILL_BATCH = 500
TAIL_EVERY = 1.0  # seconds between tail checks: a lost last publish heals in ≤ 2 rounds


class Member(Protocol):
    id: int
    user_id: str
    outbox: Outbox

    def removed(self, channel_id: str) -> None:
        """The supervisor took this member out of the channel (ban, channel closed)."""


class Supervisor:
    def __init__(self, hub: Hub, channel_id: str) -> None:
        self.hub = hub
        self.channel_id = channel_id
        self.members: dict[int, Member] = {}
        # members attached having seen seqs this supervisor has not released yet
        # (they read them elsewhere): member id → the last seq they have seen
        self.floors: dict[int, int] = {}
        self.refs = 0  # members plus joins in progress
        self.inbox_send, self.inbox_recv = trio.open_memory_channel[Event](INBOX)
        self.recent: deque[tuple[int, bytes]] = deque(maxlen=RECENT)
        self.reorder: SeqReorder[tuple[int, int, bytes | None]] = SeqReorder(0)
        self.resync = False
        # parked on an empty inbox: the bridge may handle an event itself (`take`)
        self.waiting = False
        self.tail = 0  # the store's last seq at the tail watcher's previous round
        self.ready = trio.Event()
        self.failed: BaseException | None = None

    @property
    def released(self) -> int:
        return self.reorder.released

    # ---- called synchronously by connections ------------------------------------

    def attach(self, member: Member, seen: int) -> int | None:
        """Add `member`, who has seen every seq up to `seen`, catching it up from the
        recent frames. Returns None when attached, or the seq it must read from the
        store first (the recent frames do not reach back far enough)."""
        if seen < self.released:
            oldest = self.recent[0][0] if self.recent else self.released + 1
            if seen + 1 < oldest:
                return seen
            for seq, frame in self.recent:
                if seq > seen:
                    member.outbox.offer(frame)
        elif seen > self.released:
            self.floors[member.id] = seen
        self.members[member.id] = member
        return None

    def take(self, event: Event) -> None:
        """The bridge's hand-over. When the task is parked on an empty inbox, the
        event is handled right here: nothing of the channel's is queued, so order
        holds, and the task is not woken for it (a task switch per message saved).
        Only what changes the task's own deadline (a gap opened, a resync wanted)
        still wakes it. Raises `trio.WouldBlock` when the inbox is full."""
        if self.waiting and event.kind != RESYNC:
            opened = self.reorder.gap_opened_at
            self._handle(event)
            if not self.resync and self.reorder.gap_opened_at == opened:
                return
            event = Event(RESYNC, self.channel_id)  # a no-op that wakes the task
        self.inbox_send.send_nowait(event)
        self.waiting = False

    def detach(self, member: Member) -> None:
        self.members.pop(member.id, None)
        self.floors.pop(member.id, None)

    # ---- the task ---------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        hub = self.hub
        try:
            await hub.broker.subscribe(self.channel_id)
            channel = await hub.store.get_channel(self.channel_id)
            self.reorder = SeqReorder(channel.last_seq if channel else 0)
        except Exception as exc:
            self.failed = exc
            self.ready.set()
            hub.forget(self)
            return
        self.ready.set()
        task_status.started()
        idle_since: float | None = None
        try:
            while True:
                if self.refs > 0:
                    idle_since = None
                elif idle_since is None:
                    idle_since = trio.current_time()
                linger_end = math.inf if idle_since is None else idle_since + LINGER
                deadline = min(self._gap_deadline(), linger_end)
                with trio.move_on_after(max(0.0, deadline - trio.current_time())):
                    try:
                        event = self.inbox_recv.receive_nowait()
                    except trio.WouldBlock:
                        self.waiting = True
                        try:
                            event = await self.inbox_recv.receive()
                        finally:
                            self.waiting = False
                    self._handle(event)
                    while True:
                        try:
                            event = self.inbox_recv.receive_nowait()
                        except trio.WouldBlock:
                            break
                        self._handle(event)
                if self.resync or trio.current_time() >= self._gap_deadline():
                    hub.metrics.fill["resync" if self.resync else "gap"].inc()
                    await self._fill()
                elif self.refs == 0 and trio.current_time() >= linger_end:
                    return
        finally:
            hub.forget(self)
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                try:
                    await hub.broker.unsubscribe(self.channel_id)
                except Exception:
                    log.warning("unsubscribe failed", exc_info=True)

    def _gap_deadline(self) -> float:
        opened = self.reorder.gap_opened_at
        return math.inf if opened is None else opened + GAP_HOLD

    def _handle(self, event: Event) -> None:
        kind = event.kind
        if kind == MESSAGE:
            item = (event.seq, event.stamp, event.payload)
            for ready in self.reorder.offer(event.seq, item, trio.current_time()):
                self._release(*ready)
            if self.reorder.overfull:
                self.resync = True
        elif kind == KICK:
            reason = event.payload.decode() or "banned"
            self._remove(lambda m: m.user_id == event.user_id, reason)
        elif kind == CLOSED:
            self._remove(lambda m: True, "channel_closed")
        elif kind != RESYNC:
            frame = ws_frame(event.payload)
            skip = event.user_id if kind == TYPING else None
            for member in self.members.values():
                if member.user_id != skip:
                    member.outbox.offer(frame)

    def _release(self, seq: int, stamp: int, payload: bytes | None) -> None:
        """Deliver message `seq` (payload None: it was deleted before delivery)."""
        if payload is None:
            return
        metrics = self.hub.metrics
        started = time.perf_counter()
        frame = ws_frame(payload)
        if self.floors:
            floors = self.floors
            for member in self.members.values():
                if floors.get(member.id, 0) < seq:
                    member.outbox.offer(frame)
            self.floors = {k: v for k, v in floors.items() if v > seq}
        else:
            for member in self.members.values():
                member.outbox.offer(frame)
        metrics.broadcast_duration.observe(time.perf_counter() - started)
        metrics.latency.observe(max(0, now_ms() - stamp) / 1000)
        metrics.msg["delivery"].inc(len(self.members))
        self.recent.append((seq, frame))

    def _remove(self, which: object, reason: str) -> None:
        frame = ws_frame(encode_left(self.channel_id, reason))
        for member in [m for m in self.members.values() if which(m)]:  # type: ignore[operator]
            member.outbox.offer(frame)
            self.members.pop(member.id, None)
            member.removed(self.channel_id)

    async def _fill(self) -> None:
        """Read what is missing from the store (the source of truth) and release it:
        every gap below the highest held seq in one pass, and on a resync everything
        up to the store's last seq. One gap per `GAP_HOLD` would release a few
        messages a second while a broker outage leaves a gap before each one."""
        resync, self.resync = self.resync, False
        store = self.hub.store
        try:
            upto = self.reorder.highest_held
            if resync or upto is None:
                channel = await store.get_channel(self.channel_id)
                upto = max(upto or 0, channel.last_seq if channel else self.released)
            while self.released < upto:
                rows = await store.messages(
                    self.channel_id, after=self.released, limit=FILL_BATCH, include_deleted=True
                )
                items = [
                    (m.seq, (m.seq, m.created_at, None if m.deleted else encode_message(m)))
                    for m in rows
                    if m.seq <= upto
                ]
                last = items[-1][0] if items else upto
                now = trio.current_time()
                for ready in self.reorder.fill(items, now, upto=min(upto, last)):
                    self._release(*ready)
                if not rows:
                    break
        except Exception:
            log.warning("gap fill for %s failed; retrying", self.channel_id, exc_info=True)
            self.resync = True
            await trio.sleep(GAP_HOLD)


class Hub:
    def __init__(self, store: Store, broker: Broker, metrics: Metrics) -> None:
        self.store = store
        self.broker = broker
        self.metrics = metrics
        self._sups: dict[str, Supervisor] = {}
        self._nursery: trio.Nursery | None = None

    def supervisor(self, channel_id: str) -> Supervisor | None:
        return self._sups.get(channel_id)

    @property
    def channels_active(self) -> int:
        return sum(1 for s in self._sups.values() if s.members)

    def inbox_depth(self) -> int:
        return sum(s.inbox_recv.statistics().current_buffer_used for s in self._sups.values())

    def local_counts(self) -> dict[str, int]:
        return {cid: len(s.members) for cid, s in self._sups.items() if s.members}

    async def acquire(self, channel_id: str) -> Supervisor:
        """The channel's running supervisor, started if needed; the caller holds a
        reference until `release`."""
        assert self._nursery is not None, "hub is not running"
        sup = self._sups.get(channel_id)
        if sup is None:
            sup = self._sups[channel_id] = Supervisor(self, channel_id)
            self._nursery.start_soon(sup.run)
        sup.refs += 1
        await sup.ready.wait()
        if sup.failed is not None:
            sup.refs -= 1
            raise sup.failed
        return sup

    def release(self, sup: Supervisor) -> None:
        sup.refs -= 1

    def forget(self, sup: Supervisor) -> None:
        if self._sups.get(sup.channel_id) is sup:
            del self._sups[sup.channel_id]
        self.metrics.channels_active.set(self.channels_active)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._bridge)
            nursery.start_soon(self._watch_tails)
            task_status.started()

    async def _bridge(self) -> None:
        """Relay broker events into supervisors' inboxes; never wait for one."""
        async for event in self.broker.events():
            if event.kind == RESYNC and not event.channel_id:
                self.resync_all()  # the broker was away: events may be lost
                continue
            sup = self._sups.get(event.channel_id)
            if sup is None:
                continue
            try:
                sup.take(event)
            except trio.WouldBlock:
                sup.resync = True  # the gap shows; the store fills it

    def resync_all(self) -> None:
        """After a broker outage: every supervisor re-reads the store's last seq."""
        for sup in list(self._sups.values()):
            self._resync(sup)

    @staticmethod
    def _resync(sup: Supervisor) -> None:
        sup.resync = True
        with contextlib.suppress(trio.WouldBlock):
            sup.inbox_send.send_nowait(Event(RESYNC, sup.channel_id))
            sup.waiting = False

    async def _watch_tails(self) -> None:
        while True:
            await trio.sleep(TAIL_EVERY)
            sups = [s for s in self._sups.values() if s.members]
            if not sups:
                continue
            try:
                tails = await self.store.last_seqs([s.channel_id for s in sups])
            except Exception:
                continue  # the store is down: nothing new can be committed either
            for sup in sups:
                tail = tails.get(sup.channel_id, 0)
                if sup.released < min(tail, sup.tail):
                    log.info(
                        "%s behind the store (%d < %d): resync",
                        sup.channel_id,
                        sup.released,
                        sup.tail,
                    )
                    self._resync(sup)
                sup.tail = tail
