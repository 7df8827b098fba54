"""A join's catch-up: `joined`, then history, then live traffic, with no gap and
no duplicate between what was read from the store and what the supervisor sends.
With `since`, the history is the channel's log (every event, messages in their
current state); without, the last messages in current state."""

from __future__ import annotations

from collections.abc import Sequence

from trichat.config import Settings
from trichat.hub import Member, Supervisor
from trichat.models import LogEvent, Message, ReadMark
from trichat.protocol import frames
from trichat.service import ChatService

CATCH_UP_BATCH = 500  # messages per store read while the supervisor is ahead


async def catch_up(
    member: Member,
    sup: Supervisor,
    since: int | None,
    chat: ChatService,
    settings: Settings,
    mark: ReadMark | None = None,
) -> None:
    """Send `joined` (with the member's read marker, `mark`), then history (missed
    messages or the last N), then attach to the supervisor so live traffic follows
    with no gap and no duplicate.

    `upto` is what the supervisor had released when the join began: history stops
    there, and `attach` hands over from there, catching the member up from its
    recent frames — or, when those do not reach back far enough, answering the
    seq to read the store from first, in a loop until the member is attached."""
    channel_id = sup.channel_id
    upto = sup.released
    if since is not None and upto - since <= settings.recover_max:
        recovered = True
        log = await chat.replay(channel_id, after=since, limit=settings.recover_max)
        history: Sequence[Message | LogEvent] = [m for m in log if m.seq <= upto]
    else:
        recovered = since is None
        limit = settings.history_on_join
        history = []
        if limit:
            history = await chat.recent(channel_id, before=upto + 1, limit=limit)
    out = member.outbox
    read_seq, unread = (mark.seq, mark.unread) if mark is not None else (None, 0)
    joined = frames.encode_joined(channel_id, upto, recovered, read_seq, unread)
    await out.send(frames.ws_frame(joined))
    for item in history:
        await out.send(frames.ws_frame(frames.encode_log_event(item)))
    seen = max(upto, since or 0)
    while (need := sup.attach(member, seen)) is not None:
        more = await chat.replay(channel_id, after=need, limit=CATCH_UP_BATCH)
        more = [m for m in more if m.seq <= sup.released]
        for item in more:
            await out.send(frames.ws_frame(frames.encode_log_event(item)))
        seen = more[-1].seq if more else sup.released
