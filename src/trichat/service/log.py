"""The channel log's changes (SPEC §6), for both doors: edit, delete, react,
unreact. Each is rate-limited like a message, ruled on and numbered by the store in
one transaction (`Store.change`), published as the channel's next seq, and
idempotent by the caller's `message_id`. Replies are messages with a `parent_seq`
(`MessageOps.send`); the store rules on their root the same way."""

from __future__ import annotations

from trichat.broker.base import MESSAGE, Event
from trichat.errors import NOT_FOUND, ClientError
from trichat.models import (
    EV_DELETE,
    EV_EDIT,
    EV_MESSAGE,
    Change,
    ChangeResult,
    LogEvent,
    Message,
    Principal,
)
from trichat.protocol.frames import check_content, encode_log_event
from trichat.protocol.log_frames import check_emoji
from trichat.service.core import new_message_id
from trichat.service.messages import MessageOps

EVENTS_PAGE = 1000  # most events one `events` read returns
MAX_HOLDERS = 1_000_000  # holders read to count an emoji's (every one: a count is exact)


class LogOps(MessageOps):
    async def change(
        self,
        who: Principal,
        channel_id: str,
        kind: str,
        target_seq: int,
        *,
        message_id: str | None,
        content: str = "",
        emoji: str = "",
    ) -> ChangeResult:
        """Store one change and publish it. The caller has decided `who` may take
        part in the channel (joined it, or may see it over REST)."""
        mid = message_id or new_message_id()
        ids = {"channel_id": channel_id, "message_id": mid}
        if kind == EV_EDIT:
            check_content(content, self.settings.max_content_chars, **ids)
        elif kind != EV_DELETE:
            emoji = check_emoji(emoji, **ids)
        await self._spend_message(who, **ids)
        moderator = kind == EV_DELETE and await self._moderates(who, channel_id)
        at = self.clock()
        op = Change(channel_id, kind, target_seq, mid, who.user_id, at, content, emoji, moderator)
        result = await self._logged(self.store.change(op), **ids)
        event = result.event
        if event is None or result.duplicate or event.kind == EV_MESSAGE:
            return result  # nothing new (an EV_MESSAGE: the id named a message)
        payload = encode_log_event(event)
        await self.publish(Event(MESSAGE, channel_id, event.seq, payload, stamp=event.created_at))
        if moderator:
            author = await self._author_of(event)
            if author != who.user_id:
                await self._log(channel_id, who, "delete_message", author, f"seq={target_seq}")
        return result

    async def _moderates(self, who: Principal, channel_id: str) -> bool:
        if who.is_admin:
            return True
        channel = await self.channel(channel_id)
        return channel is not None and channel.created_by == who.user_id

    async def _author_of(self, event: LogEvent) -> str:
        msg = await self._store_call(self.store.get_message(event.channel_id, event.target_seq))
        return msg.user_id if msg is not None else ""

    async def events(
        self, who: Principal, channel_id: str, *, after: int, limit: int
    ) -> list[Message | LogEvent]:
        """The raw log after a seq, for a client catching up past `RECOVER_MAX`."""
        channel = await self.visible_channel(who, channel_id)
        page = self.store.events(channel.id, after=after, limit=min(limit, EVENTS_PAGE))
        return await self._store_call(page)  # type: ignore[no-any-return]

    async def reactions(
        self, who: Principal, channel_id: str, seq: int, shown: int = 100
    ) -> list[tuple[str, int, list[str]]]:
        """Each emoji on message `seq`: how many hold it, and the first `shown`."""
        channel = await self.visible_channel(who, channel_id)
        msg = await self._store_call(self.store.get_message(channel.id, seq))
        if msg is None or msg.deleted:
            raise ClientError(NOT_FOUND, "no such message", channel_id=channel_id)
        everyone = self.store.reaction_users(channel.id, seq, limit=MAX_HOLDERS)
        held: list[tuple[str, list[str]]] = await self._store_call(everyone)
        return [(emoji, len(users), users[:shown]) for emoji, users in held]

    async def held_by(self, who: Principal, page: list[Message]) -> set[tuple[int, str]]:
        """The reactions `who` holds on a page of messages they were allowed to read."""
        if not page or not any(m.reactions for m in page):
            return set()
        first, last = page[0].seq, page[-1].seq
        held = self.store.held_reactions(page[0].channel_id, who.user_id, first, last)
        return await self._store_call(held)  # type: ignore[no-any-return]

    async def delete_message(self, who: Principal, channel_id: str, seq: int) -> ChangeResult:
        """A deletion over REST (author, the channel's creator or an admin)."""
        await self.check_post(who, channel_id)
        return await self.change(who, channel_id, EV_DELETE, seq, message_id=None)
