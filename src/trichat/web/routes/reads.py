"""Read state over REST (SPEC §7): move your marker, see a channel's receipts, and
your unread messages across channels."""

from __future__ import annotations

from quart import Response

from trichat.models import Principal, rfc3339
from trichat.service import ChatService
from trichat.web import read_schemas as RS
from trichat.web.api import Body, Routes
from trichat.web.app import json_response
from trichat.web.routes.paths import PREFIX, channel_uuid

routes = Routes()


@routes.route(
    "PUT",
    f"{PREFIX}/channels/{{channel_id}}/read",
    summary="Move your read marker up (a lower seq changes nothing)",
    body=RS.ReadMove,
    responses={200: RS.ReadState},
    errors=(404, 503),
)
async def put_read(chat: ChatService, who: Principal, channel_id: str, body: Body) -> Response:
    cid = channel_uuid(channel_id)
    await chat.visible_channel(who, cid)
    mark = await chat.read(who, cid, (await body())["seq"])
    assert mark is not None  # a read of seq >= 0 always leaves a marker
    return json_response({"read_seq": mark.seq, "unread": mark.unread})


@routes.route(
    "GET",
    f"{PREFIX}/channels/{{channel_id}}/reads",
    summary="Every member's read marker (403 when the channel's read receipts are off)",
    responses={200: RS.Receipts},
    errors=(403, 404),
)
async def list_reads(chat: ChatService, who: Principal, channel_id: str) -> Response:
    marks = await chat.channel_reads(who, channel_uuid(channel_id))
    reads = [{"user_id": m.user_id, "seq": m.seq, "read_at": rfc3339(m.at)} for m in marks]
    return json_response({"reads": reads})


@routes.route(
    "GET",
    f"{PREFIX}/me/unread",
    summary="Your channels with unread messages, and their total",
    responses={200: RS.Unread},
)
async def my_unread(chat: ChatService, who: Principal) -> Response:
    marks = await chat.unread_summary(who)
    channels = [
        {
            "channel_id": m.channel_id,
            "unread": m.unread,
            "mentions": m.mentions,
            "read_seq": m.seq,
            "last_seq": m.last_seq,
        }
        for m in marks
    ]
    return json_response({"channels": channels, "total": sum(m.unread for m in marks)})
