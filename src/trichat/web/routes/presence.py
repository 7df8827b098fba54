"""Who is online in a channel."""

from __future__ import annotations

from typing import Any

from quart import Response

from trichat.models import PresenceEntry, Principal, rfc3339
from trichat.service import ChatService
from trichat.web import schemas as S
from trichat.web.api import Routes
from trichat.web.app import json_response
from trichat.web.routes.paths import PREFIX, channel_uuid

routes = Routes()


def presence_json(p: PresenceEntry, status: str) -> dict[str, object]:
    return {
        "user_id": p.user_id,
        "username": p.username,
        "status": status,
        "last_seen": rfc3339(p.last_seen),
    }


@routes.route(
    "GET",
    f"{PREFIX}/channels/{{channel_id}}/presence",
    summary="Who is online in the channel, across all instances",
    query=S.PresenceQuery,
    responses={200: S.Presence},
    errors=(404,),
)
async def presence(
    chat: ChatService, who: Principal, channel_id: str, query: dict[str, Any]
) -> Response:
    offline = query.get("include") == "offline"
    listed = await chat.presence_list(who, channel_uuid(channel_id), offline=offline)
    return json_response({"users": [presence_json(p, status) for p, status in listed]})
