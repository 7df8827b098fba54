"""A join's catch-up: `joined`, then history, then live traffic, with no gap and
no duplicate between what was read from the store and what the supervisor sends."""

from __future__ import annotations

from trichat.config import Settings
from trichat.hub import Member, Supervisor
from trichat.protocol import frames
from trichat.service import ChatService

CATCH_UP_BATCH = 500  # messages per store read while the supervisor is ahead


async def catch_up(
    member: Member, sup: Supervisor, since: int | None, chat: ChatService, settings: Settings
) -> None:
    """Send `joined`, then history (missed messages or the last N), then attach
    to the supervisor so live traffic follows with no gap and no duplicate.

    `upto` is what the supervisor had released when the join began: history stops
    there, and `attach` hands over from there, catching the member up from its
    recent frames — or, when those do not reach back far enough, answering the
    seq to read the store from first, in a loop until the member is attached."""
    channel_id = sup.channel_id
    upto = sup.released
    if since is not None and upto - since <= settings.recover_max:
        recovered = True
        history = await chat.replay(channel_id, after=since, limit=settings.recover_max)
        history = [m for m in history if m.seq <= upto]
    else:
        recovered = since is None
        limit = settings.history_on_join
        history = []
        if limit:
            history = await chat.replay(channel_id, before=upto + 1, limit=limit)
    out = member.outbox
    await out.send(frames.ws_frame(frames.encode_joined(channel_id, upto, recovered)))
    for m in history:
        await out.send(frames.ws_frame(frames.encode_message(m)))
    seen = max(upto, since or 0)
    while (need := sup.attach(member, seen)) is not None:
        more = await chat.replay(channel_id, after=need, limit=CATCH_UP_BATCH)
        more = [m for m in more if m.seq <= sup.released]
        for m in more:
            await out.send(frames.ws_frame(frames.encode_message(m)))
        seen = more[-1].seq if more else sup.released
