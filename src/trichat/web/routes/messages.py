"""A channel's messages: history, post, delete."""

from __future__ import annotations

from typing import Any

from quart import Response

from trichat.models import USER, Message, Principal, rfc3339
from trichat.protocol.frames import message_payload
from trichat.service import ChatService
from trichat.web import schemas as S
from trichat.web.api import Body, Routes
from trichat.web.app import json_response
from trichat.web.routes.paths import PREFIX, channel_uuid, seq_number

routes = Routes()


def message_json(msg: Message) -> dict[str, Any]:
    body = message_payload(msg)
    del body["type"]
    return body


@routes.route(
    "GET",
    f"{PREFIX}/channels/{{channel_id}}/messages",
    summary="History: `before` pages back from the newest, `after` forward",
    query=S.MessagesQuery,
    responses={200: S.MessageList},
    errors=(404,),
)
async def list_messages(
    chat: ChatService, who: Principal, channel_id: str, query: dict[str, Any]
) -> Response:
    limit, before, after = query.get("limit", 50), query.get("before"), query.get("after")
    rows = await chat.history(
        who, channel_uuid(channel_id), before=before, after=after, limit=limit
    )
    cursor = None
    if len(rows) == limit:
        cursor = rows[-1].seq if after is not None else rows[0].seq
    return json_response({"messages": [message_json(m) for m in rows], "next_cursor": cursor})


@routes.route(
    "POST",
    f"{PREFIX}/channels/{{channel_id}}/messages",
    summary="Post a message (same limits, dedupe and ack as the WebSocket)",
    body=S.MessagePost,
    responses={201: S.MessagePosted, 200: S.MessagePosted},
    errors=(403, 404, 429, 503),
)
async def post_message(chat: ChatService, who: Principal, channel_id: str, body: Body) -> Response:
    await chat.check_post(who, channel_uuid(channel_id))
    fields = await body()
    result = await chat.post(
        who,
        channel_uuid(channel_id),
        fields["content"],
        fields.get("message_id"),
        fields.get("kind", USER),
    )
    msg = result.message
    posted = {
        "channel_id": msg.channel_id,
        "message_id": msg.message_id,
        "seq": msg.seq,
        "timestamp": rfc3339(msg.created_at),
    }
    return json_response(posted, 200 if result.duplicate else 201)


@routes.route(
    "DELETE",
    f"{PREFIX}/channels/{{channel_id}}/messages/{{seq}}",
    summary="Delete a message (author, creator or admin)",
    responses={204: None},
    errors=(403, 404),
)
async def delete_message(chat: ChatService, who: Principal, channel_id: str, seq: str) -> Response:
    target = seq_number(seq)
    await chat.delete_message(who, channel_uuid(channel_id), target)
    return Response(b"", status=204)
