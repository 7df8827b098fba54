"""The route registry (`web/api.py`) through the Quart app, in process: a resource
module's `Routes` are served with the service given by keyword, the caller is
judged before the body, and a body whose fields are all optional may be absent."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Response
from quart_trio import QuartTrio

from trichat.auth import Verifier, mint
from trichat.models import Principal
from trichat.web.api import Api, Body, Routes
from trichat.web.app import ApiError, create_app, json_response
from trichat.web.schema import Field, Model

SECRET = "registry-secret-of-sufficient-length-for-hs256"
OPTIONAL = Model("Optional", [Field("reason", str)])
REQUIRED = Model("Required", [Field("name", str, required=True)])

routes = Routes()


@routes.route("PUT", "/things/{user_id}", summary="s", body=OPTIONAL, responses={200: None})
async def put_thing(chat: dict[str, str], who: Principal, user_id: str, body: Body) -> Response:
    if user_id == "forbidden":
        raise ApiError(403, "not you")  # decided before the body is read
    return json_response({"chat": chat["name"], "who": who.user_id, **await body()})


@routes.route("POST", "/things", summary="s", body=REQUIRED, responses={201: None})
async def post_thing(chat: dict[str, str], who: Principal, body: Body) -> Response:
    return json_response(await body(), 201)


@pytest.fixture
def app() -> QuartTrio:
    app = create_app()
    api = Api(app, Verifier(SECRET, "HS256", None, None))
    api.add_models(OPTIONAL, REQUIRED)
    api.include(routes, chat={"name": "the service"})
    app.config["openapi"] = api.openapi(title="t", version="0")
    return app


async def call(app: QuartTrio, method: str, path: str, data: bytes | None = None) -> Any:
    headers = {"Authorization": f"Bearer {mint(SECRET, 'ann')}"}
    if data:
        headers["Content-Type"] = "application/json"
    response = await app.test_client().open(path, method=method, data=data, headers=headers)
    return response.status_code, await response.get_json()


async def test_the_handler_gets_what_include_gives(app: QuartTrio) -> None:
    status, body = await call(app, "PUT", "/things/bob", b'{"reason": "r"}')
    assert status == 200 and body == {"chat": "the service", "who": "ann", "reason": "r"}


@pytest.mark.parametrize("raw", [b"not json", b"[1]", b'{"reason": 5}', b'{"x": 1}'])
async def test_the_caller_is_judged_before_the_body(app: QuartTrio, raw: bytes) -> None:
    assert (await call(app, "PUT", "/things/forbidden", raw))[0] == 403
    assert (await call(app, "PUT", "/things/bob", raw))[0] == 400


async def test_only_an_all_optional_body_may_be_absent(app: QuartTrio) -> None:
    assert await call(app, "PUT", "/things/bob") == (
        200,
        {"chat": "the service", "who": "ann"},
    )
    status, body = await call(app, "POST", "/things")
    assert status == 400 and body["error"]["message"] == "a JSON object body is required"


async def test_included_routes_are_documented(app: QuartTrio) -> None:
    paths = app.config["openapi"]["paths"]
    assert paths["/things/{user_id}"]["put"]["operationId"] == "put_thing"
    assert paths["/things/{user_id}"]["put"]["requestBody"]["required"] is False
    assert paths["/things"]["post"]["requestBody"]["required"] is True
