"""A channel's messages: history (current state, threads), post (replies too), delete."""

from __future__ import annotations

from typing import Any

from quart import Response

from trichat.models import USER, Message, Principal, rfc3339
from trichat.protocol.frames import message_payload
from trichat.service import ChatService
from trichat.web import log_schemas as LS
from trichat.web import schemas as S
from trichat.web.api import Body, Routes
from trichat.web.app import json_response
from trichat.web.routes.paths import PREFIX, channel_uuid, seq_number

routes = Routes()


def message_json(msg: Message, held: set[tuple[int, str]] | None = None) -> dict[str, Any]:
    """A message in its current state; `held`: the caller's reactions (for `me`)."""
    body = message_payload(msg)
    del body["type"]
    mine = held or set()
    body["reactions"] = [
        {"emoji": emoji, "count": count, "me": (msg.seq, emoji) in mine}
        for emoji, count in msg.reactions
    ]
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
        who,
        channel_uuid(channel_id),
        before=before,
        after=after,
        limit=limit,
        top_level=query.get("top_level", False),
        thread=query.get("thread"),
    )
    held = await chat.held_by(who, rows)
    cursor = None
    if len(rows) == limit:
        cursor = rows[-1].seq if after is not None else rows[0].seq
    items = [message_json(m, held) for m in rows]
    return json_response({"messages": items, "next_cursor": cursor})


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
        parent_seq=fields.get("parent_seq"),
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
    summary="Delete a message (author, creator or admin): its text is erased",
    responses={200: LS.Deleted},
    errors=(403, 404, 429, 503),
)
async def delete_message(chat: ChatService, who: Principal, channel_id: str, seq: str) -> Response:
    target = seq_number(seq)
    result = await chat.delete_message(who, channel_uuid(channel_id), target)
    assert result.event is not None  # a deletion always stores one (or is refused)
    return json_response({"seq": result.event.seq})
