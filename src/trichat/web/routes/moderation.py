"""A channel's moderation: bans and the moderation log (creator or admin)."""

from __future__ import annotations

from typing import Any

from quart import Response

from trichat.models import Ban, Principal, rfc3339
from trichat.service import ChatService
from trichat.web import schemas as S
from trichat.web.api import Body, Routes
from trichat.web.app import json_response
from trichat.web.routes.paths import PREFIX, channel_uuid, valid_user_id

routes = Routes()


def ban_json(ban: Ban) -> dict[str, Any]:
    return {
        "channel_id": ban.channel_id,
        "user_id": ban.user_id,
        "reason": ban.reason,
        "banned_by": ban.banned_by,
        "created_at": rfc3339(ban.created_at),
        "expires_at": None if ban.expires_at is None else rfc3339(ban.expires_at),
    }


@routes.route(
    "PUT",
    f"{PREFIX}/channels/{{channel_id}}/bans/{{user_id}}",
    summary="Ban a user (creator or admin): their connections leave at once",
    body=S.BanCreate,
    responses={200: S.BanOut},
    errors=(403, 404),
)
async def put_ban(
    chat: ChatService, who: Principal, channel_id: str, user_id: str, body: Body
) -> Response:
    await chat.managed_channel(who, channel_uuid(channel_id))
    fields = await body()  # every field optional: no body is a ban with no reason
    ban = await chat.ban(
        who,
        channel_uuid(channel_id),
        valid_user_id(user_id),
        fields.get("reason", ""),
        fields.get("duration_seconds"),
    )
    return json_response(ban_json(ban))


@routes.route(
    "DELETE",
    f"{PREFIX}/channels/{{channel_id}}/bans/{{user_id}}",
    summary="Lift a ban (creator or admin)",
    responses={204: None},
    errors=(403, 404),
)
async def delete_ban(chat: ChatService, who: Principal, channel_id: str, user_id: str) -> Response:
    await chat.unban(who, channel_uuid(channel_id), valid_user_id(user_id))
    return Response(b"", status=204)


@routes.route(
    "GET",
    f"{PREFIX}/channels/{{channel_id}}/moderation",
    summary="The channel's moderation log, newest first (creator or admin)",
    responses={200: S.ModerationLog},
    errors=(403, 404),
)
async def moderation(chat: ChatService, who: Principal, channel_id: str) -> Response:
    entries = await chat.moderation_log(who, channel_uuid(channel_id))
    for entry in entries:
        entry["created_at"] = rfc3339(int(entry["created_at"]))  # type: ignore[call-overload]
    return json_response({"entries": entries})
