"""Channel supervisors and the broker bridge.

A channel's state — members, floors, the reorder buffer, recent frames, deadlines —
is one sans-IO object, `protocol.channel.ChannelState`, and only its methods change
it. Around it, one `Supervisor` per channel with local members does the I/O: it
performs the state's actions (offers frames to members' outboxes, tells removed
members), and its task subscribes, reads the channel's last seq, runs the store
reads the state asks for (`next_fill`: a gap held for `GAP_HOLD`, a resync) and
ends after the state expires (`LINGER` with no members).

The bridge task is this instance's one consumer of `broker.events()`: other
instances' events. This instance's own are routed inside `broker.publish`, by
the publishing task (`Hub.route`, the broker's `local_route`). Either way an event
goes to its channel's supervisor (a user's personal event to their
connections: `personal`), which hands it to the state at once
(`Supervisor.offer`): delivery never blocks (an outbox queues or closes), so the
bridge never waits for a slow channel, and no event waits in a queue of its own.
The supervisor task is woken only when the state's deadline moved earlier (a gap
opened, a resync asked for); in S2 (1,000 channels of 5) waking it for every
message cost ~5 % of the server's CPU (docs/performance.md).

A gap only shows when a later message arrives. The tail watcher covers the last
message of a burst whose publish was lost (an instance killed between commit and
publish): every `TAIL_EVERY` seconds it reads the last seq of every channel with a
supervisor in one store read, and resyncs a channel that is still behind a tail it
already saw on the previous round (so a publish in flight is not a gap).
"""

from __future__ import annotations

import logging
import time

import trio

from trichat.broker.base import PERSONAL, RESYNC, Broker, Event
from trichat.errors import UNAVAILABLE, ClientError, StoreUnavailable
from trichat.metrics import Metrics
from trichat.models import now_ms
from trichat.personal import PersonalStreams
from trichat.protocol.channel import GAP_HOLD, LINGER, ChannelState, Deliver, Fill, Member, Remove
from trichat.store.base import Store

__all__ = ["FILL_BATCH", "GAP_HOLD", "LINGER", "TAIL_EVERY", "Hub", "Member", "Supervisor"]

log = logging.getLogger("trichat.hub")

FILL_BATCH = 500
TAIL_EVERY = 1.0  # seconds between tail checks: a lost last publish heals in ≤ 2 rounds


class Supervisor:
    """The I/O around one channel's `ChannelState`."""

    def __init__(self, hub: Hub, channel_id: str) -> None:
        self.hub = hub
        self.channel_id = channel_id
        self.state = ChannelState(channel_id, 0)
        self._wake = trio.Event()
        self.ready = trio.Event()
        self.failed: BaseException | None = None

    @property
    def released(self) -> int:
        return self.state.released

    @property
    def members(self) -> dict[int, Member]:
        return self.state.members

    # ---- called synchronously by connections and the bridge -----------------------

    def attach(self, member: Member, seen: int) -> int | None:
        """Add `member`, who has seen every seq up to `seen`, catching it up from the
        recent frames. Returns None when attached, or the seq it must read from the
        store first (the recent frames do not reach back far enough)."""
        got = self.state.attach(member, seen)
        if isinstance(got, int):
            return got
        for frame in got:
            member.outbox.offer(frame)
        return None

    def detach(self, member: Member) -> None:
        self.state.detach(member)

    def offer(self, event: Event) -> None:
        """One event from the broker, handled now, in the order events arrive."""
        state = self.state
        before = state.deadline
        self._perform(state.offer(event, trio.current_time()))
        if state.deadline < before:
            self._wake.set()

    def resync(self) -> None:
        self.state.want_resync()
        self._wake.set()

    def release(self) -> None:
        self.state.release(trio.current_time())
        self._wake.set()

    # ---- doing what the state says ------------------------------------------------

    def _perform(self, actions: list[Deliver | Remove]) -> None:
        for action in actions:
            if isinstance(action, Deliver):
                self._deliver(action)
            else:
                for member in action.members:
                    member.outbox.offer(action.frame)
                    member.removed(self.channel_id)

    def _deliver(self, action: Deliver) -> None:
        frame, to = action.frame, action.to
        if not action.seq:
            for member in to:
                member.outbox.offer(frame)
            return
        metrics = self.hub.metrics
        started = time.perf_counter()
        for member in to:
            member.outbox.offer(frame)
        metrics.broadcast_duration.observe(time.perf_counter() - started)
        metrics.latency.observe(max(0, now_ms() - action.stamp) / 1000)
        metrics.msg["delivery"].inc(len(to))

    # ---- the task -----------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        hub = self.hub
        try:
            await hub.broker.subscribe(self.channel_id)
            channel = await hub.store.get_channel(self.channel_id)
        except Exception as exc:
            self.failed = exc
            self.ready.set()
            hub.forget(self)
            return
        self._perform(self.state.start(channel.last_seq if channel else 0))
        self.ready.set()
        task_status.started()
        try:
            await self._serve()
        finally:
            hub.forget(self)
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                try:
                    await hub.broker.unsubscribe(self.channel_id)
                except Exception:
                    log.warning("unsubscribe failed", exc_info=True)

    async def _serve(self) -> None:
        state = self.state
        while True:
            now = trio.current_time()
            fill = state.next_fill(now)
            if fill is not None:
                self.hub.metrics.fill["resync" if fill.resync else "gap"].inc()
                await self._fill(fill)
                continue
            if state.expired(now):
                return
            self._wake = trio.Event()
            with trio.move_on_at(state.deadline):
                await self._wake.wait()

    async def _fill(self, fill: Fill) -> None:
        """Read what is missing from the store (the source of truth) and release it:
        every gap below the highest held seq in one pass, and on a resync everything
        up to the store's last seq. One gap per `GAP_HOLD` would release a few
        messages a second while a broker outage leaves a gap before each one."""
        state, store = self.state, self.hub.store
        try:
            upto = fill.upto
            if upto is None:
                channel = await store.get_channel(self.channel_id)
                held = state.reorder.highest_held or 0
                upto = max(held, channel.last_seq if channel else state.released)
            while state.released < upto:
                rows = await store.events(self.channel_id, after=state.released, limit=FILL_BATCH)
                now, complete = trio.current_time(), len(rows) < FILL_BATCH
                self._perform(state.filled(rows, now, upto=upto, complete=complete))
        except Exception:
            log.warning("gap fill for %s failed; retrying", self.channel_id, exc_info=True)
            state.fill_failed(trio.current_time())


class Hub:
    def __init__(self, store: Store, broker: Broker, metrics: Metrics) -> None:
        self.store = store
        self.broker = broker
        self.metrics = metrics
        self.personal = PersonalStreams(broker)  # each user's own events
        self._sups: dict[str, Supervisor] = {}
        self._nursery: trio.Nursery | None = None

    def supervisor(self, channel_id: str) -> Supervisor | None:
        return self._sups.get(channel_id)

    @property
    def channels_active(self) -> int:
        return sum(1 for s in self._sups.values() if s.members)

    def held(self) -> int:
        """Events held back behind a seq gap, across channels."""
        return sum(s.state.reorder.held for s in self._sups.values())

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
        sup.state.hold()
        await sup.ready.wait()
        if sup.failed is not None:
            sup.release()
            if isinstance(sup.failed, StoreUnavailable):
                message = "the store is unavailable; try again"
                raise ClientError(UNAVAILABLE, message, channel_id=channel_id) from sup.failed
            raise sup.failed
        return sup

    def release(self, sup: Supervisor) -> None:
        sup.release()

    def forget(self, sup: Supervisor) -> None:
        if self._sups.get(sup.channel_id) is sup:
            del self._sups[sup.channel_id]
        # the channels-active gauge is the monitor's (server.py, every second):
        # counting here, and on every join, walked every supervisor each time
        # (12.7 % of the server's samples while S2's 5,000 members joined)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._bridge)
            nursery.start_soon(self._watch_tails)
            # this instance's own events are routed inside `publish`, by the
            # publishing task: no queue, no bridge wake-up (docs/architecture.md)
            self.broker.local_route = self.route
            try:
                task_status.started()
                await trio.sleep_forever()
            finally:
                self.broker.local_route = None

    def route(self, event: Event) -> None:
        """One event to its channel's supervisor (a personal event to its user's
        connections); never waits."""
        sup = self._sups.get(event.channel_id)
        if sup is not None:
            sup.offer(event)
        elif event.kind == PERSONAL:
            self.personal.deliver(event)
        elif event.kind == RESYNC and not event.channel_id:
            self.resync_all()  # the broker was away: events may be lost

    async def _bridge(self) -> None:
        """Route the events that come through the broker (other instances', and a
        resync after an outage)."""
        route = self.route
        async for event in self.broker.events():
            route(event)

    def resync_all(self) -> None:
        """After a broker outage: every supervisor re-reads the store's last seq."""
        for sup in list(self._sups.values()):
            sup.resync()

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
                seen = sup.state.tail
                if sup.state.check_tail(tails.get(sup.channel_id, 0)):
                    log.info(
                        "%s behind the store (%d < %d): resync", sup.channel_id, sup.released, seen
                    )
                    sup.resync()
