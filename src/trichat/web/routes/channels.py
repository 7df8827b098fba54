"""Channels: create, list, get, change."""

from __future__ import annotations

from typing import Any

from quart import Response

from trichat.models import PUBLIC, Channel, Principal, ReadMark, rfc3339
from trichat.service import ChatService
from trichat.web import schemas as S
from trichat.web.api import Body, Routes
from trichat.web.app import json_response
from trichat.web.routes.paths import PREFIX, channel_uuid

routes = Routes()


def channel_json(channel: Channel, online: int, mark: ReadMark | None = None) -> dict[str, Any]:
    """A channel as the caller sees it: with their read marker (`mark`) if any."""
    return {
        "id": channel.id,
        "name": channel.name,
        "description": channel.description,
        "channel_type": channel.channel_type,
        "max_participants": channel.max_participants,
        "is_active": channel.is_active,
        "created_by": channel.created_by,
        "created_at": rfc3339(channel.created_at),
        "updated_at": rfc3339(channel.updated_at),
        "last_seq": channel.last_seq,
        "members_online": online,
        "read_receipts": channel.read_receipts,
        "read_seq": mark.seq if mark is not None else None,
        "unread": mark.unread if mark is not None else 0,
        "mentions": mark.mentions if mark is not None else 0,
    }


@routes.route(
    "POST",
    f"{PREFIX}/channels",
    summary="Create a channel (10 a minute per user)",
    body=S.ChannelCreate,
    responses={201: S.Channel},
    errors=(409, 429),
)
async def create_channel(chat: ChatService, who: Principal, body: Body) -> Response:
    fields = await body()  # any signed-in user may create: nothing to decide first
    channel = await chat.create_channel(
        who,
        name=fields["name"],
        description=fields.get("description", ""),
        channel_type=fields.get("channel_type", PUBLIC),
        max_participants=fields.get("max_participants"),
    )
    return json_response(channel_json(channel, 0), 201)


@routes.route(
    "GET",
    f"{PREFIX}/channels",
    summary="Channels you may see, a page at a time",
    query=S.ListChannelsQuery,
    responses={200: S.ChannelList},
)
async def list_channels(chat: ChatService, who: Principal, query: dict[str, Any]) -> Response:
    limit, offset = query.get("limit", 50), query.get("offset", 0)
    channels, total = await chat.list_channels(who, query.get("type"), limit, offset)
    marks = await chat.marks_in(who, [c for c, _ in channels])
    items = [channel_json(c, online_now, marks.get(c.id)) for c, online_now in channels]
    return json_response({"channels": items, "total": total, "limit": limit, "offset": offset})


@routes.route(
    "GET",
    f"{PREFIX}/channels/{{channel_id}}",
    summary="One channel",
    responses={200: S.Channel},
    errors=(404,),
)
async def get_channel(chat: ChatService, who: Principal, channel_id: str) -> Response:
    channel = await chat.visible_channel(who, channel_uuid(channel_id))
    return await _shown(chat, who, channel)


async def _shown(chat: ChatService, who: Principal, channel: Channel) -> Response:
    mark = (await chat.marks_in(who, [channel])).get(channel.id)
    return json_response(channel_json(channel, await chat.online(channel.id), mark))


@routes.route(
    "PATCH",
    f"{PREFIX}/channels/{{channel_id}}",
    summary="Change a channel (creator or admin; 10 a minute)",
    body=S.ChannelPatch,
    responses={200: S.Channel},
    errors=(403, 404, 409, 429),
)
async def patch_channel(chat: ChatService, who: Principal, channel_id: str, body: Body) -> Response:
    await chat.managed_channel(who, channel_uuid(channel_id))
    channel = await chat.update_channel(who, channel_uuid(channel_id), await body())
    return await _shown(chat, who, channel)
