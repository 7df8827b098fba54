"""The channel log over REST (SPEC §6): edit a message, react and unreact, who
reacted, and the raw log for catching up past `RECOVER_MAX`."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import orjson
from quart import Response

from trichat.models import EV_EDIT, EV_REACT, EV_UNREACT, Principal, rfc3339
from trichat.protocol.frames import encode_log_event
from trichat.service import ChatService
from trichat.web import log_schemas as LS
from trichat.web.api import Body, Routes
from trichat.web.app import json_response
from trichat.web.routes.paths import PREFIX, channel_uuid, seq_number

routes = Routes()


@routes.route(
    "PATCH",
    f"{PREFIX}/channels/{{channel_id}}/messages/{{seq}}",
    summary="Edit your message (same limits and dedupe as the WebSocket's `edit`)",
    body=LS.MessageEdit,
    responses={200: LS.Edited},
    errors=(403, 404, 429, 503),
)
async def edit_message(
    chat: ChatService, who: Principal, channel_id: str, seq: str, body: Body
) -> Response:
    cid, target = channel_uuid(channel_id), seq_number(seq)
    await chat.check_post(who, cid)
    fields = await body()
    result = await chat.change(
        who, cid, EV_EDIT, target, message_id=fields.get("message_id"), content=fields["content"]
    )
    assert result.event is not None  # an edit always stores one (or is refused)
    return json_response({"seq": result.event.seq, "timestamp": rfc3339(result.event.created_at)})


async def _react(
    chat: ChatService, who: Principal, channel_id: str, seq: str, emoji: str, kind: str
) -> Response:
    cid, target = channel_uuid(channel_id), seq_number(seq)
    await chat.check_post(who, cid)
    result = await chat.change(who, cid, kind, target, message_id=None, emoji=unquote(emoji))
    return json_response({"seq": result.event.seq if result.event is not None else None})


@routes.route(
    "PUT",
    f"{PREFIX}/channels/{{channel_id}}/messages/{{seq}}/reactions/{{emoji}}",
    summary="React with an emoji (URL-encoded); seq null when you already hold it",
    responses={200: LS.ReactionChanged},
    errors=(403, 404, 409, 429, 503),
)
async def put_reaction(
    chat: ChatService, who: Principal, channel_id: str, seq: str, emoji: str
) -> Response:
    return await _react(chat, who, channel_id, seq, emoji, EV_REACT)


@routes.route(
    "DELETE",
    f"{PREFIX}/channels/{{channel_id}}/messages/{{seq}}/reactions/{{emoji}}",
    summary="Take your reaction back; seq null when you did not hold it",
    responses={200: LS.ReactionChanged},
    errors=(403, 404, 429, 503),
)
async def delete_reaction(
    chat: ChatService, who: Principal, channel_id: str, seq: str, emoji: str
) -> Response:
    return await _react(chat, who, channel_id, seq, emoji, EV_UNREACT)


@routes.route(
    "GET",
    f"{PREFIX}/channels/{{channel_id}}/messages/{{seq}}/reactions",
    summary="Each emoji on a message, its count and its first 100 holders",
    responses={200: LS.ReactionList},
    errors=(404,),
)
async def list_reactions(chat: ChatService, who: Principal, channel_id: str, seq: str) -> Response:
    held = await chat.reactions(who, channel_uuid(channel_id), seq_number(seq))
    items = [{"emoji": e, "count": n, "user_ids": users} for e, n, users in held]
    return json_response({"reactions": items})


@routes.route(
    "GET",
    f"{PREFIX}/channels/{{channel_id}}/events",
    summary="The raw log after a seq, every event as its WebSocket frame",
    query=LS.EventsQuery,
    responses={200: LS.LogPage},
    errors=(404,),
)
async def list_events(
    chat: ChatService, who: Principal, channel_id: str, query: dict[str, Any]
) -> Response:
    limit = query.get("limit", 100)
    items = await chat.events(who, channel_uuid(channel_id), after=query["after"], limit=limit)
    cursor = items[-1].seq if len(items) == limit else None
    events = [orjson.loads(encode_log_event(item)) for item in items]
    return json_response({"events": events, "next_cursor": cursor})
