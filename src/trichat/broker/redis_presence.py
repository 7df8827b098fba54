"""Presence on Redis: who is online in each channel, across the cluster.

Each operation is one atomic Lua script (`redis_lua`). This instance's own presence
is kept locally too: the heartbeat (`run`) refreshes it in Redis every
`HEARTBEAT_EVERY` seconds with a TTL, so a killed instance's users drop out within
`PRESENCE_TTL` plus one heartbeat, and it is the answer while Redis is down (a
script that fails or misses its deadline raises `BrokerUnavailable`, and the link
marks Redis down). The heartbeat reaps the users of instances that stopped
refreshing and reports them on `departures()`; the service announces them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import trio

from trichat.broker import redis_lua
from trichat.broker.base import Departure
from trichat.broker.local import LocalPresence
from trichat.broker.redis_link import RedisLink
from trichat.errors import BrokerUnavailable
from trichat.models import PresenceEntry, now_ms

log = logging.getLogger("trichat.broker")

HEARTBEAT_EVERY = 2.0
PRESENCE_TTL = 6.0  # seconds a user stays present without a heartbeat
DEPARTURE_BUFFER = 4096  # reaped users waiting to be announced
SCRIPTS = ("JOIN", "LEAVE", "HEARTBEAT", "PRESENCE", "COUNTS")


class RedisPresence:
    def __init__(
        self,
        link: RedisLink,
        *,
        presence_ttl: float = PRESENCE_TTL,
        heartbeat_every: float = HEARTBEAT_EVERY,
    ) -> None:
        self._link = link
        self.prefix = link.prefix
        self.origin = link.origin
        self._ttl_ms = int(presence_ttl * 1000)
        self._heartbeat_every = heartbeat_every
        self._local = LocalPresence()
        self._scripts = {
            name: link.client.register_script(getattr(redis_lua, name)) for name in SCRIPTS
        }
        self._gone_send, self._gone_recv = trio.open_memory_channel[Departure](DEPARTURE_BUFFER)
        self._beat = trio.Event()

    def _keys(self, channel_id: str, user_id: str) -> list[str]:
        p = self.prefix
        return [f"{p}pu:{channel_id}:{user_id}", f"{p}pc:{channel_id}", f"{p}pd:{channel_id}"]

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._link.command(name.lower(), self._scripts[name], keys, args)

    async def join(self, channel_id: str, entry: PresenceEntry, conn_key: str) -> bool:
        if not self._local.join(channel_id, entry, conn_key):
            return False
        if not self._link.up:
            return True
        now, ttl = now_ms(), self._ttl_ms
        args = [self.origin, now + ttl, now, entry.user_id, _entry_json(entry), channel_id, ttl]
        keys = [*self._keys(channel_id, entry.user_id), f"{self.prefix}pch"]
        try:
            return bool(await self._script("JOIN", keys, args))
        except BrokerUnavailable:
            return True  # this instance's first: the local answer stands

    async def leave(self, channel_id: str, user_id: str, conn_key: str) -> bool:
        if not self._local.leave(channel_id, user_id, conn_key):
            return False
        if not self._link.up:
            return True
        try:
            keys = self._keys(channel_id, user_id)
            return bool(await self._script("LEAVE", keys, [self.origin, now_ms(), user_id]))
        except BrokerUnavailable:
            return True

    async def online(self, channel_id: str) -> list[PresenceEntry]:
        if self._link.up:
            keys = self._keys(channel_id, "")[1:]
            try:
                flat = await self._script("PRESENCE", keys, [now_ms()])
            except BrokerUnavailable:
                pass  # this instance's own view, below
            else:
                return [_entry(u, e) for u, e in zip(flat[::2], flat[1::2], strict=True)]
        return self._local.entries(channel_id)

    async def counts(self) -> dict[str, int]:
        if self._link.up:
            try:
                flat = await self._script("COUNTS", [], [self.prefix, now_ms()])
            except BrokerUnavailable:
                pass  # this instance's own view, below
            else:
                return {c.decode(): int(n) for c, n in zip(flat[::2], flat[1::2], strict=True)}
        return self._local.counts()

    def departures(self) -> AsyncIterator[Departure]:
        return self._gone_recv

    async def wait_heartbeat(self) -> None:
        """Return after the next heartbeat has refreshed this instance's presence."""
        await self._beat.wait()

    async def run(self) -> None:
        """The heartbeat: while Redis is up, refresh this instance's users and report
        the users reaped for their instance's silence on `departures()`."""
        while True:
            await trio.sleep(self._heartbeat_every)
            if not self._link.up:
                continue
            try:
                reaped = await self.heartbeat(now_ms())
            except BrokerUnavailable:
                continue
            self._beat.set()
            self._beat = trio.Event()
            for departure in reaped:
                try:
                    self._gone_send.send_nowait(departure)
                except trio.WouldBlock:
                    log.warning(
                        "departure of %s from %s not announced",
                        departure.user_id,
                        departure.channel_id,
                    )

    async def heartbeat(self, now: int) -> list[Departure]:
        """Refresh this instance's entries; the users whose instance stopped
        refreshing theirs, now reaped. Raises `BrokerUnavailable`."""
        ttl = self._ttl_ms
        args: list[Any] = [self.prefix, self.origin, now + ttl, now, ttl]
        for channel_id, entry in self._local:
            args += [channel_id, entry.user_id, _entry_json(entry)]
        reaped = await self._script("HEARTBEAT", [], args)
        return [
            Departure(
                reaped[i].decode(),
                reaped[i + 1].decode(),
                _entry(reaped[i + 1], reaped[i + 2]).username,
            )
            for i in range(0, len(reaped), 3)
        ]

    async def leave_all(self) -> None:
        """Take this instance's users out of presence (shutdown)."""
        for channel_id, entry in list(self._local):
            keys = self._keys(channel_id, entry.user_id)
            try:
                await self._script("LEAVE", keys, [self.origin, now_ms(), entry.user_id])
            except BrokerUnavailable:
                break  # their entries expire within the TTL


def _entry_json(entry: PresenceEntry) -> bytes:
    return orjson.dumps([entry.username, entry.last_seen])


def _entry(user_id: bytes, data: bytes) -> PresenceEntry:
    username, last_seen = orjson.loads(data) if data else (user_id.decode(), 0)
    return PresenceEntry(user_id.decode(), username, last_seen)
