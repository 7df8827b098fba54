"""The chat operations both doors use: the WebSocket reader and the REST routes call
these, so a rule (who may join, the rate limit, dedupe, ack semantics) lives in one
place."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from trichat.broker.base import MESSAGE, PRESENCE, TYPING, Broker, Event
from trichat.config import Settings
from trichat.errors import (
    CHANNEL_FULL,
    FORBIDDEN,
    NOT_FOUND,
    RATE_LIMITED,
    UNAVAILABLE,
    ClientError,
    StoreUnavailable,
)
from trichat.metrics import Metrics
from trichat.models import (
    PRIVATE,
    USER,
    AppendResult,
    Channel,
    MessageDraft,
    PresenceEntry,
    Principal,
    now_ms,
)
from trichat.protocol.frames import check_content, encode_message, encode_presence, encode_typing
from trichat.store.base import Store

log = logging.getLogger("trichat.service")

TYPING_INTERVAL = 2.0


def valid_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@dataclass
class ChatService:
    settings: Settings
    store: Store
    broker: Broker
    metrics: Metrics

    async def _store_call(self, coro):  # type: ignore[no-untyped-def]
        try:
            return await coro
        except StoreUnavailable as exc:
            raise ClientError(UNAVAILABLE, "the store is unavailable; try again") from exc

    async def channel(self, channel_id: str) -> Channel | None:
        if not valid_uuid(channel_id):
            return None
        return await self._store_call(self.store.get_channel(channel_id))  # type: ignore[no-any-return]

    async def may_see(self, who: Principal, channel: Channel) -> bool:
        if channel.channel_type != PRIVATE or who.is_admin or channel.created_by == who.user_id:
            return True
        return await self._store_call(  # type: ignore[no-any-return]
            self.store.is_member(channel.id, who.user_id)
        )

    async def visible_channel(self, who: Principal, channel_id: str) -> Channel:
        """The channel if `who` may see it; `not_found` otherwise (a private channel
        does not reveal itself to strangers)."""
        channel = await self.channel(channel_id)
        if channel is None or not await self.may_see(who, channel):
            raise ClientError(NOT_FOUND, "no such channel", channel_id=channel_id)
        return channel

    async def check_join(self, who: Principal, channel_id: str) -> Channel:
        """May `who` join now? not_found / forbidden (banned, private) / channel_full."""
        channel = await self.channel(channel_id)
        if channel is None or not channel.is_active:
            raise ClientError(NOT_FOUND, "no such channel", channel_id=channel_id)
        if not await self.may_see(who, channel):
            raise ClientError(
                FORBIDDEN, "this channel is private: members only", channel_id=channel_id
            )
        ban = await self._store_call(self.store.get_ban(channel_id, who.user_id, now_ms()))
        if ban is not None:
            raise ClientError(FORBIDDEN, "you are banned from this channel", channel_id=channel_id)
        if channel.max_participants is not None:
            present = await self.broker.presence(channel_id)
            if len(present) >= channel.max_participants and all(
                p.user_id != who.user_id for p in present
            ):
                raise ClientError(CHANNEL_FULL, "the channel is full", channel_id=channel_id)
        return channel

    async def send(
        self,
        who: Principal,
        channel_id: str,
        content: str,
        message_id: str | None,
        kind: str = USER,
    ) -> AppendResult:
        """Rate-limit, store (seq + dedupe), publish. Returns once the message is
        durable; a repeated message_id returns the first message, publishes nothing."""
        ids = {"channel_id": channel_id, "message_id": message_id}
        check_content(content, self.settings.max_content_chars, **ids)
        wait = await self.broker.rate_limit(
            f"msg:{who.user_id}", self.settings.rate_limit_per_minute, 60.0
        )
        if wait > 0:
            self.metrics.rate_limit_hits.inc()
            raise ClientError(
                RATE_LIMITED,
                f"more than {self.settings.rate_limit_per_minute} messages a minute",
                retry_after=wait,
                **ids,
            )
        draft = MessageDraft(
            channel_id=channel_id,
            message_id=message_id or uuid.uuid4().hex,
            user_id=who.user_id,
            username=who.username,
            display_name=who.display_name,
            avatar_url=who.avatar_url,
            content=content,
            kind=kind,
            created_at=now_ms(),
        )
        try:
            result = await self.store.append(draft)
        except StoreUnavailable as exc:
            log.warning("append refused: %s", exc)
            raise ClientError(
                UNAVAILABLE, "the store cannot take the message now; retry", **ids
            ) from exc
        if not result.duplicate:
            msg = result.message
            await self.publish(
                Event(MESSAGE, channel_id, msg.seq, encode_message(msg), stamp=msg.created_at)
            )
        return result

    async def publish(self, event: Event) -> None:
        """Best effort: a lost message event is a seq gap that supervisors heal."""
        try:
            await self.broker.publish(event)
        except Exception:
            log.warning("publish to the broker failed", exc_info=True)

    async def typing(self, who: Principal, channel_id: str) -> None:
        wait = await self.broker.rate_limit(
            f"typing:{channel_id}:{who.user_id}", 1, TYPING_INTERVAL
        )
        if wait == 0:
            payload = encode_typing(channel_id, who.user_id, who.username)
            await self.publish(Event(TYPING, channel_id, payload=payload, user_id=who.user_id))

    async def presence_join(self, who: Principal, channel_id: str, conn_key: str) -> None:
        now = now_ms()
        entry = PresenceEntry(who.user_id, who.username, now)
        if await self.broker.presence_join(channel_id, entry, conn_key):
            payload = encode_presence(channel_id, who.user_id, who.username, "joined", now)
            await self.publish(Event(PRESENCE, channel_id, payload=payload, user_id=who.user_id))

    async def presence_leave(self, who: Principal, channel_id: str, conn_key: str) -> None:
        if await self.broker.presence_leave(channel_id, who.user_id, conn_key):
            payload = encode_presence(channel_id, who.user_id, who.username, "left", now_ms())
            await self.publish(Event(PRESENCE, channel_id, payload=payload, user_id=who.user_id))
