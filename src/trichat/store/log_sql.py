"""The channel log's writes, written once for both stores (SPEC §6): the rules a
change or a reply must pass, decided on facts the store read inside the same
transaction, and the statements that carry it out. Each store runs them its own
way (SQLite in the writer's batch, PostgreSQL in a transaction holding the
channel's row) and numbers the event with the channel's next seq."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trichat.errors import BAD_REQUEST, FORBIDDEN, NOT_FOUND, TOO_MANY_REACTIONS
from trichat.models import (
    EV_DELETE,
    EV_EDIT,
    EV_MESSAGE,
    EV_REACT,
    MAX_EMOJI_PER_MESSAGE,
    Change,
    LogEvent,
    LogRefused,
    MessageDraft,
)
from trichat.store.sql import Dialect

Step = tuple[str, Sequence[object]]


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules need of a change's target, read in the change's transaction."""

    author: str
    event: str
    parent_seq: int | None
    deleted: bool
    distinct_emoji: int  # reactions the message holds, by emoji
    holders: int  # of this change's emoji
    held: bool  # the caller holds this change's emoji


class LogStatements:
    def __init__(self, d: Dialect) -> None:
        s = d.sql
        self.facts = s(
            "SELECT m.user_id, m.event, m.parent_seq, m.deleted_at, "
            "(SELECT count(*) FROM reaction_counts r WHERE r.channel_id = $1 AND r.seq = $2), "
            "(SELECT holders FROM reaction_counts r WHERE r.channel_id = $1 AND r.seq = $2 "
            "AND r.emoji = $3), "
            "(SELECT 1 FROM reactions x WHERE x.channel_id = $1 AND x.seq = $2 "
            "AND x.emoji = $3 AND x.user_id = $4) "
            "FROM messages m WHERE m.channel_id = $1 AND m.seq = $2"
        )
        self.insert_event = s(
            "INSERT INTO messages (channel_id, seq, message_id, user_id, username, "
            "display_name, avatar_url, content, kind, created_at, event, target_seq, emoji, "
            "reaction_count) VALUES ($1,$2,$3,$4,'',NULL,NULL,$5,'user',$6,$7,$8,$9,$10)"
        )
        self.edit = s(
            "UPDATE messages SET content = $3, edited_at = $4 WHERE channel_id = $1 AND seq = $2"
        )
        self.delete = s(
            "UPDATE messages SET content = '', deleted_at = $3 WHERE channel_id = $1 AND seq = $2"
        )
        self.erase_edits = s(
            "UPDATE messages SET content = '' "
            "WHERE channel_id = $1 AND target_seq = $2 AND event = 'edit'"
        )
        # a deleted message no longer counts as unread for those below it (read_sql)
        self.unread_gone = s(
            "UPDATE reads SET base = base + 1 "
            "WHERE channel_id = $1 AND read_seq < $2 AND user_id <> $3"
        )
        self.reply_gone = s(
            "UPDATE messages SET reply_count = reply_count - 1 WHERE channel_id = $1 AND seq = $2"
        )
        self.reply_added = s(
            "UPDATE messages SET reply_count = reply_count + 1, last_reply_at = $3 "
            "WHERE channel_id = $1 AND seq = $2"
        )
        self.hold = s("INSERT INTO reactions VALUES ($1,$2,$3,$4,$5)")
        self.count_up = s(
            "INSERT INTO reaction_counts VALUES ($1,$2,$3,1,$4) ON CONFLICT "
            "(channel_id, seq, emoji) DO UPDATE SET holders = reaction_counts.holders + 1"
        )
        self.unhold = s(
            "DELETE FROM reactions WHERE channel_id = $1 AND seq = $2 AND emoji = $3 "
            "AND user_id = $4"
        )
        self.count_down = s(
            "UPDATE reaction_counts SET holders = holders - 1 "
            "WHERE channel_id = $1 AND seq = $2 AND emoji = $3"
        )
        self.drop_count = s(
            "DELETE FROM reaction_counts WHERE channel_id = $1 AND seq = $2 AND emoji = $3 "
            "AND holders <= 0"
        )
        self.parent = s(
            "SELECT event, parent_seq, deleted_at FROM messages WHERE channel_id = $1 AND seq = $2"
        )

    def facts_args(self, op: Change) -> tuple[object, ...]:
        return (op.channel_id, op.target_seq, op.emoji, op.user_id)


def facts(row: Sequence[object] | None) -> Facts | None:
    if row is None:
        return None
    author, event, parent, deleted_at, distinct, holders, held = row
    return Facts(
        str(author), str(event), parent, deleted_at is not None,  # type: ignore[arg-type]
        int(distinct or 0), int(holders or 0), held is not None,  # type: ignore[call-overload]
    )  # fmt: skip


def rule(op: Change, target: Facts | None) -> bool:
    """Raise `LogRefused`, or say whether the change stores an event (False: a
    reaction already held, or one not held: acked with seq null)."""
    if target is None or target.deleted or target.event != EV_MESSAGE:
        raise LogRefused(NOT_FOUND, f"no message {op.target_seq} in this channel")
    if op.kind == EV_EDIT and target.author != op.user_id:
        raise LogRefused(FORBIDDEN, "only its author may edit a message")
    if op.kind == EV_DELETE and target.author != op.user_id and not op.moderator:
        raise LogRefused(FORBIDDEN, "only its author, the channel's creator or an admin may")
    if op.kind == EV_REACT:
        if target.held:
            return False
        if target.holders == 0 and target.distinct_emoji >= MAX_EMOJI_PER_MESSAGE:
            message = f"a message holds at most {MAX_EMOJI_PER_MESSAGE} distinct emoji"
            raise LogRefused(TOO_MANY_REACTIONS, message)
        return True
    if op.kind not in (EV_EDIT, EV_DELETE):  # unreact
        return target.held
    return True


def steps(sql: LogStatements, op: Change, target: Facts, seq: int) -> tuple[list[Step], LogEvent]:
    """The statements that store `op` as event `seq`, and the event as stored."""
    cid, tseq, at = op.channel_id, op.target_seq, op.created_at
    out: list[Step] = []
    count = 0
    if op.kind == EV_EDIT:
        out.append((sql.edit, (cid, tseq, op.content, at)))
    elif op.kind == EV_DELETE:
        out += [(sql.delete, (cid, tseq, at)), (sql.erase_edits, (cid, tseq))]
        out.append((sql.unread_gone, (cid, tseq, target.author)))
        if target.parent_seq is not None:
            out.append((sql.reply_gone, (cid, target.parent_seq)))
    elif op.kind == EV_REACT:
        out += [(sql.hold, (cid, tseq, op.emoji, op.user_id, seq))]
        out += [(sql.count_up, (cid, tseq, op.emoji, seq))]
        count = target.holders + 1
    else:
        out += [(sql.unhold, (cid, tseq, op.emoji, op.user_id))]
        out += [(sql.count_down, (cid, tseq, op.emoji)), (sql.drop_count, (cid, tseq, op.emoji))]
        count = target.holders - 1
    content = op.content if op.kind == EV_EDIT else ""
    event = LogEvent(
        cid, seq, op.kind, tseq, op.message_id, op.user_id, at, content, op.emoji, count
    )
    emoji = op.emoji or None
    reacted = count if op.kind not in (EV_EDIT, EV_DELETE) else None
    row = (cid, seq, op.message_id, op.user_id, content, at, op.kind, tseq, emoji, reacted)
    out.append((sql.insert_event, row))
    return out, event


def check_parent(draft: MessageDraft, row: Sequence[object] | None) -> None:
    """A reply's root: a top-level message of the channel that is not deleted."""
    if row is None or row[0] != EV_MESSAGE or row[2] is not None:
        raise LogRefused(NOT_FOUND, f"no message {draft.parent_seq} to reply to")
    if row[1] is not None:
        raise LogRefused(BAD_REQUEST, "a reply's parent must be a top-level message")
