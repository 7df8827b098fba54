"""The Redis broker: fan-out between instances, cluster presence and rate limits.

redis-py's asyncio client runs under trio-asyncio (`trichat.aio`), and no
delivery crosses that bridge on its own:

- `publish` hands the event to this instance's own bridge at once (so local members
  never wait for Redis, and keep chatting while it is away) and queues it for the
  publisher task, which sends everything queued in one pipeline: one crossing per
  batch. Other instances' events arrive through one PubSub connection whose reader
  runs on the asyncio side and pushes into the trio memory channel with
  `send_nowait` (full: dropped, and the supervisors heal the gap from the store).
- Subscriptions follow the supervisors: `subscribe` waits for Redis to confirm, so
  a supervisor that reads the store's last seq afterwards misses nothing.
- Presence and rate limits are atomic Lua scripts (`redis_lua`). This instance's
  own presence is kept locally too: the heartbeat refreshes it every
  `HEARTBEAT_EVERY` seconds with a TTL, so a killed instance's users drop out
  within `PRESENCE_TTL` plus one heartbeat, and it is the fallback while Redis is
  down, as the local token buckets are.

Failure: any Redis error, and any command that has no answer within `COMMAND_WAIT`
(a stalled Redis keeps its sockets open and answers nothing), marks the broker down
(`healthy` False, `/health` says degraded), drops the PubSub connection and
reconnects with backoff. Meanwhile every
call falls back to local state and publishes reach only this instance. Once the
subscriptions are back, the broker emits one `resync` event with no channel: every
supervisor reads the store for what it missed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import redis.asyncio as aioredis
import trio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from trichat import aio
from trichat.broker.base import KICK, PRESENCE, RESYNC, Event, drain
from trichat.broker.redis_presence import RedisPresence
from trichat.errors import BrokerUnavailable
from trichat.models import PresenceEntry, now_ms
from trichat.protocol.frames import encode_presence

log = logging.getLogger("trichat.broker")

EVENT_BUFFER = 65_536  # events waiting for this instance's bridge
OUT_BUFFER = 65_536  # events waiting for the publisher
PUBLISH_BATCH = 512
HEARTBEAT_EVERY = 2.0
MAX_CONNECTIONS = 64  # per instance; commands beyond wait for a free one
PRESENCE_TTL = 6.0  # seconds a user stays present without a heartbeat
CONFIRM_WAIT = 2.0  # seconds `subscribe` waits for Redis to confirm
CONNECT_WAIT = 3.0  # seconds the broker waits for Redis at start before serving anyway
# seconds one command may take before Redis counts as down: it answers in well under
# a millisecond, and a sender's rate-limit check waits for it
COMMAND_WAIT = 1.0
# reconnect attempts: the last delay bounds how long after Redis is back this
# instance may still be serving alone
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 1.0
# what a Redis command can fail with: the driver's errors, the socket's, our deadline
FAILURES = (RedisError, OSError, trio.TooSlowError)


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

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "trichat:",
        presence_ttl: float = PRESENCE_TTL,
        heartbeat_every: float = HEARTBEAT_EVERY,
    ) -> None:
        # a blocking pool: more concurrent commands than connections wait for one
        # (a plain pool raises "Too many connections", which would mark Redis down
        # when, say, a thousand clients leave at once)
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            decode_responses=False,
            socket_connect_timeout=COMMAND_WAIT,
            socket_timeout=COMMAND_WAIT,
            retry=Retry(NoBackoff(), 0),  # reconnecting is ours: see _listen
            max_connections=MAX_CONNECTIONS,
            timeout=COMMAND_WAIT,  # waiting for a free pooled connection
        )
        self._client = aioredis.Redis.from_pool(pool)  # closing the client closes the pool
        self.prefix = prefix
        self._heartbeat_every = heartbeat_every
        self._ev_prefix = f"{prefix}ev:"
        self._control = f"{prefix}control"
        self.origin = secrets.token_hex(8).encode()  # not INSTANCE_ID: that may repeat
        self._send, self._recv = trio.open_memory_channel[Event](EVENT_BUFFER)
        self._out_send, self._out_recv = trio.open_memory_channel[Event](OUT_BUFFER)
        self._state = RedisPresence(
            self._client,
            self._command,
            lambda: self._up,
            prefix=prefix,
            origin=self.origin,
            ttl_ms=int(presence_ttl * 1000),
        )
        self._refs: dict[str, int] = {}  # channel → supervisors wanting it
        self._subscribed: set[str] = set()  # sent on the current PubSub connection
        self._confirmed: dict[str, trio.Event] = {}
        self._changed = trio.Event()  # wanted subscriptions changed
        self._pubsub: Any = None
        self._listen_scope: trio.CancelScope | None = None
        self._up = False
        self._connects = 0
        self._first_attempt = trio.Event()
        self._health_changed = trio.Event()
        self._beat = trio.Event()
        self.dropped = 0

    # ---- health --------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        return self._up

    async def wait_healthy(self, healthy: bool = True) -> None:
        """Return once Redis is reachable (or, with False, once it is not)."""
        while self._up != healthy:
            await self._health_changed.wait()

    async def wait_heartbeat(self) -> None:
        """Return after the next heartbeat has refreshed this instance's presence."""
        await self._beat.wait()

    def _set_up(self, up: bool) -> None:
        if up != self._up:
            self._up = up
            self._health_changed.set()
            self._health_changed = trio.Event()

    def _down(self, what: str, exc: BaseException) -> None:
        if self._up:
            log.warning("redis is down (%s: %r); serving this instance's members alone", what, exc)
        self._set_up(False)
        if self._listen_scope is not None:
            self._listen_scope.cancel()  # reconnect, then resync what was missed

    # ---- events --------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self.dropped += 1
        if self._up:
            try:
                self._out_send.send_nowait(event)
            except trio.WouldBlock:
                self.dropped += 1  # other instances heal the gap from the store

    def events(self) -> AsyncIterator[Event]:
        return drain(self._recv)

    async def subscribe(self, channel_id: str) -> None:
        refs = self._refs.get(channel_id, 0)
        self._refs[channel_id] = refs + 1
        if refs:
            return
        confirmed = self._confirmed[channel_id] = trio.Event()
        self._changed.set()
        if self._up:
            with trio.move_on_after(CONFIRM_WAIT):
                await confirmed.wait()

    async def unsubscribe(self, channel_id: str) -> None:
        refs = self._refs.get(channel_id, 0) - 1
        if refs > 0:
            self._refs[channel_id] = refs
            return
        self._refs.pop(channel_id, None)
        self._confirmed.pop(channel_id, None)
        self._changed.set()

    # ---- presence and rate limits (`RedisPresence`) -------------------------------

    async def _command(self, what: str, fn: Any, *args: Any) -> Any:
        """Run one asyncio call against Redis within `COMMAND_WAIT`. A failure or a
        missed deadline marks Redis down and raises `BrokerUnavailable`."""
        try:
            with trio.fail_after(COMMAND_WAIT):
                return await aio.run(fn, *args)
        except FAILURES as exc:
            self._down(what, exc)
            raise BrokerUnavailable(f"redis {what}: {exc!r}") from exc

    async def presence_join(self, channel_id: str, entry: PresenceEntry, conn_key: str) -> bool:
        return await self._state.join(channel_id, entry, conn_key)

    async def presence_leave(self, channel_id: str, user_id: str, conn_key: str) -> bool:
        return await self._state.leave(channel_id, user_id, conn_key)

    async def presence(self, channel_id: str) -> list[PresenceEntry]:
        return await self._state.entries(channel_id)

    async def presence_counts(self) -> dict[str, int]:
        return await self._state.counts()

    async def rate_limit(self, key: str, capacity: int, period: float) -> float:
        return await self._state.rate_limit(key, capacity, period)

    # ---- tasks ---------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The listener, publisher, subscription and heartbeat tasks. Starts once the
        first connection attempt is over, up or not (Redis may come later)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._listen)
            nursery.start_soon(self._publisher)
            nursery.start_soon(self._sync_subscriptions)
            nursery.start_soon(self._heartbeat)
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
                    await aio.run(self._read_pubsub)
                except FAILURES as exc:
                    self._down("pub/sub", exc)
            self._listen_scope = None
            self._set_up(False)
            self._first_attempt.set()
            if self._connects != connects:  # it was up: start the backoff over
                backoff = BACKOFF_FIRST
            await trio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _read_pubsub(self) -> None:
        """(asyncio) Subscribe to every wanted channel, then push what arrives."""
        pubsub = self._client.pubsub()
        try:
            self._subscribed = set(self._refs)
            await pubsub.subscribe(self._control, *(self._ev_prefix + c for c in self._subscribed))
            self._pubsub = pubsub
            self._changed.set()  # subscriptions wanted meanwhile
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is not None:
                    self._on_pubsub(message)
        finally:
            self._pubsub = None
            await pubsub.aclose()

    def _on_pubsub(self, message: dict[str, Any]) -> None:
        kind, channel = message["type"], message["channel"].decode()
        if kind == "message":
            origin, event = decode_event(channel.removeprefix(self._ev_prefix), message["data"])
            if origin != self.origin:
                try:
                    self._send.send_nowait(event)
                except trio.WouldBlock:
                    self.dropped += 1
        elif kind == "subscribe":
            if channel == self._control:
                self._connected()
            else:
                confirmed = self._confirmed.get(channel.removeprefix(self._ev_prefix))
                if confirmed is not None:
                    confirmed.set()

    def _connected(self) -> None:
        self._set_up(True)
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
                await self._command("subscribe", self._apply, pubsub, add, drop)
            except BrokerUnavailable:
                continue  # the next connection subscribes to everything wanted
            except AttributeError:
                # redis-py's PubSub, closed under us (the listener reconnecting, or
                # shutdown), fails on its missing writer; the next connection
                # subscribes to everything wanted. Anything else is a bug: raise.
                if self._pubsub is pubsub:
                    raise

    async def _apply(self, pubsub: Any, add: set[str], drop: set[str]) -> None:
        if add:
            await pubsub.subscribe(*(self._ev_prefix + c for c in add))
        if drop:
            await pubsub.unsubscribe(*(self._ev_prefix + c for c in drop))

    async def _publisher(self) -> None:
        async for first in self._out_recv:
            batch = [first]
            while len(batch) < PUBLISH_BATCH:
                try:
                    batch.append(self._out_recv.receive_nowait())
                except trio.WouldBlock:
                    break
            if not self._up:
                self.dropped += len(batch)
                continue
            items = [(self._ev_prefix + e.channel_id, encode_event(self.origin, e)) for e in batch]
            try:
                await self._command("publish", self._publish_batch, items)
            except BrokerUnavailable:
                self.dropped += len(batch)  # other instances heal the gaps from the store

    async def _publish_batch(self, items: list[tuple[str, bytes]]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for channel, data in items:
                pipe.publish(channel, data)
            await pipe.execute()

    async def _heartbeat(self) -> None:
        """Refresh this instance's presence; announce users whose instance died."""
        while True:
            await trio.sleep(self._heartbeat_every)
            if not self._up:
                continue
            now = now_ms()
            try:
                reaped = await self._state.heartbeat(now)
            except BrokerUnavailable:
                continue
            self._beat.set()
            self._beat = trio.Event()
            for channel_id, user_id, username in reaped:
                payload = encode_presence(channel_id, user_id, username, "left", now)
                await self.publish(Event(PRESENCE, channel_id, payload=payload, user_id=user_id))

    async def close(self) -> None:
        """Take this instance's users out of presence, then close the client."""
        if self._up:
            await self._state.leave_all()
        await aio.run(self._client.aclose)


@asynccontextmanager
async def open_redis_broker(url: str, **options: Any) -> AsyncIterator[RedisBroker]:
    """A running Redis broker (needs the asyncio loop: `aio.open_aio_loop`)."""
    broker = RedisBroker(url, **options)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(broker.run)
            yield broker
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(3):
            await broker.close()
