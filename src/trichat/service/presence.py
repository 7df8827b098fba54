"""Presence: a user's first connection joining a channel and their last leaving it,
across the cluster, and the history of who was there."""

from __future__ import annotations

from trichat.broker.base import PRESENCE, Event
from trichat.errors import StoreUnavailable
from trichat.models import PresenceEntry, Principal, now_ms
from trichat.protocol.frames import encode_presence
from trichat.service.core import Core, log

RECENTLY_SEEN = 100  # offline users listed by presence?include=offline


class PresenceOps(Core):
    async def presence_join(self, who: Principal, channel_id: str, conn_key: str) -> None:
        now = now_ms()
        entry = PresenceEntry(who.user_id, who.username, now)
        if await self.broker.presence_join(channel_id, entry, conn_key):
            payload = encode_presence(channel_id, who.user_id, who.username, "joined", now)
            await self.publish(Event(PRESENCE, channel_id, payload=payload, user_id=who.user_id))
            await self._record_seen(who, channel_id, now)

    async def presence_leave(self, who: Principal, channel_id: str, conn_key: str) -> None:
        if await self.broker.presence_leave(channel_id, who.user_id, conn_key):
            now = now_ms()
            payload = encode_presence(channel_id, who.user_id, who.username, "left", now)
            await self.publish(Event(PRESENCE, channel_id, payload=payload, user_id=who.user_id))
            await self._record_seen(who, channel_id, now)

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
        online = await self.broker.presence(channel.id)
        users = [(p, "online") for p in online]
        if offline:
            here = {p.user_id for p in online}
            seen = await self._store_call(self.store.recently_seen(channel.id, RECENTLY_SEEN))
            users += [(p, "offline") for p in seen if p.user_id not in here]
        return users

    async def presence_counts(self) -> dict[str, int]:
        """Users online per channel, across the cluster."""
        return await self.broker.presence_counts()
