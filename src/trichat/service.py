"""The chat operations both doors use: the WebSocket reader and the REST routes call
these, so a rule (who may join, the rate limit, dedupe, ack semantics) lives in one
place."""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from trichat.broker.base import CLOSED, DELETED, KICK, MESSAGE, PRESENCE, TYPING, Broker, Event
from trichat.config import Settings
from trichat.errors import (
    BAD_REQUEST,
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
    SYSTEM,
    USER,
    AppendResult,
    Ban,
    Channel,
    Message,
    MessageDraft,
    PresenceEntry,
    Principal,
    now_ms,
)
from trichat.protocol.frames import (
    check_content,
    encode_deleted,
    encode_message,
    encode_presence,
    encode_typing,
)
from trichat.protocol.values import canonical_uuid
from trichat.store.base import Store

log = logging.getLogger("trichat.service")

TYPING_INTERVAL = 2.0
PATCH_PER_MINUTE = 10

# message ids for messages sent without one: a random per-process prefix and a
# counter, 32 hex digits like a uuid4 but without a getrandom() call per message
_ID_PREFIX = uuid.uuid4().hex[:16]
_id_counter = itertools.count(1)


def new_message_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


@dataclass
class ChatService:
    settings: Settings
    store: Store
    broker: Broker
    metrics: Metrics
    clock: Callable[[], int] = field(default=now_ms)  # epoch ms; tests move it for bans

    async def _store_call(self, coro):  # type: ignore[no-untyped-def]
        try:
            return await coro
        except StoreUnavailable as exc:
            raise ClientError(UNAVAILABLE, "the store is unavailable; try again") from exc

    async def channel(self, channel_id: str) -> Channel | None:
        canonical = canonical_uuid(channel_id)
        if canonical is None:
            return None  # no channel has such an id (the doors pass canonical ones)
        return await self._store_call(self.store.get_channel(canonical))  # type: ignore[no-any-return]

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
        ban = await self._store_call(self.store.get_ban(channel_id, who.user_id, self.clock()))
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
            message_id=message_id or new_message_id(),
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

    # ---- moderation and channel management (REST) ----------------------------------

    def _must_manage(self, who: Principal, channel: Channel) -> None:
        if not (who.is_admin or channel.created_by == who.user_id):
            raise ClientError(
                FORBIDDEN,
                "only the channel's creator or an admin may do this",
                channel_id=channel.id,
            )

    async def managed_channel(self, who: Principal, channel_id: str) -> Channel:
        channel = await self.visible_channel(who, channel_id)
        self._must_manage(who, channel)
        return channel

    async def update_channel(
        self, who: Principal, channel_id: str, changes: dict[str, object]
    ) -> Channel:
        channel = await self.managed_channel(who, channel_id)
        wait = await self.broker.rate_limit(f"patch:{who.user_id}", PATCH_PER_MINUTE, 60.0)
        if wait > 0:
            raise ClientError(
                RATE_LIMITED,
                f"at most {PATCH_PER_MINUTE} channel changes a minute",
                retry_after=wait,
            )
        updated = await self._store_call(
            self.store.update_channel(channel_id, changes, self.clock())
        )
        assert updated is not None
        if channel.is_active and not updated.is_active:
            await self.publish(Event(CLOSED, channel_id))
        await self._log(channel_id, who, "update_channel", "", _describe(changes))
        return updated  # type: ignore[no-any-return]

    async def check_post(self, who: Principal, channel_id: str) -> Channel:
        """May `who` post to the channel over REST? As for a join, except that a
        private channel a stranger may not see stays `not_found`."""
        channel = await self.channel(channel_id)
        if channel is None or not channel.is_active or not await self.may_see(who, channel):
            raise ClientError(NOT_FOUND, "no such channel", channel_id=channel_id)
        if await self._store_call(self.store.get_ban(channel_id, who.user_id, self.clock())):
            raise ClientError(FORBIDDEN, "you are banned from this channel", channel_id=channel_id)
        return channel

    async def post(
        self,
        who: Principal,
        channel_id: str,
        content: str,
        message_id: str | None,
        kind: str,
    ) -> AppendResult:
        """A message over REST: the poster must be allowed to join the channel."""
        if kind == SYSTEM and not who.is_admin:
            raise ClientError(
                FORBIDDEN, "only admins may post system messages", channel_id=channel_id
            )
        await self.check_post(who, channel_id)
        return await self.send(who, channel_id, content, message_id, kind)

    async def delete_message(self, who: Principal, channel_id: str, seq: int) -> Message:
        channel = await self.visible_channel(who, channel_id)
        msg = await self._store_call(self.store.get_message(channel_id, seq))
        if msg is None or msg.deleted:
            raise ClientError(NOT_FOUND, "no such message", channel_id=channel_id)
        if msg.user_id != who.user_id:
            self._must_manage(who, channel)
        await self._store_call(self.store.delete_message(channel_id, seq, self.clock()))
        await self.publish(Event(DELETED, channel_id, payload=encode_deleted(channel_id, seq)))
        if msg.user_id != who.user_id:
            await self._log(channel_id, who, "delete_message", msg.user_id, f"seq={seq}")
        return msg  # type: ignore[no-any-return]

    async def set_member(
        self, who: Principal, channel_id: str, user_id: str, present: bool
    ) -> None:
        await self.managed_channel(who, channel_id)
        await self._store_call(
            self.store.set_member(channel_id, user_id, present, who.user_id, self.clock())
        )
        if not present:  # a removed member of a private channel leaves it at once
            channel = await self.channel(channel_id)
            if channel is not None and channel.channel_type == PRIVATE:
                await self.publish(Event(KICK, channel_id, user_id=user_id, payload=b"removed"))
        await self._log(channel_id, who, "add_member" if present else "remove_member", user_id, "")

    async def ban(
        self,
        who: Principal,
        channel_id: str,
        user_id: str,
        reason: str,
        duration_seconds: int | None,
    ) -> Ban:
        await self.managed_channel(who, channel_id)
        if user_id == who.user_id:
            raise ClientError(BAD_REQUEST, "you cannot ban yourself", channel_id=channel_id)
        now = self.clock()
        expires = None if duration_seconds is None else now + duration_seconds * 1000
        ban = Ban(channel_id, user_id, reason, who.user_id, now, expires)
        await self._store_call(self.store.put_ban(ban))
        await self.publish(Event(KICK, channel_id, user_id=user_id, payload=b"banned"))
        await self._log(
            channel_id,
            who,
            "ban",
            user_id,
            f"{reason} (for {duration_seconds} s)" if duration_seconds else reason,
        )
        return ban

    async def unban(self, who: Principal, channel_id: str, user_id: str) -> bool:
        await self.managed_channel(who, channel_id)
        existed = await self._store_call(
            self.store.delete_ban(channel_id, user_id, who.user_id, self.clock())
        )
        await self._log(channel_id, who, "unban", user_id, "")
        return existed  # type: ignore[no-any-return]

    async def _log(
        self, channel_id: str, who: Principal, action: str, target: str, detail: str
    ) -> None:
        await self._store_call(
            self.store.log_moderation(channel_id, who.user_id, action, target, detail, self.clock())
        )


def _describe(changes: dict[str, object]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(changes.items()))
