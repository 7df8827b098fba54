"""REST routes under /api/v1/chat (SPEC §4), plus /metrics and /."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import trio
from quart import Response, request
from quart_trio import QuartTrio

from trichat.auth import Verifier
from trichat.broker.base import Broker
from trichat.config import Settings
from trichat.connection import Sessions
from trichat.errors import Conflict, StoreUnavailable
from trichat.hub import Hub
from trichat.metrics import Metrics
from trichat.models import CHANNEL_TYPES, PUBLIC, Channel, Message, now_ms, rfc3339
from trichat.protocol.frames import message_payload
from trichat.service import ChatService, valid_uuid
from trichat.web.app import ApiError, authenticate, json_body, json_response

PREFIX = "/api/v1/chat"
CREATE_PER_MINUTE = 10
MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_PARTICIPANTS = 1_000_000


@dataclass
class Deps:
    settings: Settings
    verifier: Verifier
    service: ChatService
    hub: Hub
    broker: Broker
    sessions: Sessions
    metrics: Metrics


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


def _int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}")
    return value


def _check_fields(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")


def _text_field(body: dict[str, Any], name: str, max_len: int, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"{name} is required")
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string")
    value = value.strip()
    if required and not value:
        raise ApiError(400, f"{name} must not be empty")
    if len(value) > max_len:
        raise ApiError(400, f"{name} must be at most {max_len} characters")
    return value


def _max_participants(body: dict[str, Any]) -> int | None:
    value = body.get("max_participants")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_PARTICIPANTS:
        raise ApiError(400, f"max_participants must be an integer 1..{MAX_PARTICIPANTS} or null")
    return value


def register(app: QuartTrio, deps: Deps) -> None:
    service, store, broker = deps.service, deps.service.store, deps.broker

    async def online(channel_id: str) -> int:
        return len(await broker.presence(channel_id))

    async def visible(channel_id: str) -> Channel:
        if not valid_uuid(channel_id):
            raise ApiError(400, "channel id must be a UUID")
        return await service.visible_channel(authenticate(deps.verifier), channel_id)

    @app.get(f"{PREFIX}/health")
    async def health() -> Response:
        store_ok = True
        try:
            with trio.fail_after(2):
                await store.ping()
        except (StoreUnavailable, trio.TooSlowError):
            store_ok = False
        deps.metrics.store_up.set(1 if store_ok else 0)
        deps.metrics.broker_up.set(1 if broker.healthy else 0)
        status = "ok" if store_ok and broker.healthy else "degraded"
        body = {
            "status": status,
            "connections": len(deps.sessions.open),
            "channels": deps.hub.channels_active,
            "broker": "ok" if broker.healthy else "down",
            "store": "ok" if store_ok else "down",
            "instance": deps.settings.instance_id,
        }
        return json_response(body, 200 if store_ok else 503)

    @app.post(f"{PREFIX}/channels")
    async def create_channel() -> Response:
        who = authenticate(deps.verifier)
        body = await json_body()
        _check_fields(body, {"name", "description", "channel_type", "max_participants"})
        name = _text_field(body, "name", MAX_NAME, required=True)
        description = _text_field(body, "description", MAX_DESCRIPTION, required=False) or ""
        channel_type = body.get("channel_type", PUBLIC)
        if channel_type not in CHANNEL_TYPES:
            raise ApiError(400, "channel_type must be 'public' or 'private'")
        max_participants = _max_participants(body)
        wait = await broker.rate_limit(f"create:{who.user_id}", CREATE_PER_MINUTE, 60.0)
        if wait > 0:
            raise ApiError(429, f"at most {CREATE_PER_MINUTE} channels a minute", retry_after=wait)
        now = now_ms()
        try:
            channel = await store.create_channel(
                channel_id=str(uuid.uuid4()),
                name=name or "",
                description=description,
                channel_type=channel_type,
                max_participants=max_participants,
                created_by=who.user_id,
                now=now,
            )
        except Conflict as exc:
            raise ApiError(409, str(exc)) from None
        return json_response(channel_json(channel, 0), 201)

    @app.get(f"{PREFIX}/channels")
    async def list_channels() -> Response:
        who = authenticate(deps.verifier)
        limit = _int_arg("limit", 50, 1, 100)
        offset = _int_arg("offset", 0, 0, 10**9)
        channel_type = request.args.get("type")
        if channel_type is not None and channel_type not in CHANNEL_TYPES:
            raise ApiError(400, "type must be 'public' or 'private'")
        channels, total = await store.list_channels(
            user_id=who.user_id,
            see_all=who.is_admin,
            channel_type=channel_type,
            limit=limit or 50,
            offset=offset or 0,
        )
        items = [channel_json(c, await online(c.id)) for c in channels]
        return json_response({"channels": items, "total": total, "limit": limit, "offset": offset})

    @app.get(f"{PREFIX}/channels/<channel_id>")
    async def get_channel(channel_id: str) -> Response:
        channel = await visible(channel_id)
        return json_response(channel_json(channel, await online(channel.id)))

    @app.get(f"{PREFIX}/channels/<channel_id>/messages")
    async def list_messages(channel_id: str) -> Response:
        channel = await visible(channel_id)
        limit = _int_arg("limit", 50, 1, 100) or 50
        before = _int_arg("before", None, 0, 2**62)
        after = _int_arg("after", None, 0, 2**62)
        if before is not None and after is not None:
            raise ApiError(400, "use either before or after, not both")
        rows = await store.messages(channel.id, before=before, after=after, limit=limit)
        cursor = None
        if len(rows) == limit:
            cursor = rows[-1].seq if after is not None else rows[0].seq
        return json_response({"messages": [message_json(m) for m in rows], "next_cursor": cursor})

    @app.get(f"{PREFIX}/channels/<channel_id>/presence")
    async def presence(channel_id: str) -> Response:
        channel = await visible(channel_id)
        users = [
            {
                "user_id": p.user_id,
                "username": p.username,
                "status": "online",
                "last_seen": rfc3339(p.last_seen),
            }
            for p in await broker.presence(channel.id)
        ]
        return json_response({"users": users})

    @app.get("/metrics")
    async def metrics() -> Response:
        body = await trio.to_thread.run_sync(deps.metrics.render)
        return Response(body, content_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/")
    async def index() -> Response:
        return Response(
            "<!doctype html><title>trichat</title><p>trichat is running. WebSocket: "
            "<code>/ws</code>; REST: <code>/api/v1/chat</code>.</p>",
            content_type="text/html; charset=utf-8",
        )
