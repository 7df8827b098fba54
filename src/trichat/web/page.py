"""The web client: `/` and its files, under a strict Content-Security-Policy.

No inline script or style; fetch and WebSocket to this origin only ('self' covers
ws:/wss: to the same host in CSP Level 3); never framed (`frame-ancestors 'none'`
and, for older browsers, `X-Frame-Options: DENY`).
"""

from __future__ import annotations

from importlib import resources

from quart import Response
from quart_trio import QuartTrio

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# app.js is an ES module that imports the others: no build step, each file small
SCRIPTS = ("app.js", "core.js", "log.js", "view.js")


def _guarded(body: str, content_type: str) -> Response:
    response = Response(body, content_type=content_type)
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def register(app: QuartTrio, *, dev: bool) -> None:
    """Serve the page; with `dev`, it offers development sign-in."""
    static = resources.files("trichat.web").joinpath("static")
    flag = 'data-dev="true"' if dev else 'data-dev="false"'
    page = static.joinpath("index.html").read_text().replace('data-dev="false"', flag, 1)
    scripts = {name: static.joinpath(name).read_text() for name in SCRIPTS}
    style = static.joinpath("app.css").read_text()
    icon = static.joinpath("favicon.svg").read_text()

    @app.get("/")
    async def index() -> Response:
        return _guarded(page, "text/html; charset=utf-8")

    async def script(name: str) -> Response:
        return _guarded(scripts[name], "text/javascript; charset=utf-8")

    for name in SCRIPTS:
        app.add_url_rule(f"/{name}", f"page_{name}", script, defaults={"name": name})

    @app.get("/app.css")
    async def app_css() -> Response:
        return _guarded(style, "text/css; charset=utf-8")

    @app.get("/favicon.svg")
    async def favicon() -> Response:
        return _guarded(icon, "image/svg+xml")
