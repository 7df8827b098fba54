"""Read state (SPEC §7), for both doors: moving a user's marker, the answers that
show markers (a channel's, a page of channels', the user's unread summary, a
channel's receipts), and the marker a first join or a membership starts.

A marker is the higher of the stored one and the one `Marks` holds (moved within
the last seconds, shared by every instance); its unread count is the store's,
from counters (`store/read_sql.py`), or for a move not stored yet the stored count
less the messages between (a count over what the user just read). A move is told
to every connection of the user (their personal stream) and, as a receipt, to the
channel's other members unless the channel's `read_receipts` is off; its write to
the store is coalesced by the `ReadFlusher`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from trichat.broker.base import PERSONAL, RECEIPT, Event
from trichat.errors import FORBIDDEN, ClientError
from trichat.models import Admission, Channel, Principal, ReadMark
from trichat.protocol.read_frames import encode_read, encode_receipt
from trichat.service.channels import ChannelOps


class ReadOps(ChannelOps):
    async def read(self, who: Principal, channel_id: str, seq: int) -> ReadMark | None:
        """Move `who`'s marker up to `seq` (clamped to the channel's last). The
        marker as it is after (None: there is none, and `seq` made none: never)."""
        channel = await self.visible_channel(who, channel_id)
        seq = min(seq, channel.last_seq)
        floor = await self._marker_seq(who, channel)
        mark = ReadMark(channel.id, who.user_id, seq, self.clock(), last_seq=channel.last_seq)
        if seq <= floor or not await self._cluster_call(self.marks.raise_mark(mark, floor)):
            # nothing moves (or another device moved it higher meanwhile): as it is
            return (await self.marks_in(who, [channel])).get(channel.id)
        self.flusher.add(mark)
        unread = await self._store_call(self.store.unread_at(channel.id, who.user_id, seq))
        mark = replace(mark, unread=unread)
        await self.publish(Event(PERSONAL, "", payload=encode_read(mark), user_id=who.user_id))
        if channel.read_receipts:
            receipt = encode_receipt(mark)
            await self.publish(Event(RECEIPT, channel.id, payload=receipt, user_id=who.user_id))
        return mark

    async def _marker_seq(self, who: Principal, channel: Channel) -> int:
        """Where `who`'s marker is (-1: none), the higher of stored and held; no count."""
        stored = await self._store_call(self.store.read_marks(who.user_id, [channel.id]))
        held = (await self._cluster_call(self.marks.of_user(who.user_id))).get(channel.id)
        return max([m.seq for m in stored] + ([held.seq] if held else []), default=-1)

    async def marks_in(self, who: Principal, channels: Sequence[Channel]) -> dict[str, ReadMark]:
        """`who`'s markers in these channels (those that have one), counts included."""
        ids = [c.id for c in channels]
        stored = await self._store_call(self.store.read_marks(who.user_id, ids))
        held = await self._cluster_call(self.marks.of_user(who.user_id))
        last = {c.id: c.last_seq for c in channels}
        return await self._merged(who, {m.channel_id: m for m in stored}, held, last)

    async def _merged(
        self,
        who: Principal,
        stored: dict[str, ReadMark],
        held: dict[str, ReadMark],
        last: dict[str, int],
    ) -> dict[str, ReadMark]:
        """Stored markers, each replaced by the one held where that is higher (its
        count read for it), for the channels in `last`."""
        marks = {cid: m for cid, m in stored.items() if cid in last}
        for cid, mark in held.items():
            if cid in last and (cid not in marks or mark.seq > marks[cid].seq):
                unread = await self._store_call(self.store.unread_at(cid, who.user_id, mark.seq))
                marks[cid] = replace(mark, unread=unread, last_seq=last[cid])
        return marks

    async def unread_summary(self, who: Principal) -> list[ReadMark]:
        """`who`'s markers in active channels that leave something unread."""
        stored = {
            m.channel_id: m
            for m in await self._store_call(self.store.read_marks(who.user_id, None))
        }
        held = await self._cluster_call(self.marks.of_user(who.user_id))
        last = {cid: m.last_seq for cid, m in stored.items()}
        for cid in set(held) - set(stored):  # moved lately, not stored yet
            channel = await self.channel(cid)
            if channel is not None and channel.is_active:
                last[cid] = channel.last_seq
        marks = await self._merged(who, stored, held, last)
        return sorted((m for m in marks.values() if m.unread > 0), key=lambda m: -m.unread)

    async def channel_reads(self, who: Principal, channel_id: str) -> list[ReadMark]:
        """Every member's marker in the channel (403 when its receipts are off,
        except for its creator and admins), latest move first."""
        channel = await self.visible_channel(who, channel_id)
        if not channel.read_receipts:
            try:
                self._must_manage(who, channel)
            except ClientError:
                raise ClientError(
                    FORBIDDEN, "read receipts are off in this channel", channel_id=channel.id
                ) from None
        stored = {
            m.user_id: m for m in await self._store_call(self.store.channel_reads(channel.id))
        }
        for uid, mark in (await self._cluster_call(self.marks.of_channel(channel.id))).items():
            if uid not in stored or mark.seq > stored[uid].seq:
                stored[uid] = mark
        return sorted(stored.values(), key=lambda m: (-m.at, m.user_id))

    async def start_reading(self, who: Principal, admission: Admission) -> ReadMark:
        """`who`'s marker in the channel they are joining (its admission holds the
        stored one): the one they have, or a new one at the channel's end (SPEC §7:
        a first join starts it)."""
        channel = admission.channel
        stored = {channel.id: admission.mark} if admission.mark is not None else {}
        held = await self._cluster_call(self.marks.of_user(who.user_id))
        found = (await self._merged(who, stored, held, {channel.id: channel.last_seq})).get(
            channel.id
        )
        if found is not None:
            return found
        now = self.clock()
        made = await self._store_call(self.store.start_read(channel.id, who.user_id, now))
        if made is not None:
            return made  # at the channel's end as the store has it: nothing unread
        # another connection of theirs started one meanwhile
        found = (await self.marks_in(who, [channel])).get(channel.id)
        return found or ReadMark(
            channel.id, who.user_id, channel.last_seq, now, last_seq=channel.last_seq
        )
