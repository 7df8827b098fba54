"""The web page and its two files: security headers, no inline script or style, and the
dev flag, without a browser (tests/e2e/test_web_client.py checks what Chromium does)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import Running, StartServer
from tests.helpers.client import HttpResponse, http

FILES = [("/", "text/html"), ("/app.js", "text/javascript"), ("/app.css", "text/css")]
# the modules app.js imports: served with the page's headers too
FILES += [(f"/{name}.js", "text/javascript") for name in ("core", "log", "view")]
FILES += [("/favicon.svg", "image/svg+xml")]  # linked from the page: no favicon.ico 404


def directives(policy: str) -> dict[str, list[str]]:
    """`a x y; b z` → {"a": ["x", "y"], "b": ["z"]}; a repeated directive is an error."""
    out: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        assert name not in out, f"{name} given twice in {policy!r}"
        out[name] = sources
    return out


class Inline(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block, and the files referenced."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []
        self.referenced: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self.blocked += [f"{tag} {k}=" for k in names if k == "style" or k.startswith("on")]
        if tag == "style":
            self.blocked.append("<style>")
        if tag == "script":
            self.in_script = True
            if not names.get("src"):
                self.blocked.append("<script> without src")
        for key in ("src", "href"):
            if tag in ("script", "link") and names.get(key):
                self.referenced.append(str(names[key]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script and data.strip():
            self.blocked.append("<script> with a body")


@pytest.mark.parametrize(("path", "kind"), FILES)
async def test_page_and_its_files_carry_the_security_headers(
    server: Running, path: str, kind: str
) -> None:
    resp = await http(server.port, "GET", path)
    assert resp.status == 200
    assert resp.headers["content-type"].split(";")[0] == kind
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["x-content-type-options"] == "nosniff"
    policy = resp.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    csp = directives(policy)
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]  # no ws:/wss: wildcard: this origin only
    assert csp["default-src"] == ["'self'"]


async def test_page_has_no_inline_script_or_style(server: Running) -> None:
    page = await http(server.port, "GET", "/")
    parser = Inline()
    parser.feed(page.body.decode())
    assert parser.blocked == []
    assert sorted(parser.referenced) == ["/app.css", "/app.js", "/favicon.svg"]
    for path in parser.referenced:
        assert (await http(server.port, "GET", path)).status == 200
    # no second, unguarded way to the same files
    assert (await http(server.port, "GET", "/static/index.html")).status == 404


async def test_dev_flag_reaches_the_page_as_an_attribute(
    server: Running, start_server: StartServer, tmp_path: Path
) -> None:
    def flag(resp: HttpResponse) -> bool:
        body = resp.body.decode()
        assert body.count("data-dev=") == 1
        return 'data-dev="true"' in body

    assert flag(await http(server.port, "GET", "/")) is False
    dev = await start_server(tmp_path / "dev", dev=True)  # its own store: one process per file
    assert flag(await http(dev.port, "GET", "/")) is True
    script = (await http(dev.port, "GET", "/app.js")).body.decode()
    assert 'dataset.dev === "true"' in script  # what the page reads the flag with
