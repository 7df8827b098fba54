"""The quart-trio app: REST under /api/v1/chat, /metrics, /. JSON errors only:
every failure is {"error": {"code", "message"}} with its status, never a trace."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import trio
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from trichat.auth import Verifier
from trichat.errors import HTTP_STATUS, UNAVAILABLE, AuthError, ClientError
from trichat.models import Principal

log = logging.getLogger("trichat.web")

MAX_BODY = 64 * 1024
UNAVAILABLE_RETRY = 1.0  # seconds a 503 asks the caller to wait (Retry-After)
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _HTTP_CODES.get(status, "error")
        self.message = message
        self.retry_after = retry_after


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def error_response(err: ApiError) -> Response:
    headers = {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(err.retry_after + 0.5)))
    return json_response({"error": {"code": err.code, "message": err.message}}, err.status, headers)


def authenticate(verifier: Verifier) -> Principal:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else request.args.get("token")
    if not token:
        raise ApiError(401, "a token is required (Authorization: Bearer <jwt>)")
    try:
        return verifier.verify(token)
    except AuthError as exc:
        raise ApiError(401, str(exc)) from None


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def json_body(*, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object; with `optional`, no body at all reads as {}."""
    data = await request.get_data()
    if not data:
        if optional:
            return {}
        raise ApiError(400, "a JSON object body is required")
    if not _is_json(request.headers.get("Content-Type", "")):
        raise ApiError(415, "the body must be sent as Content-Type: application/json")
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def create_app() -> QuartTrio:
    app = QuartTrio("trichat")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True

    @app.errorhandler(ApiError)
    async def _api_error(err: ApiError) -> Response:
        return error_response(err)

    @app.errorhandler(ClientError)
    async def _client_error(err: ClientError) -> Response:
        status = HTTP_STATUS.get(err.code, 400)
        retry = err.retry_after
        if retry is None and err.code == UNAVAILABLE:
            retry = UNAVAILABLE_RETRY  # the service said the store or cluster is away
        return error_response(ApiError(status, err.message, err.code, retry))

    @app.errorhandler(HTTPException)
    async def _http_error(err: HTTPException) -> Response:
        status = err.code or 500
        response = error_response(ApiError(status, err.description or err.name))
        allowed = getattr(err, "valid_methods", None)
        if status == 405 and allowed:
            response.headers["Allow"] = ", ".join(sorted(allowed))
        return response

    @app.errorhandler(Exception)
    async def _unexpected(err: Exception) -> Response:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(ApiError(500, "internal error", "internal"))

    return app


BODY_WAIT = 5.0  # seconds a response waits for the rest of its request's body


class AsgiGuard:
    """ASGI wrapper around the Quart app, for two edges of hypercorn 0.18:

    - A WebSocket upgrade that reaches hypercorn (on a keep-alive connection, or on a
      path that is not a WebSocket endpoint) is refused with a clear HTTP answer
      instead of being half served.
    - A response started before its request body has fully arrived (a 405 or 401
      answered from the head alone) leaves hypercorn's connection neither recycled
      nor closed, so the client's next request on it hangs. The response start is
      held until the body is complete (at most `BODY_WAIT` seconds); Quart reads
      the body in the background meanwhile. A 408 (the body did not arrive within
      `BODY_TIMEOUT`) goes at once, with `Connection: close`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await self._refuse_websocket(receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = trio.Event()

        async def watched_receive() -> dict[str, Any]:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done.set()
            return message  # type: ignore[no-any-return]

        async def held_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and not body_done.is_set():
                if message["status"] == 408:  # the body stalled: answer now, then close
                    headers = [*message.get("headers", []), (b"connection", b"close")]
                    message = {**message, "headers": headers}
                else:
                    with trio.move_on_after(BODY_WAIT):
                        await body_done.wait()
            await send(message)

        await self.app(scope, watched_receive, held_send)

    async def _refuse_websocket(self, receive: Any, send: Any) -> None:
        body = orjson.dumps(
            {
                "error": {
                    "code": "bad_request",
                    "message": "WebSocket upgrades are served on /ws and "
                    "/api/v1/chat/channels/{id}/ws, on a new connection",
                }
            }
        )
        await receive()  # websocket.connect
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
