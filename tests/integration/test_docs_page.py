"""/docs (the API reference, redoc from a committed bundle) and /docs/protocol, without a
browser: what they serve and under which policy (tests/e2e/test_docs_page.py runs it)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from tests.conftest import Running
from tests.helpers.client import http
from tests.integration.test_page_headers import Inline, directives

ROOT = Path(__file__).parents[2]
FILES = [
    ("/docs", "text/html"),
    ("/docs/docs.css", "text/css"),
    ("/docs/redoc.standalone.js", "text/javascript"),
    ("/docs/protocol", "text/plain"),
]


@pytest.mark.parametrize(("path", "kind"), FILES)
async def test_docs_and_their_files_are_served_under_their_policy(
    server: Running, path: str, kind: str
) -> None:
    resp = await http(server.port, "GET", path)
    assert resp.status == 200
    assert resp.headers["content-type"].split(";")[0] == kind
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["x-content-type-options"] == "nosniff"
    csp = directives(resp.headers["content-security-policy"])
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval: only styles relax
    assert csp["style-src"] == ["'self'", "'unsafe-inline'"]
    assert csp["worker-src"] == ["blob:"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]


async def test_docs_page_loads_the_committed_bundle_and_links_the_protocol(
    server: Running,
) -> None:
    page = (await http(server.port, "GET", "/docs")).body.decode()
    parser = Inline()
    parser.feed(page)
    assert parser.blocked == []
    assert "/docs/redoc.standalone.js" in parser.referenced
    assert all(ref.startswith("/") for ref in parser.referenced)  # this server only
    assert 'spec-url="/openapi.json"' in page
    assert 'href="/docs/protocol"' in page
    bundle = await http(server.port, "GET", "/docs/redoc.standalone.js")
    static = resources.files("trichat.web").joinpath("static")
    assert bundle.body == static.joinpath("redoc.standalone.js").read_bytes()
    assert static.joinpath("redoc.LICENSE.txt").read_text().startswith("The MIT License")
    protocol = await http(server.port, "GET", "/docs/protocol")
    assert protocol.body.decode() == (ROOT / "docs" / "protocol.md").read_text()


def test_a_wheel_and_the_image_carry_what_docs_serve() -> None:
    """pyproject puts the bundle in the package and docs/protocol.md in the data files
    (web/docs.py finds it under sys.prefix); the Dockerfile copies it for the build."""
    import fnmatch
    import tomllib

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["trichat"]
    for name in ("docs.html", "docs.css", "redoc.standalone.js", "redoc.LICENSE.txt"):
        assert any(fnmatch.fnmatch(f"web/static/{name}", p) for p in patterns), name
    assert "docs/protocol.md" in setuptools["data-files"]["share/trichat/docs"]
    assert "COPY docs/protocol.md ./docs/" in (ROOT / "Dockerfile").read_text()
