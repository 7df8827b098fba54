"""A tiny route registry over Quart: each route declares its body, query and
responses as `Model`s; the registry validates requests with them and builds the
OpenAPI document from the very same declarations."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from quart import Response, request
from quart_trio import QuartTrio

from trichat.auth import Verifier
from trichat.web.app import authenticate, json_body
from trichat.web.schema import Model

ERROR_TEXT = {
    400: "invalid input (validation, bad UUID, bad JSON)",
    401: "missing, malformed or expired token",
    403: "not allowed",
    404: "no such resource (or not visible to you)",
    409: "conflict with existing data",
    413: "body too large",
    415: "the body is not sent as application/json",
    429: "rate limited (see Retry-After)",
    503: "the store is unavailable",
}


PATH_PARAMS: dict[str, dict[str, Any]] = {
    "channel_id": {"type": "string", "format": "uuid"},
    "seq": {"type": "integer", "minimum": 0, "maximum": 2**62},
    "user_id": {"type": "string", "minLength": 1, "maxLength": 128},
}


class Body:
    """A route's body, parsed when its handler asks for it: after the handler has
    decided the caller may do this at all (a stranger gets 403 or 404, not a
    validation error about what they sent). A model whose fields are all optional
    takes a request with no body as {}."""

    def __init__(self, model: Model) -> None:
        self.model = model

    async def __call__(self) -> dict[str, Any]:
        return self.model.parse(await json_body(optional=not self.model.required))


Handler = Callable[..., Awaitable[Response]]


@dataclass
class Route:
    method: str
    path: str
    summary: str
    handler: Handler
    body: Model | None = None
    query: Model | None = None
    responses: dict[int, Model | None] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    auth: bool = True
    content_type: str = "application/json"


class Routes:
    """A list of routes declared beside their handlers, at import time: a resource's
    module holds one and its handlers are plain functions; `Api.include` serves them,
    giving each handler what it needs besides the request (the service) by keyword."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: Model | None = None,
        query: Model | None = None,
        responses: dict[int, Model | None],
        errors: tuple[int, ...] = (),
        auth: bool = True,
        content_type: str = "application/json",
    ) -> Callable[[Handler], Handler]:
        def declare(fn: Handler) -> Handler:
            self.add(
                Route(method, path, summary, fn, body, query, responses, errors, auth, content_type)
            )
            return fn

        return declare

    def add(self, route: Route) -> None:
        self.routes.append(route)


class Api(Routes):
    """The routes served by the app, in the order the OpenAPI document lists them.
    `route` declares and serves at once (a handler that closes over what it needs);
    `include` serves a resource module's `Routes`."""

    def __init__(self, app: QuartTrio, verifier: Verifier) -> None:
        super().__init__()
        self.app = app
        self.verifier = verifier
        self.models: dict[str, Model] = {}

    def include(self, routes: Routes, **given: Any) -> None:
        for route in routes.routes:
            self.add(route, given)

    def add(self, route: Route, given: dict[str, Any] | None = None) -> None:
        """Serve `route`: authenticate, parse the query, hand over the body unparsed
        (a `Body` the handler awaits once it has decided the caller may act)."""
        super().add(route)
        fixed = dict(given or {})

        async def view(**params: str) -> Response:
            kwargs: dict[str, Any] = {**fixed, **params}
            if route.auth:
                kwargs["who"] = authenticate(self.verifier)
            if route.query is not None:
                kwargs["query"] = route.query.parse_query(request.args)
            if route.body is not None:
                kwargs["body"] = Body(route.body)
            return await route.handler(**kwargs)

        quart_path = re.sub(r"\{(\w+)\}", r"<\1>", route.path)
        self.app.add_url_rule(
            quart_path,
            endpoint=f"{route.method} {route.path}",
            view_func=view,
            methods=[route.method],
        )

    def add_models(self, *models: Model) -> None:
        for model in models:
            self.models[model.name] = model

    def openapi(self, *, title: str, version: str) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for route in self.routes:
            paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
        return {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version},
            "paths": paths,
            "components": {
                "schemas": {name: m.json_schema() for name, m in sorted(self.models.items())},
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                    "token": {"type": "apiKey", "in": "query", "name": "token"},
                },
            },
        }


def _operation(route: Route) -> dict[str, Any]:
    """One route as an OpenAPI operation."""
    op: dict[str, Any] = {"summary": route.summary, "operationId": route.handler.__name__}
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_PARAMS.get(name, {"type": "string"}),
        }
        for name in re.findall(r"\{(\w+)\}", route.path)
    ]
    if route.query is not None:
        params += route.query.query_parameters()
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {
            "required": bool(route.body.required),
            "content": {"application/json": {"schema": _ref(route.body.name)}},
        }
    op["responses"] = _responses(route)
    if route.auth:
        op["security"] = [{"bearer": []}, {"token": []}]
    return op


def _responses(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in route.responses.items():
        entry: dict[str, Any] = {"description": "success"}
        if model is not None:
            entry["content"] = {route.content_type: {"schema": _ref(model.name)}}
        elif route.content_type != "application/json":
            entry["content"] = {route.content_type: {"schema": {"type": "string"}}}
        responses[str(status)] = entry
    errors = set(route.errors) | ({400, 401} if route.auth else set())
    if route.body is not None:
        errors |= {400, 413, 415}
    for status in sorted(errors):
        responses[str(status)] = {
            "description": ERROR_TEXT[status],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return responses


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}
