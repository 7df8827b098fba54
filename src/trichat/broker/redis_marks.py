"""Read markers as they move, on Redis (SPEC §7): what every instance answers with
until the store has the move (the service's `ReadFlusher` writes it within about a
second). Two hashes hold each move, by user (`P rd:{user}`) and by channel
(`P rc:{channel}`), raised by one atomic Lua script (`redis_lua.RAISE_MARK`) and
expiring `MARK_TTL` after the last move; an entry older than that is ignored
(the store has it, or its instance died before storing it: that second is lost).

This instance's own moves are kept locally too (`local.LocalMarks`): while Redis is
down they are the answer, so a user's devices on this instance stay in step.
"""

from __future__ import annotations

from trichat.broker import redis_lua
from trichat.broker.local import MARK_TTL, LocalMarks
from trichat.broker.redis_link import RedisLink
from trichat.errors import BrokerUnavailable
from trichat.models import ReadMark, now_ms


class RedisMarks:
    def __init__(self, link: RedisLink, ttl: float = MARK_TTL) -> None:
        self._link = link
        self._ttl_ms = int(ttl * 1000)
        self._local = LocalMarks(ttl)
        self._script = link.client.register_script(redis_lua.RAISE_MARK)

    def _keys(self, user_id: str, channel_id: str) -> tuple[str, str]:
        return f"{self._link.prefix}rd:{user_id}", f"{self._link.prefix}rc:{channel_id}"

    async def raise_mark(self, mark: ReadMark, floor: int) -> bool:
        moved_here = self._local.raise_mark(mark, floor)
        if not self._link.up:
            return moved_here
        keys = self._keys(mark.user_id, mark.channel_id)
        args = (mark.channel_id, mark.user_id, mark.seq, mark.at, floor, self._ttl_ms)
        stale = now_ms() - self._ttl_ms
        try:
            moved = await self._link.command("raise_mark", self._script, keys, (*args, stale))
        except BrokerUnavailable:
            return moved_here
        return bool(moved)

    async def of_user(self, user_id: str) -> dict[str, ReadMark]:
        held = await self._hash(self._keys(user_id, "")[0])
        found = {cid: ReadMark(cid, user_id, seq, at) for cid, (seq, at) in held.items()}
        return _higher(found, self._local.of_user(user_id))

    async def of_channel(self, channel_id: str) -> dict[str, ReadMark]:
        held = await self._hash(self._keys("", channel_id)[1])
        found = {uid: ReadMark(channel_id, uid, seq, at) for uid, (seq, at) in held.items()}
        return _higher(found, self._local.of_channel(channel_id))

    async def _hash(self, key: str) -> dict[str, tuple[int, int]]:
        """The live entries of one hash; none while Redis is away."""
        if not self._link.up:
            return {}
        try:
            raw = await self._link.command("marks", self._link.client.hgetall, key)
        except BrokerUnavailable:
            return {}
        stale = now_ms() - self._ttl_ms
        entries = {}
        for field, value in raw.items():
            seq, at = (int(part) for part in value.split(b":"))
            if at >= stale:
                entries[field.decode()] = (seq, at)
        return entries


def _higher(a: dict[str, ReadMark], b: dict[str, ReadMark]) -> dict[str, ReadMark]:
    merged = dict(a)
    for key, mark in b.items():
        if key not in merged or mark.seq > merged[key].seq:
            merged[key] = mark
    return merged
