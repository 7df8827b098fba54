"""A private channel's members: add, remove."""

from __future__ import annotations

from quart import Response

from trichat.models import Principal
from trichat.service import ChatService
from trichat.web import schemas as S
from trichat.web.api import Routes
from trichat.web.app import json_response
from trichat.web.routes.paths import PREFIX, channel_uuid, valid_user_id

routes = Routes()


async def _membership(
    chat: ChatService, who: Principal, channel_id: str, member: str, present: bool
) -> Response:
    await chat.set_member(who, channel_uuid(channel_id), valid_user_id(member), present)
    return json_response({"channel_id": channel_id, "user_id": member, "member": present})


@routes.route(
    "PUT",
    f"{PREFIX}/channels/{{channel_id}}/members/{{user_id}}",
    summary="Add a member (private channels; creator or admin)",
    responses={200: S.Membership},
    errors=(403, 404),
)
async def add_member(chat: ChatService, who: Principal, channel_id: str, user_id: str) -> Response:
    return await _membership(chat, who, channel_id, user_id, True)


@routes.route(
    "DELETE",
    f"{PREFIX}/channels/{{channel_id}}/members/{{user_id}}",
    summary="Remove a member (their connections leave a private channel at once)",
    responses={200: S.Membership},
    errors=(403, 404),
)
async def remove_member(
    chat: ChatService, who: Principal, channel_id: str, user_id: str
) -> Response:
    return await _membership(chat, who, channel_id, user_id, False)
