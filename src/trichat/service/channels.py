"""Channels: who may join or post, creating and listing them, changing them, their
members and bans, and the moderation log."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import TypeVar

from trichat.broker.base import CLOSED, KICK, Event
from trichat.errors import (
    BAD_REQUEST,
    CHANNEL_FULL,
    CONFLICT,
    FORBIDDEN,
    NOT_FOUND,
    RATE_LIMITED,
    ClientError,
    Conflict,
)
from trichat.models import PRIVATE, Admission, Ban, Channel, Principal
from trichat.protocol.values import canonical_uuid
from trichat.service.core import Core, open_to

T = TypeVar("T")
PATCH_PER_MINUTE = 10
CREATE_PER_MINUTE = 10
MODERATION_PAGE = 200  # newest entries of the moderation log


class ChannelOps(Core):
    async def check_join(self, who: Principal, channel_id: str) -> Admission:
        """May `who` join now? not_found / forbidden (banned, private) / channel_full.
        The admission: the channel and `who`'s stored marker in it."""
        admission = await self._admitted(who, channel_id, unseen=FORBIDDEN)
        channel = admission.channel
        if channel.max_participants is not None:
            present = await self._cluster_call(self.presence.online(channel_id))
            if len(present) >= channel.max_participants and all(
                p.user_id != who.user_id for p in present
            ):
                raise ClientError(CHANNEL_FULL, "the channel is full", channel_id=channel_id)
        return admission

    async def check_post(self, who: Principal, channel_id: str) -> Channel:
        """May `who` post to the channel over REST? As for a join, except that a
        private channel a stranger may not see stays `not_found`, and a full
        channel takes posts (it limits who is in it, not who writes)."""
        return (await self._admitted(who, channel_id, unseen=NOT_FOUND)).channel

    async def _admitted(self, who: Principal, channel_id: str, *, unseen: str) -> Admission:
        """The one rule set for taking part: the channel exists and is active, `who`
        may see it (else `unseen`: forbidden to a joiner, not_found to a poster),
        and `who` is not banned from it. One read of the store."""
        canonical = canonical_uuid(channel_id)
        admission = None
        if canonical is not None:  # (no channel has another id: the doors pass canonical ones)
            admission = await self._store_call(
                self.store.admission(canonical, who.user_id, self.clock())
            )
        if admission is None or not admission.channel.is_active:
            raise ClientError(NOT_FOUND, "no such channel", channel_id=channel_id)
        if not (admission.member or open_to(who, admission.channel)):
            if unseen == NOT_FOUND:
                raise ClientError(NOT_FOUND, "no such channel", channel_id=channel_id)
            private = "this channel is private: members only"
            raise ClientError(unseen, private, channel_id=channel_id)
        if admission.banned:
            raise ClientError(FORBIDDEN, "you are banned from this channel", channel_id=channel_id)
        return admission

    async def update_channel(
        self, who: Principal, channel_id: str, changes: dict[str, object]
    ) -> Channel:
        channel = await self.managed_channel(who, channel_id)
        if "name" in changes:
            changes = {**changes, "name": _clean_name(str(changes["name"]))}
        spend = self.limits.spend(f"patch:{who.user_id}", PATCH_PER_MINUTE, 60.0)
        wait = await self._cluster_call(spend)
        if wait > 0:
            raise ClientError(
                RATE_LIMITED,
                f"at most {PATCH_PER_MINUTE} channel changes a minute",
                retry_after=wait,
            )
        updated = await self._store_call(
            _unique(self.store.update_channel(channel_id, changes, self.clock()))
        )
        assert updated is not None
        if channel.is_active and not updated.is_active:
            await self.publish(Event(CLOSED, channel_id))
        await self._log(channel_id, who, "update_channel", "", _describe(changes))
        return updated  # type: ignore[no-any-return]

    async def set_member(
        self, who: Principal, channel_id: str, user_id: str, present: bool
    ) -> None:
        channel = await self.managed_channel(who, channel_id)
        now = self.clock()
        await self._store_call(
            self.store.set_member(channel_id, user_id, present, who.user_id, now)
        )
        if present:  # a new member's read marker starts at the channel's end (SPEC §7)
            await self._store_call(self.store.start_read(channel_id, user_id, now))
        elif channel.channel_type == PRIVATE:
            # a removed member of a private channel leaves it at once, and its unread
            # messages are no longer theirs to count
            await self._store_call(self.store.drop_read(channel_id, user_id))
            await self.publish(Event(KICK, channel_id, user_id=user_id, reason="removed"))
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
        await self.publish(Event(KICK, channel_id, user_id=user_id, reason="banned"))
        await self._log(
            channel_id,
            who,
            "ban",
            user_id,
            f"{reason} (for {duration_seconds} s)" if duration_seconds else reason,
        )
        return ban

    async def unban(self, who: Principal, channel_id: str, user_id: str) -> None:
        """Lift `user_id`'s ban; `not_found` when there is none (nothing is logged)."""
        await self.managed_channel(who, channel_id)
        existed = await self._store_call(
            self.store.delete_ban(channel_id, user_id, who.user_id, self.clock())
        )
        if not existed:
            raise ClientError(NOT_FOUND, "no such ban", channel_id=channel_id)
        await self._log(channel_id, who, "unban", user_id, "")

    async def create_channel(
        self,
        who: Principal,
        *,
        name: str,
        description: str,
        channel_type: str,
        max_participants: int | None,
    ) -> Channel:
        """A new channel created by `who` (at most CREATE_PER_MINUTE a minute).
        The name and description are trimmed; a blank name is `bad_request`, a
        taken one `conflict`."""
        name, description = _clean_name(name), description.strip()
        spend = self.limits.spend(f"create:{who.user_id}", CREATE_PER_MINUTE, 60.0)
        wait = await self._cluster_call(spend)
        if wait > 0:
            raise ClientError(
                RATE_LIMITED, f"at most {CREATE_PER_MINUTE} channels a minute", retry_after=wait
            )
        create = self.store.create_channel(
            channel_id=str(uuid.uuid4()),
            name=name,
            description=description,
            channel_type=channel_type,
            max_participants=max_participants,
            created_by=who.user_id,
            now=self.clock(),
        )
        return await self._store_call(_unique(create))

    async def list_channels(
        self, who: Principal, channel_type: str | None, limit: int, offset: int
    ) -> tuple[list[tuple[Channel, int]], int]:
        """A page of the channels `who` may see, each with its users online; the total."""
        listed = self.store.list_channels(
            user_id=who.user_id,
            see_all=who.is_admin,
            channel_type=channel_type,
            limit=limit,
            offset=offset,
        )
        channels, total = await self._store_call(listed)
        counts = await self._cluster_call(self.presence.counts())
        return [(c, counts.get(c.id, 0)) for c in channels], total

    async def online(self, channel_id: str) -> int:
        """Users online in the channel across the cluster."""
        return len(await self._cluster_call(self.presence.online(channel_id)))

    async def moderation_log(self, who: Principal, channel_id: str) -> list[dict[str, object]]:
        await self.managed_channel(who, channel_id)
        return await self._store_call(self.store.moderation_log(channel_id, MODERATION_PAGE))


def _describe(changes: dict[str, object]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(changes.items()))


def _clean_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise ClientError(BAD_REQUEST, "name must not be blank")
    return name


async def _unique(coro: Awaitable[T]) -> T:
    """A store write that may find the channel name taken: `conflict`."""
    try:
        return await coro
    except Conflict as exc:
        raise ClientError(CONFLICT, str(exc)) from None
