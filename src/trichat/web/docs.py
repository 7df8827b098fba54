"""The API reference at /docs: redoc (its standalone bundle, committed under static/
with its licence, served from here: no CDN) renders /openapi.json; /docs/protocol is
docs/protocol.md, the WebSocket protocol, as plain text.

redoc cannot run under the page's policy (web/page.py): styled-components writes
its styles into <style> elements at run time, and its search index is built in a
Web Worker started from a blob: URL. /docs alone therefore allows inline styles and
blob: workers; scripts stay 'self' only (no inline script, no eval), and it is never
framed. The API reference holds no secret and takes no input but its search box.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from quart import Response
from quart_trio import QuartTrio

from trichat.web.app import ApiError

DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "worker-src blob:; connect-src 'self'; img-src 'self' data:; font-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
BUNDLE = "redoc.standalone.js"
PROTOCOL = "protocol.md"


def protocol_path() -> Path:
    """docs/protocol.md in a checkout or editable install; else where a wheel install
    puts it (`share/trichat/docs` under the environment, pyproject's data-files)."""
    checkout = Path(__file__).resolve().parents[3] / "docs" / PROTOCOL
    if checkout.is_file():
        return checkout
    return Path(sys.prefix) / "share" / "trichat" / "docs" / PROTOCOL


def _guarded(body: str | bytes, content_type: str) -> Response:
    response = Response(body, content_type=content_type)
    response.headers["Content-Security-Policy"] = DOCS_CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def register(app: QuartTrio) -> None:
    """Serve /docs, its two files, and /docs/protocol."""
    static = resources.files("trichat.web").joinpath("static")
    page = static.joinpath("docs.html").read_text()
    style = static.joinpath("docs.css").read_text()
    bundle = static.joinpath(BUNDLE).read_bytes()
    found = protocol_path()
    # an install without it (not from the wheel or a checkout) still starts
    protocol = found.read_text() if found.is_file() else None

    @app.get("/docs")
    async def docs_page() -> Response:
        return _guarded(page, "text/html; charset=utf-8")

    @app.get("/docs/docs.css")
    async def docs_css() -> Response:
        return _guarded(style, "text/css; charset=utf-8")

    @app.get(f"/docs/{BUNDLE}")
    async def docs_bundle() -> Response:
        return _guarded(bundle, "text/javascript; charset=utf-8")

    @app.get("/docs/protocol")
    async def docs_protocol() -> Response:
        if protocol is None:
            raise ApiError(404, f"the protocol reference is not installed ({found})")
        return _guarded(protocol, "text/plain; charset=utf-8")
