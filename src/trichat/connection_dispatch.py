"""The dispatcher: a session's client frames become service calls (`ChatService`
send, typing, check_join, replay, presence) and their answers become frames.

A `ClientError` becomes an `error` frame and never closes the socket (a store or
cluster that is away arrives as the service's `unavailable`). Nothing new is
taken once the session is closing or the instance is draining, so every in-flight
frame is acked before a shutdown's close frames go out (`Sessions.inflight`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from trichat import errors
from trichat.connection_catchup import catch_up
from trichat.errors import NOT_JOINED, ClientError
from trichat.hub import Supervisor
from trichat.protocol import frames

if TYPE_CHECKING:
    from trichat.connection import Session


async def on_text(session: Session, text: str) -> None:
    """Act on one text frame; answer a refusal with an `error` frame."""
    deps = session.deps
    sessions, metrics = deps.sessions, deps.metrics
    if session.outbox.closing is not None or sessions.draining:
        return  # nothing new is taken once closing; unacked messages can be resent
    sessions.inflight += 1
    try:
        frame = frames.parse(text, max_content_chars=deps.settings.max_content_chars)
        await dispatch(session, frame)
    except ClientError as err:
        metrics.err[err.code].inc()
        if err.code == errors.BAD_REQUEST:
            metrics.msg["invalid"].inc()
        session.outbox.offer(frames.ws_frame(frames.encode_error(err)))
    finally:
        sessions.inflight -= 1
        if sessions.inflight == 0:
            sessions.idle.set()


async def dispatch(session: Session, frame: frames.ClientFrame) -> None:
    msg = session.deps.metrics.msg
    if isinstance(frame, frames.Send):
        msg["message"].inc()
        if frame.channel_id not in session.joined:
            raise ClientError(
                NOT_JOINED,
                "join the channel before sending to it",
                channel_id=frame.channel_id,
                message_id=frame.message_id,
            )
        result = await session.deps.service.send(
            session.principal, frame.channel_id, frame.content, frame.message_id
        )
        session.outbox.offer(frames.ws_frame(frames.encode_ack(result.message)))
        msg["ack"].inc()
    elif isinstance(frame, frames.Join):
        msg["join"].inc()
        await join(session, frame)
    elif isinstance(frame, frames.Leave):
        msg["leave"].inc()
        await leave(session, frame.channel_id)
    elif isinstance(frame, frames.Typing):
        msg["typing"].inc()
        if frame.channel_id not in session.joined:
            raise ClientError(NOT_JOINED, "join the channel first", channel_id=frame.channel_id)
        await session.deps.service.typing(session.principal, frame.channel_id)
    elif isinstance(frame, frames.Refresh):
        msg["refresh"].inc()
        session.liveness.refresh(frame.token)


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
    session.joined[channel_id] = sup
    deps.metrics.channels_active.set(deps.hub.channels_active)
    if not rejoin:
        await deps.service.presence_join(session.principal, channel_id, session.conn_key)


async def _attach(session: Session, frame: frames.Join) -> Supervisor:
    deps = session.deps
    await deps.service.check_join(session.principal, frame.channel_id)
    sup = await deps.hub.acquire(frame.channel_id)
    try:
        await catch_up(session, sup, frame.since, deps.service, deps.settings)
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
