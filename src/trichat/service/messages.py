"""Messages: send (both doors), post over REST, history, delete, typing."""

from __future__ import annotations

import logging

from trichat.broker.base import DELETED, MESSAGE, TYPING, Event
from trichat.errors import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    RATE_LIMITED,
    UNAVAILABLE,
    ClientError,
    StoreUnavailable,
)
from trichat.models import SYSTEM, USER, AppendResult, Message, MessageDraft, Principal, now_ms
from trichat.protocol.frames import check_content, encode_deleted, encode_message, encode_typing
from trichat.service.channels import ChannelOps
from trichat.service.core import new_message_id

log = logging.getLogger("trichat.service")
TYPING_INTERVAL = 2.0


class MessageOps(ChannelOps):
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
        spend = self.limits.spend(f"msg:{who.user_id}", self.settings.rate_limit_per_minute, 60.0)
        wait = await self._cluster_call(spend)
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

    async def typing(self, who: Principal, channel_id: str) -> None:
        spend = self.limits.spend(f"typing:{channel_id}:{who.user_id}", 1, TYPING_INTERVAL)
        wait = await self._cluster_call(spend)
        if wait == 0:
            payload = encode_typing(channel_id, who.user_id, who.username)
            await self.publish(Event(TYPING, channel_id, payload=payload, user_id=who.user_id))

    async def history(
        self, who: Principal, channel_id: str, *, before: int | None, after: int | None, limit: int
    ) -> list[Message]:
        """A page of the channel's messages (deleted ones left out), ascending."""
        channel = await self.visible_channel(who, channel_id)
        if before is not None and after is not None:
            raise ClientError(BAD_REQUEST, "use either before or after, not both")
        page = self.store.messages(channel.id, before=before, after=after, limit=limit)
        return await self._store_call(page)

    async def replay(
        self,
        channel_id: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int,
    ) -> list[Message]:
        """A joining member's catch-up: stored messages after or before a seq (deleted
        ones left out). The join has decided the member may read them."""
        page = self.store.messages(channel_id, after=after, before=before, limit=limit)
        return await self._store_call(page)
