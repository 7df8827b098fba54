"""The operator's routes: health, stats and metrics; the page and /docs; and, in development
mode only, tokens for any name."""

from __future__ import annotations

import trio
from quart import Response

from trichat.auth import mint, signing_secret
from trichat.models import Principal
from trichat.web import docs, page
from trichat.web import schemas as S
from trichat.web.api import Api, Body
from trichat.web.app import ApiError, json_response
from trichat.web.deps import Deps
from trichat.web.routes.paths import PREFIX


def register(api: Api, deps: Deps) -> None:
    _status_routes(api, deps)
    _metrics_route(api, deps)
    if deps.settings.dev:
        _dev_routes(api, deps)
    page.register(api.app, dev=deps.settings.dev)
    docs.register(api.app)


def _status_routes(api: Api, deps: Deps) -> None:
    service, route = deps.service, api.route

    @route(
        "GET",
        f"{PREFIX}/health",
        summary="Liveness and dependencies (public)",
        responses={200: S.Health, 503: S.Health},
        auth=False,
    )
    async def health() -> Response:
        store_ok, broker_ok = await service.store_answers(), service.broker_healthy
        deps.metrics.store_up.set(1 if store_ok else 0)
        deps.metrics.broker_up.set(1 if broker_ok else 0)
        body = {
            "status": "ok" if store_ok and broker_ok else "degraded",
            "connections": len(deps.sessions.open),
            "http_connections": deps.sessions.http,
            "channels": deps.hub.channels_active,
            "broker": "ok" if broker_ok else "down",
            "store": "ok" if store_ok else "down",
            "instance": deps.settings.instance_id,
        }
        return json_response(body, 200 if store_ok else 503)

    @route(
        "GET",
        f"{PREFIX}/stats",
        summary="Connections per channel (admin)",
        responses={200: S.Stats},
        errors=(403,),
    )
    async def stats(who: Principal) -> Response:
        counts = await service.presence_counts(who)
        local = deps.hub.local_counts()
        channels = [
            {"channel_id": cid, "connections": n, "users_online": counts.get(cid, 0)}
            for cid, n in sorted(local.items())
        ]
        return json_response(
            {
                "instance": deps.settings.instance_id,
                "connections": len(deps.sessions.open),
                "channels_active": len(local),
                "channels": channels,
                "cluster": {
                    "users_online": sum(counts.values()),
                    "channels_with_users": len(counts),
                },
            }
        )


def _metrics_route(api: Api, deps: Deps) -> None:
    route = api.route

    @route(
        "GET",
        "/metrics",
        summary="Prometheus metrics (text format)",
        responses={200: None},
        auth=False,
        content_type="text/plain",
    )
    async def metrics() -> Response:
        deps.metrics.refresh()
        body = await trio.to_thread.run_sync(deps.metrics.render)
        return Response(body, content_type="text/plain; version=0.0.4; charset=utf-8")


def _dev_routes(api: Api, deps: Deps) -> None:
    """Development mode only: a token for any name, for the page's sign-in."""
    secret, route = signing_secret(deps.settings), api.route

    @route(
        "POST",
        f"{PREFIX}/dev/token",
        summary="Development mode only: a one-hour token for any name",
        body=S.DevTokenRequest,
        responses={200: S.DevToken},
        auth=False,
    )
    async def dev_token(body: Body) -> Response:
        user = (await body())["user"].strip()
        if not user:
            raise ApiError(400, "user must not be blank")
        token = mint(
            secret,
            user,
            ttl=3600,
            issuer=deps.settings.jwt_issuer,
            audience=deps.settings.jwt_audience,
        )
        return json_response({"token": token})

    api.add_models(S.DevTokenRequest, S.DevToken)
