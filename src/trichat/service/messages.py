"""Messages: send (both doors), post over REST, history, delete, typing."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from trichat.broker.base import MESSAGE, TYPING, Event
from trichat.errors import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    RATE_LIMITED,
    UNAVAILABLE,
    ClientError,
    StoreUnavailable,
)
from trichat.models import (
    SYSTEM,
    USER,
    AppendResult,
    LogEvent,
    LogRefused,
    Message,
    MessageDraft,
    Principal,
    now_ms,
)
from trichat.protocol.frames import check_content, encode_message, encode_typing
from trichat.service.channels import ChannelOps
from trichat.service.core import new_message_id

log = logging.getLogger("trichat.service")
T = TypeVar("T")
TYPING_INTERVAL = 2.0


class MessageOps(ChannelOps):
    async def send(
        self,
        who: Principal,
        channel_id: str,
        content: str,
        message_id: str | None,
        kind: str = USER,
        *,
        parent_seq: int | None = None,
        on_stored: Callable[[AppendResult], None] | None = None,
    ) -> AppendResult:
        """Rate-limit, store (seq + dedupe), publish. Returns once the message is
        durable; a repeated message_id returns the first message, publishes nothing.
        `parent_seq`: a reply in that root's thread (the store rules on the root).
        `on_stored` is called once it is durable, just before it is published (the
        WebSocket door acks there: its ack precedes the sender's own copy)."""
        draft = await self._draft(who, channel_id, content, message_id, kind, parent_seq)
        result = await self._logged(self.store.append(draft), channel_id, message_id)
        if on_stored is not None:
            on_stored(result)
        self.publish_stored(result)
        return result

    async def send_soon(
        self,
        who: Principal,
        channel_id: str,
        content: str,
        message_id: str | None,
        *,
        on_stored: Callable[[AppendResult], None],
        answered: Callable[[AppendResult | ClientError], None],
    ) -> None:
        """`send` for a door that is answered later (not a reply): the checks and
        the rate limit raise here; once the message is queued for the store this
        returns. From the store's writer task, once it is durable: `on_stored` (the
        door acks), the publish, then `answered` with the result; or only
        `answered`, with the `ClientError` that refused it."""
        draft = await self._draft(who, channel_id, content, message_id, USER, None)

        def stored(outcome: AppendResult | BaseException) -> None:
            if isinstance(outcome, BaseException):
                answered(_refusal(outcome, channel_id, message_id))
                return
            try:
                on_stored(outcome)
                self.publish_stored(outcome)
            finally:
                answered(outcome)

        try:
            await self.store.append_soon(draft, stored)
        except StoreUnavailable as exc:
            raise _refusal(exc, channel_id, message_id) from exc

    def publish_stored(self, result: AppendResult) -> None:
        """A message the store took: to every member (a repeat is not published)."""
        if not result.duplicate:
            msg = result.message
            event = Event(
                MESSAGE, msg.channel_id, msg.seq, encode_message(msg), stamp=msg.created_at
            )
            self.publish_now(event)

    async def _draft(
        self,
        who: Principal,
        channel_id: str,
        content: str,
        message_id: str | None,
        kind: str,
        parent_seq: int | None,
    ) -> MessageDraft:
        """The message to store, once its content is valid and its sender had a token."""
        check_content(
            content, self.settings.max_content_chars, channel_id=channel_id, message_id=message_id
        )
        await self._spend_message(who, channel_id=channel_id, message_id=message_id)
        return MessageDraft(
            channel_id,
            message_id or new_message_id(),
            who.user_id,
            who.username,
            who.display_name,
            who.avatar_url,
            content,
            kind,
            now_ms(),
            parent_seq,
        )

    async def _spend_message(self, who: Principal, **ids: str | None) -> None:
        """One token of the user's message bucket (every change of the log spends
        one too): `rate_limited` when it is empty."""
        per_minute = self.settings.rate_limit_per_minute
        wait = await self._cluster_call(self.limits.spend(f"msg:{who.user_id}", per_minute, 60.0))
        if wait > 0:
            self.metrics.rate_limit_hits.inc()
            message = f"more than {per_minute} messages a minute"
            raise ClientError(RATE_LIMITED, message, retry_after=wait, **ids)

    async def _logged(self, write: Awaitable[T], channel_id: str, message_id: str | None) -> T:
        """A write of the channel's log: a store that cannot take it is
        `unavailable`, a rule it broke (`LogRefused`) is the rule's error."""
        try:
            return await write
        except (StoreUnavailable, LogRefused) as exc:
            raise _refusal(exc, channel_id, message_id) from exc

    async def post(
        self,
        who: Principal,
        channel_id: str,
        content: str,
        message_id: str | None,
        kind: str,
        *,
        parent_seq: int | None = None,
    ) -> AppendResult:
        """A message over REST: the poster must be allowed to join the channel."""
        if kind == SYSTEM and not who.is_admin:
            raise ClientError(
                FORBIDDEN, "only admins may post system messages", channel_id=channel_id
            )
        await self.check_post(who, channel_id)
        return await self.send(who, channel_id, content, message_id, kind, parent_seq=parent_seq)

    async def typing(self, who: Principal, channel_id: str) -> None:
        spend = self.limits.spend(f"typing:{channel_id}:{who.user_id}", 1, TYPING_INTERVAL)
        wait = await self._cluster_call(spend)
        if wait == 0:
            payload = encode_typing(channel_id, who.user_id, who.username)
            await self.publish(Event(TYPING, channel_id, payload=payload, user_id=who.user_id))

    async def history(
        self,
        who: Principal,
        channel_id: str,
        *,
        before: int | None,
        after: int | None,
        limit: int,
        top_level: bool = False,
        thread: int | None = None,
    ) -> list[Message]:
        """A page of the channel's messages in current state (deleted ones left
        out), ascending; `top_level`: no replies; `thread`: a root and its replies."""
        channel = await self.visible_channel(who, channel_id)
        if before is not None and after is not None:
            raise ClientError(BAD_REQUEST, "use either before or after, not both")
        page = self.store.messages(
            channel.id, before=before, after=after, limit=limit, top_level=top_level, thread=thread
        )
        return await self._store_call(page)  # type: ignore[no-any-return]

    async def replay(self, channel_id: str, *, after: int, limit: int) -> list[Message | LogEvent]:
        """A joining member's catch-up from a seq: the log after it, every event,
        messages in current state. The join has decided the member may read it."""
        page = self.store.events(channel_id, after=after, limit=limit)
        return await self._store_call(page)  # type: ignore[no-any-return]

    async def recent(self, channel_id: str, *, before: int, limit: int) -> list[Message]:
        """A joining member's history without `since`: the last messages before a
        seq, in current state (their later events folded in, not sent)."""
        page = self.store.messages(channel_id, before=before, limit=limit)
        return await self._store_call(page)  # type: ignore[no-any-return]


def _refusal(exc: BaseException, channel_id: str, message_id: str | None) -> ClientError:
    """What a failed write of the log tells the client. A failure the store has no
    name for is logged and answered `unavailable` (the client may resend: the
    message_id makes that safe); a message answered by a callback must be answered."""
    ids = {"channel_id": channel_id, "message_id": message_id}
    if isinstance(exc, LogRefused):
        return ClientError(exc.code, exc.message, **ids)
    if isinstance(exc, LookupError):  # the channel is gone (deleted since the join)
        return ClientError(NOT_FOUND, "no such channel", **ids)
    if isinstance(exc, StoreUnavailable):
        log.warning("log write refused: %s", exc)
    else:
        log.error("storing a message failed", exc_info=exc)
    return ClientError(UNAVAILABLE, "the store cannot take it now; retry", **ids)
