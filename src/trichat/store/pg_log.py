"""The channel log's writes on PostgreSQL (the rules and statements are
`log_sql`'s): each change or reply is one transaction that first locks its
channel's row, so it is numbered after everything committed before it and before
any batch of appends that follows."""

from __future__ import annotations

import asyncpg

from trichat.errors import NOT_FOUND
from trichat.models import AppendResult, Change, ChangeResult, LogRefused, MessageDraft
from trichat.store.log_sql import LogStatements, check_parent, facts, rule, steps
from trichat.store.pg_reads import READS
from trichat.store.rows import MESSAGES, as_event, log_item
from trichat.store.sql import POSTGRES, Statements, no_channel

_SQL = Statements(POSTGRES)
_LOG = LogStatements(POSTGRES)
_LOCK = "SELECT last_seq FROM channels WHERE id = $1 FOR UPDATE"
_NUMBERED = "UPDATE channels SET last_seq = $2 WHERE id = $1"
# a reply is a message: the channel's message total grows too (read_sql)
_NUMBERED_MESSAGE = "UPDATE channels SET last_seq = $2, msg_total = msg_total + 1 WHERE id = $1"
_INSERT_REPLY = (
    f"INSERT INTO messages ({MESSAGES.columns}, parent_seq) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,NULL,$11)"
)


async def _last_seq(c: asyncpg.Connection, channel_id: str) -> int:
    last = await c.fetchval(_LOCK, channel_id)
    if last is None:
        raise LogRefused(NOT_FOUND, no_channel(channel_id))
    return int(last)


async def change(c: asyncpg.Connection, op: Change) -> ChangeResult:
    async with c.transaction():
        first = await c.fetchrow(_SQL.log_by_id, op.channel_id, op.user_id, op.message_id)
        if first is not None:
            return ChangeResult(as_event(log_item(first)), duplicate=True)
        seq = await _last_seq(c, op.channel_id) + 1
        target = facts(await c.fetchrow(_LOG.facts, *_LOG.facts_args(op)))
        if not rule(op, target):
            return ChangeResult(None, duplicate=False)
        assert target is not None
        todo, event = steps(_LOG, op, target, seq)
        for sql, args in todo:
            await c.execute(sql, *args)
        await c.execute(_NUMBERED, op.channel_id, seq)
        return ChangeResult(event, duplicate=False)


async def reply(c: asyncpg.Connection, draft: MessageDraft) -> AppendResult:
    async with c.transaction():
        key = (draft.channel_id, draft.user_id, draft.message_id)
        first = await c.fetchrow(_SQL.message_by_id, *key)
        if first is not None:
            return AppendResult(MESSAGES.record(first), duplicate=True)
        seq = await _last_seq(c, draft.channel_id) + 1
        check_parent(draft, await c.fetchrow(_LOG.parent, draft.channel_id, draft.parent_seq))
        msg = draft.numbered(seq)
        await c.execute(_INSERT_REPLY, *msg.columns(), msg.parent_seq)
        await c.execute(_LOG.reply_added, msg.channel_id, msg.parent_seq, msg.created_at)
        await c.execute(READS.sent, msg.channel_id, msg.user_id)
        await c.execute(_NUMBERED_MESSAGE, msg.channel_id, seq)
        return AppendResult(msg, duplicate=False)
