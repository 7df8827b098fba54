"""Read markers' writes on PostgreSQL (the statements are `read_sql`'s): one
transaction that first holds the channels' rows in share mode, in id order, so no
append or deletion of those channels interleaves with a move's count, and two
instances' batches cannot deadlock."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from trichat.models import ReadMark
from trichat.store.read_sql import ReadStatements, started
from trichat.store.sql import POSTGRES

READS = ReadStatements(POSTGRES)
_HOLD = (
    "SELECT id, last_seq, msg_total FROM channels WHERE id = ANY($1::uuid[]) ORDER BY id FOR SHARE"
)


def _changed(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def start(c: asyncpg.Connection, channel_id: str, user_id: str, at: int) -> ReadMark | None:
    """A marker at the channel's end, unless the user has one (or there is no such
    channel): the one made, else None."""
    async with c.transaction():
        held = await c.fetchrow(_HOLD, [channel_id])
        if held is None:
            return None
        last, total = held["last_seq"], held["msg_total"]
        made = _changed(await c.execute(READS.insert, channel_id, user_id, last, at, total))
    return started(channel_id, user_id, last, at) if made else None


async def put(c: asyncpg.Connection, moves: Sequence[ReadMark]) -> None:
    """Each marker moved up to its seq (clamped to the channel's last), or created."""
    async with c.transaction():
        held = await c.fetch(_HOLD, sorted({m.channel_id for m in moves}))
        channels = {str(r["id"]): (r["last_seq"], r["msg_total"]) for r in held}
        for move in moves:
            if move.channel_id not in channels:
                continue  # no such channel: nothing to mark
            last, total = channels[move.channel_id]
            seq, update, insert = READS.move(move.seq, move.at, last, total)
            args = (move.channel_id, move.user_id, seq, move.at, total)
            if _changed(await c.execute(update, *(args if update is READS.to_end else args[:4]))):
                continue
            if not _changed(await c.execute(insert, *args)):
                # it exists at or above seq, or another instance created it
                # meanwhile, lower perhaps: move that one
                await c.execute(update, *(args if update is READS.to_end else args[:4]))
