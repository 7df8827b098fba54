"""REST routes under /api/v1/chat (SPEC §4) and /openapi.json; the operator's routes are in
`web/ops.py`. Every route calls the service, never the store or the broker."""

from __future__ import annotations

from typing import Any

from quart import Response
from quart_trio import QuartTrio

from trichat import __version__
from trichat.errors import Conflict
from trichat.models import PUBLIC, USER, Ban, Channel, Message, PresenceEntry, Principal, rfc3339
from trichat.protocol.frames import message_payload
from trichat.protocol.values import MAX_SEQ, canonical_uuid, has_nul, int_text
from trichat.web import ops
from trichat.web import schemas as S
from trichat.web.api import Api, Body
from trichat.web.app import ApiError, json_response
from trichat.web.deps import Deps

PREFIX = "/api/v1/chat"


def channel_json(channel: Channel, online: int) -> dict[str, Any]:
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
    }


def message_json(msg: Message) -> dict[str, Any]:
    body = message_payload(msg)
    del body["type"]
    return body


def ban_json(ban: Ban) -> dict[str, Any]:
    return {
        "channel_id": ban.channel_id,
        "user_id": ban.user_id,
        "reason": ban.reason,
        "banned_by": ban.banned_by,
        "created_at": rfc3339(ban.created_at),
        "expires_at": None if ban.expires_at is None else rfc3339(ban.expires_at),
    }


def _uuid(channel_id: str) -> str:
    canonical = canonical_uuid(channel_id)
    if canonical is None:
        raise ApiError(400, "channel id must be a UUID (8-4-4-4-12 hex digits)")
    return canonical


def _user(user_id: str) -> str:
    if not 0 < len(user_id) <= 128 or has_nul(user_id):
        raise ApiError(400, "user id must be 1..128 characters, without NUL")
    return user_id


def _presence_json(p: PresenceEntry, status: str) -> dict[str, object]:
    return {
        "user_id": p.user_id,
        "username": p.username,
        "status": status,
        "last_seen": rfc3339(p.last_seen),
    }


def register(app: QuartTrio, deps: Deps) -> Api:
    service = deps.service
    api = Api(app, deps.verifier)
    api.add_models(*S.ALL)
    route = api.route

    online = service.online
    ops.register(api, deps)

    @route(
        "POST",
        f"{PREFIX}/channels",
        summary="Create a channel (10 a minute per user)",
        body=S.ChannelCreate,
        responses={201: S.Channel},
        errors=(409, 429),
    )
    async def create_channel(who: Principal, body: Body) -> Response:
        fields = await body()  # any signed-in user may create: nothing to decide first
        name = fields["name"].strip()
        if not name:
            raise ApiError(400, "name must not be blank")
        try:
            channel = await service.create_channel(
                who,
                name=name,
                description=fields.get("description", "").strip(),
                channel_type=fields.get("channel_type", PUBLIC),
                max_participants=fields.get("max_participants"),
            )
        except Conflict as exc:
            raise ApiError(409, str(exc)) from None
        return json_response(channel_json(channel, 0), 201)

    @route(
        "GET",
        f"{PREFIX}/channels",
        summary="Channels you may see, a page at a time",
        query=S.ListChannelsQuery,
        responses={200: S.ChannelList},
    )
    async def list_channels(who: Principal, query: dict[str, Any]) -> Response:
        limit, offset = query.get("limit", 50), query.get("offset", 0)
        channels, total = await service.list_channels(who, query.get("type"), limit, offset)
        items = [channel_json(c, online_now) for c, online_now in channels]
        return json_response({"channels": items, "total": total, "limit": limit, "offset": offset})

    @route(
        "GET",
        f"{PREFIX}/channels/{{channel_id}}",
        summary="One channel",
        responses={200: S.Channel},
        errors=(404,),
    )
    async def get_channel(who: Principal, channel_id: str) -> Response:
        channel = await service.visible_channel(who, _uuid(channel_id))
        return json_response(channel_json(channel, await online(channel.id)))

    @route(
        "PATCH",
        f"{PREFIX}/channels/{{channel_id}}",
        summary="Change a channel (creator or admin; 10 a minute)",
        body=S.ChannelPatch,
        responses={200: S.Channel},
        errors=(403, 404, 409, 429),
    )
    async def patch_channel(who: Principal, channel_id: str, body: Body) -> Response:
        await service.managed_channel(who, _uuid(channel_id))
        fields = await body()
        if "name" in fields:
            fields["name"] = fields["name"].strip()
            if not fields["name"]:
                raise ApiError(400, "name must not be blank")
        try:
            channel = await service.update_channel(who, _uuid(channel_id), fields)
        except Conflict as exc:
            raise ApiError(409, str(exc)) from None
        return json_response(channel_json(channel, await online(channel.id)))

    @route(
        "GET",
        f"{PREFIX}/channels/{{channel_id}}/messages",
        summary="History: `before` pages back from the newest, `after` forward",
        query=S.MessagesQuery,
        responses={200: S.MessageList},
        errors=(404,),
    )
    async def list_messages(who: Principal, channel_id: str, query: dict[str, Any]) -> Response:
        limit, before, after = query.get("limit", 50), query.get("before"), query.get("after")
        rows = await service.history(
            who, _uuid(channel_id), before=before, after=after, limit=limit
        )
        cursor = None
        if len(rows) == limit:
            cursor = rows[-1].seq if after is not None else rows[0].seq
        return json_response({"messages": [message_json(m) for m in rows], "next_cursor": cursor})

    @route(
        "POST",
        f"{PREFIX}/channels/{{channel_id}}/messages",
        summary="Post a message (same limits, dedupe and ack as the WebSocket)",
        body=S.MessagePost,
        responses={201: S.MessagePosted, 200: S.MessagePosted},
        errors=(403, 404, 429, 503),
    )
    async def post_message(who: Principal, channel_id: str, body: Body) -> Response:
        await service.check_post(who, _uuid(channel_id))
        fields = await body()
        result = await service.post(
            who,
            _uuid(channel_id),
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

    @route(
        "DELETE",
        f"{PREFIX}/channels/{{channel_id}}/messages/{{seq}}",
        summary="Delete a message (author, creator or admin)",
        responses={204: None},
        errors=(403, 404),
    )
    async def delete_message(who: Principal, channel_id: str, seq: str) -> Response:
        target = int_text(seq)
        if target is None:
            raise ApiError(400, f"seq must be an integer in 0..{MAX_SEQ} (ASCII digits)")
        await service.delete_message(who, _uuid(channel_id), target)
        return Response(b"", status=204)

    @route(
        "GET",
        f"{PREFIX}/channels/{{channel_id}}/presence",
        summary="Who is online in the channel, across all instances",
        query=S.PresenceQuery,
        responses={200: S.Presence},
        errors=(404,),
    )
    async def presence(who: Principal, channel_id: str, query: dict[str, Any]) -> Response:
        offline = query.get("include") == "offline"
        listed = await service.presence_list(who, _uuid(channel_id), offline=offline)
        return json_response({"users": [_presence_json(p, status) for p, status in listed]})

    async def membership(who: Principal, channel_id: str, user_id: str, present: bool) -> Response:
        await service.set_member(who, _uuid(channel_id), _user(user_id), present)
        return json_response({"channel_id": channel_id, "user_id": user_id, "member": present})

    @route(
        "PUT",
        f"{PREFIX}/channels/{{channel_id}}/members/{{user_id}}",
        summary="Add a member (private channels; creator or admin)",
        responses={200: S.Membership},
        errors=(403, 404),
    )
    async def add_member(who: Principal, channel_id: str, user_id: str) -> Response:
        return await membership(who, channel_id, user_id, True)

    @route(
        "DELETE",
        f"{PREFIX}/channels/{{channel_id}}/members/{{user_id}}",
        summary="Remove a member (their connections leave a private channel at once)",
        responses={200: S.Membership},
        errors=(403, 404),
    )
    async def remove_member(who: Principal, channel_id: str, user_id: str) -> Response:
        return await membership(who, channel_id, user_id, False)

    @route(
        "PUT",
        f"{PREFIX}/channels/{{channel_id}}/bans/{{user_id}}",
        summary="Ban a user (creator or admin): their connections leave at once",
        body=S.BanCreate,
        responses={200: S.BanOut},
        errors=(403, 404),
    )
    async def put_ban(who: Principal, channel_id: str, user_id: str, body: Body) -> Response:
        await service.managed_channel(who, _uuid(channel_id))
        fields = await body()  # every field optional: no body is a ban with no reason
        ban = await service.ban(
            who,
            _uuid(channel_id),
            _user(user_id),
            fields.get("reason", ""),
            fields.get("duration_seconds"),
        )
        return json_response(ban_json(ban))

    @route(
        "DELETE",
        f"{PREFIX}/channels/{{channel_id}}/bans/{{user_id}}",
        summary="Lift a ban (creator or admin)",
        responses={204: None},
        errors=(403, 404),
    )
    async def delete_ban(who: Principal, channel_id: str, user_id: str) -> Response:
        if not await service.unban(who, _uuid(channel_id), _user(user_id)):
            raise ApiError(404, "no such ban")
        return Response(b"", status=204)

    @route(
        "GET",
        f"{PREFIX}/channels/{{channel_id}}/moderation",
        summary="The channel's moderation log, newest first (creator or admin)",
        responses={200: S.ModerationLog},
        errors=(403, 404),
    )
    async def moderation(who: Principal, channel_id: str) -> Response:
        entries = await service.moderation_log(who, _uuid(channel_id))
        for entry in entries:
            entry["created_at"] = rfc3339(int(entry["created_at"]))  # type: ignore[call-overload]
        return json_response({"entries": entries})

    document = api.openapi(title="trichat", version=__version__)

    @app.get("/openapi.json")
    async def openapi() -> Response:
        return json_response(document)

    return api
