"""The Redis broker: fan-out of events between instances, and `open_redis`, which
runs it with the Redis presence, rate limiter and read markers on one shared client
(`redis_link`).

No delivery crosses the trio/asyncio bridge:

- `publish` hands the event to this instance's own bridge at once (so local members
  never wait for Redis, and keep chatting while it is away) and queues it for the
  conveyor (`redis_conveyor`), whose next tick sends everything queued in one
  pipeline on a trio-side connection. Other instances' events arrive through one
  PubSub connection, also read on the trio side (`redis_pubsub`: every event that
  has arrived in one wake-up, parsed by hiredis), pushed into the bridge's memory
  channel with `send_nowait` (full: dropped, and the supervisors heal the gap from
  the store). This instance's own events come back too (Redis has no "not to me");
  they are recognised by their origin's prefix and skipped before anything is
  decoded.
- Subscriptions follow the supervisors: `subscribe` waits for Redis to confirm, so
  a supervisor that reads the store's last seq afterwards misses nothing. A user's
  personal events (`P u:{user}`) are subscribed to while the user has a connection
  here, without waiting: they are not part of any log, so there is nothing to
  read afterwards (publishing to a user nobody follows costs Redis one lookup).

Failure: the PubSub connection failing, or any command failing or missing its
deadline (`RedisLink.command`), marks Redis down (`healthy` False, `/health` says
degraded), drops the PubSub connection and reconnects with backoff. Meanwhile
publishes reach only this instance (and presence and rate limits answer from this
instance's state). Once the subscriptions are back, the broker emits one `resync`
event with no channel: every supervisor reads the store for what it missed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import trio

from trichat.broker.base import KICK, PERSONAL, RESYNC, Event, drain, hand_over
from trichat.broker.redis_conveyor import Conveyor
from trichat.broker.redis_limits import RedisLimiter
from trichat.broker.redis_link import COMMAND_WAIT, FAILURES, RedisLink
from trichat.broker.redis_marks import RedisMarks
from trichat.broker.redis_presence import RedisPresence
from trichat.broker.redis_pubsub import PubSubConnection

log = logging.getLogger("trichat.broker")

EVENT_BUFFER = 65_536  # events waiting for this instance's bridge
CONFIRM_WAIT = 2.0  # seconds `subscribe` waits for Redis to confirm
CONNECT_WAIT = 3.0  # seconds the broker waits for Redis at start before serving anyway
# reconnect attempts: the last delay bounds how long after Redis is back this
# instance may still be serving alone
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 1.0


def encode_event(origin: bytes, event: Event) -> bytes:
    """The wire form: origin, a JSON head, the payload. A kick has no payload; its
    reason travels in that place (the form v1 instances read)."""
    head = orjson.dumps([event.kind, event.seq, event.stamp, event.user_id])
    body = event.reason.encode() if event.kind == KICK else event.payload
    return b"%s\n%s\n%s" % (origin, head, body)


def decode_event(channel_id: str, data: bytes) -> tuple[bytes, Event]:
    origin, head, payload = data.split(b"\n", 2)
    kind, seq, stamp, user_id = orjson.loads(head)
    if kind == KICK:
        return origin, Event(kind, channel_id, seq, b"", user_id, stamp, payload.decode())
    return origin, Event(kind, channel_id, seq, payload, user_id, stamp)


class RedisBroker:
    name = "redis"

    def __init__(self, link: RedisLink, conveyor: Conveyor) -> None:
        self._link = link
        self._conveyor = conveyor
        link.on_down = self._reconnect
        self._ev_prefix = f"{link.prefix}ev:"
        self._user_prefix = f"{link.prefix}u:"  # a user's personal events
        self._control = f"{link.prefix}control"
        # the same, as they arrive from Redis
        self._ev_topic, self._user_topic = self._ev_prefix.encode(), self._user_prefix.encode()
        self._control_topic = self._control.encode()
        self.origin = link.origin
        self._own = link.origin + b"\n"  # how this instance's events start on the wire
        self._send, self._recv = trio.open_memory_channel[Event](EVENT_BUFFER)
        self.local_route: Callable[[Event], None] | None = None  # set by the hub
        # Redis channel → how many want it (a chat channel's supervisors, a user's
        # sessions)
        self._refs: dict[str, int] = {}
        self._subscribed: set[str] = set()  # sent on the current PubSub connection
        self._confirmed: dict[str, trio.Event] = {}
        self._changed = trio.Event()  # wanted subscriptions changed
        self._pubsub: PubSubConnection | None = None
        self._listen_scope: trio.CancelScope | None = None
        self._connects = 0
        self._first_attempt = trio.Event()
        self._last_failure = ""
        self.dropped = 0

    @property
    def healthy(self) -> bool:
        return self._link.up

    async def wait_healthy(self, healthy: bool = True) -> None:
        """Return once Redis is reachable (or, with False, once it is not)."""
        await self._link.wait_healthy(healthy)

    def _reconnect(self) -> None:
        if self._listen_scope is not None:
            self._listen_scope.cancel()  # reconnect, then resync what was missed

    # ---- events --------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        self.publish_now(event)

    def publish_now(self, event: Event) -> None:
        """Routed here at once; queued for the conveyor's next tick to Redis (while
        Redis is down, or too much is waiting, other instances heal the gap from
        the store)."""
        if not hand_over(event, self.local_route, self._send):
            self.dropped += 1
        self._conveyor.publish(self._topic(event), encode_event(self.origin, event))

    def events(self) -> AsyncIterator[Event]:
        return drain(self._recv)

    async def subscribe(self, channel_id: str) -> None:
        topic = self._ev_prefix + channel_id
        if not self._want(topic):
            return
        confirmed = self._confirmed[topic] = trio.Event()
        if self._link.up:
            with trio.move_on_after(CONFIRM_WAIT):
                await confirmed.wait()

    async def unsubscribe(self, channel_id: str) -> None:
        self._unwant(self._ev_prefix + channel_id)

    def subscribe_user(self, user_id: str) -> None:
        self._want(self._user_prefix + user_id)

    def unsubscribe_user(self, user_id: str) -> None:
        self._unwant(self._user_prefix + user_id)

    def _want(self, topic: str) -> bool:
        """One more wants `topic`; True when it is the first (subscribing now)."""
        refs = self._refs.get(topic, 0)
        self._refs[topic] = refs + 1
        if refs:
            return False
        self._changed.set()
        return True

    def _unwant(self, topic: str) -> None:
        refs = self._refs.get(topic, 0) - 1
        if refs > 0:
            self._refs[topic] = refs
            return
        self._refs.pop(topic, None)
        self._confirmed.pop(topic, None)
        self._changed.set()

    # ---- tasks ---------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The listener and subscription tasks. Starts once the
        first connection attempt is over, up or not (Redis may come later)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._listen)
            nursery.start_soon(self._sync_subscriptions)
            with trio.move_on_after(CONNECT_WAIT):
                await self._first_attempt.wait()
            task_status.started()

    async def _listen(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            connects = self._connects
            self._listen_scope = trio.CancelScope()
            with self._listen_scope:
                try:
                    await self._read_pubsub()
                except FAILURES as exc:
                    self._failed(exc)
            self._listen_scope = None
            self._link.set_up(False)
            self._first_attempt.set()
            if self._connects != connects:  # it was up: start the backoff over
                backoff = BACKOFF_FIRST
            await trio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _failed(self, exc: BaseException) -> None:
        """Redis is down (said once, by the link, when it was up); while it stays
        away, each new reason is said once too (a wrong password, a refused port)."""
        reason = f"{type(exc).__name__}: {exc}"
        if not self._link.up and reason != self._last_failure:
            log.warning("redis pub/sub: %s; retrying", reason)
        self._last_failure = reason
        self._link.down("pub/sub", exc)

    async def _read_pubsub(self) -> None:
        """Subscribe to every wanted channel, then route what arrives."""
        with trio.fail_after(COMMAND_WAIT):
            pubsub = await PubSubConnection.open(self._link.url)
        try:
            self._subscribed = set(self._refs)
            with trio.fail_after(COMMAND_WAIT):
                await pubsub.subscribe(self._control, *self._subscribed)
            self._pubsub = pubsub
            self._changed.set()  # subscriptions wanted meanwhile
            on_reply = self._on_reply
            while True:
                for reply in await pubsub.receive():
                    on_reply(reply)
        finally:
            self._pubsub = None
            await pubsub.aclose()

    def _on_reply(self, reply: list[Any]) -> None:
        kind = reply[0]
        if kind == b"message":
            channel, data = reply[1], reply[2]
            if data.startswith(self._own):
                return  # this instance's own event, delivered here when published
            # a chat channel's events carry its id; a user's, none
            personal = channel.startswith(self._user_topic)
            cid = "" if personal else channel[len(self._ev_topic) :].decode()
            try:
                self._send.send_nowait(decode_event(cid, data)[1])
            except trio.WouldBlock:
                self.dropped += 1
        elif kind == b"subscribe":
            if reply[1] == self._control_topic:
                self._connected()
            else:
                confirmed = self._confirmed.get(reply[1].decode())
                if confirmed is not None:
                    confirmed.set()

    def _connected(self) -> None:
        self._link.set_up(True)
        self._last_failure = ""
        if self._connects:
            log.info("redis is back: resyncing every channel from the store")
            try:
                self._send.send_nowait(Event(RESYNC, ""))
            except trio.WouldBlock:
                self.dropped += 1
        self._connects += 1
        self._first_attempt.set()

    async def _sync_subscriptions(self) -> None:
        """Apply the wanted subscriptions to the live PubSub, batched."""
        while True:
            await self._changed.wait()
            self._changed = trio.Event()
            pubsub = self._pubsub
            if pubsub is None:
                continue  # the next connection subscribes to everything wanted
            wanted = set(self._refs)
            add, drop = wanted - self._subscribed, self._subscribed - wanted
            self._subscribed = wanted
            try:
                with trio.fail_after(COMMAND_WAIT):
                    await pubsub.subscribe(*add)
                    await pubsub.unsubscribe(*drop)
            except FAILURES as exc:
                if self._pubsub is pubsub:  # not one the listener is replacing
                    self._link.down("subscribe", exc)
                # the next connection subscribes to everything wanted

    def _topic(self, event: Event) -> str:
        if event.kind == PERSONAL:
            return self._user_prefix + event.user_id
        return self._ev_prefix + event.channel_id


@dataclass(frozen=True)
class RedisBackends:
    """The Redis implementations on one client, as `open_redis` runs them."""

    link: RedisLink
    conveyor: Conveyor
    broker: RedisBroker
    presence: RedisPresence
    limits: RedisLimiter
    marks: RedisMarks


@asynccontextmanager
async def open_redis(
    url: str, *, prefix: str = "trichat:", **presence: float
) -> AsyncIterator[RedisBackends]:
    """The running Redis broker, presence and rate limiter (needs the asyncio loop:
    `aio.open_aio_loop`); `presence` passes `presence_ttl` and `heartbeat_every`.
    On the way out this instance's users leave presence, then the client closes."""
    link = RedisLink(url, prefix=prefix)
    conveyor = Conveyor(link)
    broker, limits = RedisBroker(link, conveyor), RedisLimiter(link, conveyor)
    presence_ = RedisPresence(link, **presence)
    redis = RedisBackends(link, conveyor, broker, presence_, limits, RedisMarks(link))
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(redis.broker.run)
            nursery.start_soon(redis.presence.run)
            nursery.start_soon(conveyor.run)
            yield redis
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(3):
            if link.up:
                await redis.presence.leave_all()
            await link.close()
