"""Presence: a user's first connection joining a channel and their last leaving it,
across the cluster (and users whose instance died, reported by `Presence`), the
frames that announce them, and the history of who was there."""

from __future__ import annotations

from trichat.broker.base import PRESENCE, Event
from trichat.errors import FORBIDDEN, BrokerUnavailable, ClientError, StoreUnavailable
from trichat.models import PresenceEntry, Principal, now_ms
from trichat.protocol.frames import encode_presence
from trichat.service.core import Core, log

RECENTLY_SEEN = 100  # offline users listed by presence?include=offline


class PresenceOps(Core):
    async def presence_join(self, who: Principal, channel_id: str, conn_key: str) -> None:
        now = now_ms()
        entry = PresenceEntry(who.user_id, who.username, now)
        if await self._cluster_call(self.presence.join(channel_id, entry, conn_key)):
            await self._announce(channel_id, who.user_id, who.username, "joined", now)
            await self._record_seen(who, channel_id, now)

    async def presence_leave(self, who: Principal, channel_id: str, conn_key: str) -> None:
        """Never refused: a leave runs as a connection ends, with nobody to answer."""
        try:
            last = await self.presence.leave(channel_id, who.user_id, conn_key)
        except BrokerUnavailable as exc:
            log.warning("presence leave not recorded: %s", exc)
            return
        if last:
            now = now_ms()
            await self._announce(channel_id, who.user_id, who.username, "left", now)
            await self._record_seen(who, channel_id, now)

    async def announce_departures(self) -> None:
        """For the instance's life: announce as left the users whose instance died
        (reaped by this instance's presence heartbeat, so announced once)."""
        async for gone in self.presence.departures():
            await self._announce(gone.channel_id, gone.user_id, gone.username, "left", now_ms())

    async def _announce(
        self, channel_id: str, user_id: str, username: str, kind: str, now: int
    ) -> None:
        payload = encode_presence(channel_id, user_id, username, kind, now)
        await self.publish(Event(PRESENCE, channel_id, payload=payload, user_id=user_id))

    async def _record_seen(self, who: Principal, channel_id: str, now: int) -> None:
        """Presence history is a courtesy: a store failure must not fail a join."""
        try:
            await self.store.record_seen(channel_id, who.user_id, who.username, now)
        except StoreUnavailable as exc:
            log.warning("presence history not recorded: %s", exc)

    async def presence_list(
        self, who: Principal, channel_id: str, *, offline: bool
    ) -> list[tuple[PresenceEntry, str]]:
        """Who is online in the channel across the cluster; with `offline`, also who
        was there recently (at most RECENTLY_SEEN)."""
        channel = await self.visible_channel(who, channel_id)
        online = await self._cluster_call(self.presence.online(channel.id))
        users = [(p, "online") for p in online]
        if offline:
            here = {p.user_id for p in online}
            seen = await self._store_call(self.store.recently_seen(channel.id, RECENTLY_SEEN))
            users += [(p, "offline") for p in seen if p.user_id not in here]
        return users

    async def presence_counts(self, who: Principal) -> dict[str, int]:
        """Users online per channel, across the cluster: for admins only."""
        if not who.is_admin:
            raise ClientError(FORBIDDEN, "admins only")
        return await self._cluster_call(self.presence.counts())
