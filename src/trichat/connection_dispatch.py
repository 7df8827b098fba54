"""The dispatcher: a session's client frames become service calls (`ChatService`
send, change, typing, check_join, replay, presence) and their answers frames.

A `ClientError` becomes an `error` frame and never closes the socket (a store or
cluster that is away arrives as the service's `unavailable`). Nothing new is
taken once the session is closing or the instance is draining, so every in-flight
frame is acked before a shutdown's close frames go out (`Sessions.inflight`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from trichat import errors
from trichat.connection_catchup import catch_up
from trichat.errors import NOT_JOINED, ClientError
from trichat.hub import Supervisor
from trichat.models import AppendResult, now_ms
from trichat.protocol import frames

if TYPE_CHECKING:
    from trichat.connection import Session

# messages of one connection queued for the store at once, not yet answered (a
# client may send several without waiting for each ack; past this its reader waits)
PIPELINE = 16


async def on_text(session: Session, text: str) -> None:
    """Act on one text frame; answer a refusal with an `error` frame."""
    deps = session.deps
    sessions = deps.sessions
    if session.outbox.closing is not None or sessions.draining:
        return  # nothing new is taken once closing; unacked messages can be resent
    sessions.inflight += 1
    try:
        frame = frames.parse(text, max_content_chars=deps.settings.max_content_chars)
        if session.unanswered and not _pipelines(session, frame):
            await session.wait_answered()  # the frames before it are answered first
        await dispatch(session, frame)
    except ClientError as err:
        if session.unanswered:  # answers go out in the order the frames came in
            await session.wait_answered()
        refuse(session, err)
    finally:
        sessions.done_with_one()


def refuse(session: Session, err: ClientError) -> None:
    """A frame refused: counted, and answered with an `error` frame."""
    metrics = session.deps.metrics
    metrics.err[err.code].inc()
    if err.code == errors.BAD_REQUEST:
        metrics.msg["invalid"].inc()
    session.outbox.offer(frames.ws_frame(frames.encode_error(err)))


def _pipelines(session: Session, frame: frames.ClientFrame) -> bool:
    """May `frame` go on while earlier messages wait for the store? Only a message
    (not a reply), and only `PIPELINE` of them: every other frame waits for their
    answers, so a connection sees its frames answered in the order it sent them."""
    return (
        type(frame) is frames.Send and frame.parent_seq is None and (session.unanswered < PIPELINE)
    )


async def dispatch(session: Session, frame: frames.ClientFrame) -> None:
    await _HANDLERS[type(frame)](session, frame)


def _must_be_joined(session: Session, channel_id: str, message_id: str | None = None) -> None:
    if channel_id not in session.joined:
        raise ClientError(
            NOT_JOINED,
            "join the channel before sending to it",
            channel_id=channel_id,
            message_id=message_id,
        )


async def _send(session: Session, frame: frames.Send) -> None:
    """A message: queued for the store, and answered from the store's writer task
    once durable (`_corked_ack`, the publish, `_answered`); the reader goes back to
    its socket meanwhile. A reply is awaited instead (its root is checked apart
    from the group commit)."""
    msg = session.deps.metrics.msg
    msg["message"].inc()
    _must_be_joined(session, frame.channel_id, frame.message_id)
    if frame.parent_seq is not None:
        await _send_reply(session, frame)
        return
    session.unanswered += 1
    session.deps.sessions.inflight += 1  # until answered: a drain waits for the ack
    try:
        await session.deps.service.send_soon(
            session.principal,
            frame.channel_id,
            frame.content,
            frame.message_id,
            on_stored=partial(_corked_ack, session),
            answered=partial(_answered, session),
        )
    except BaseException:
        session.answered()
        raise


def _answered(session: Session, result: AppendResult | ClientError) -> None:
    """A queued message's end (in the store's writer task): acked and published,
    so the cork comes off (the ack and the sender's own copy leave in one write);
    or refused."""
    try:
        if isinstance(result, ClientError):
            refuse(session, result)
        else:
            session.outbox.uncork()
    finally:
        session.answered()


def _corked_ack(session: Session, result: AppendResult) -> None:
    """The ack into a corked outbox: the sender's own copy, published next with no
    checkpoint between, joins it, and `uncork` writes both at once."""
    session.outbox.cork()
    session.outbox.offer(frames.ws_frame(frames.encode_ack(result.message)))
    session.deps.metrics.msg["ack"].inc()


async def _send_reply(session: Session, frame: frames.Send) -> None:
    try:
        await session.deps.service.send(
            session.principal,
            frame.channel_id,
            frame.content,
            frame.message_id,
            parent_seq=frame.parent_seq,
            on_stored=partial(_corked_ack, session),
        )
    finally:
        session.outbox.uncork()


async def _change(session: Session, frame: frames.ChangeFrame) -> None:
    """An edit, deletion, reaction or unreaction: acked with the change's seq (or
    null when it stored nothing)."""
    msg = session.deps.metrics.msg
    msg[frame.kind].inc()
    _must_be_joined(session, frame.channel_id, frame.message_id)
    result = await session.deps.service.change(
        session.principal,
        frame.channel_id,
        frame.kind,
        frame.target_seq,
        message_id=frame.message_id,
        content=getattr(frame, "content", ""),
        emoji=getattr(frame, "emoji", ""),
    )
    event = result.event
    mid = event.message_id if event is not None else frame.message_id or ""
    seq, at = (event.seq, event.created_at) if event is not None else (None, now_ms())
    ack = frames.encode_change_ack(frame.channel_id, mid, seq, at)
    session.outbox.offer(frames.ws_frame(ack))
    msg["ack"].inc()


async def _join(session: Session, frame: frames.Join) -> None:
    session.deps.metrics.msg["join"].inc()
    await join(session, frame)


async def _leave(session: Session, frame: frames.Leave) -> None:
    session.deps.metrics.msg["leave"].inc()
    await leave(session, frame.channel_id)


async def _typing(session: Session, frame: frames.Typing) -> None:
    session.deps.metrics.msg["typing"].inc()
    if frame.channel_id not in session.joined:
        raise ClientError(NOT_JOINED, "join the channel first", channel_id=frame.channel_id)
    await session.deps.service.typing(session.principal, frame.channel_id)


async def _read(session: Session, frame: frames.Read) -> None:
    """Move the user's read marker: every connection of theirs hears of it on their
    personal stream (this one too); a read that moves nothing sends nothing."""
    session.deps.metrics.msg["read"].inc()
    await session.deps.service.read(session.principal, frame.channel_id, frame.seq)


async def _refresh(session: Session, frame: frames.Refresh) -> None:
    session.deps.metrics.msg["refresh"].inc()
    session.liveness.refresh(frame.token)


_HANDLERS: dict[type, Callable[[Session, Any], Awaitable[None]]] = {
    frames.Send: _send,
    frames.Edit: _change,
    frames.Delete: _change,
    frames.React: _change,
    frames.Join: _join,
    frames.Leave: _leave,
    frames.Typing: _typing,
    frames.Read: _read,
    frames.Refresh: _refresh,
}


async def join(session: Session, frame: frames.Join) -> None:
    """Join (or join again, to catch up from a `since`): check, catch up, attach,
    then announce presence the first time."""
    deps, channel_id = session.deps, frame.channel_id
    rejoin = channel_id in session.joined
    if rejoin:  # again, e.g. to catch up from a `since`: the user never left
        session.detach(channel_id)
    try:
        sup = await _attach(session, frame)
    except BaseException:
        if rejoin:  # refused this time (banned meanwhile, say): now they have left
            with trio.CancelScope(shield=True):
                await deps.service.presence_leave(session.principal, channel_id, session.conn_key)
        raise
    session.joined[channel_id] = sup  # (the channels-active gauge: the monitor's, every 1 s)
    if not rejoin:
        await deps.service.presence_join(session.principal, channel_id, session.conn_key)


async def _attach(session: Session, frame: frames.Join) -> Supervisor:
    deps = session.deps
    async with deps.join_slots:
        admission = await deps.service.check_join(session.principal, frame.channel_id)
        mark = await deps.service.start_reading(session.principal, admission)
        sup = await deps.hub.acquire(frame.channel_id)
    try:
        await catch_up(session, sup, frame.since, deps.service, deps.settings, mark)
    except BaseException:
        sup.detach(session)
        deps.hub.release(sup)
        raise
    return sup


async def leave(session: Session, channel_id: str) -> None:
    if session.detach(channel_id) is None:
        raise ClientError(NOT_JOINED, "not joined to this channel", channel_id=channel_id)
    session.outbox.offer(frames.ws_frame(frames.encode_left(channel_id)))
    await session.deps.service.presence_leave(session.principal, channel_id, session.conn_key)
