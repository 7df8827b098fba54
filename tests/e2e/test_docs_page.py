"""/docs in Chromium: redoc, from the committed bundle, renders /openapi.json under the
docs policy, with no request leaving this machine (no CDN, no web font)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from playwright.sync_api import Browser, Route, expect

from tests.e2e.pages import RECORD_VIOLATIONS, Server

LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def summaries(url: str) -> list[str]:
    with urllib.request.urlopen(f"{url}/openapi.json", timeout=10) as resp:
        document = json.loads(resp.read())
    return [op["summary"] for path in document["paths"].values() for op in path.values()]


def test_docs_render_the_openapi_document_offline(browser: Browser, server: Server) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.add_init_script(RECORD_VIOLATIONS)
    outside: list[str] = []

    def only_localhost(route: Route) -> None:
        host = urllib.parse.urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_localhost)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/docs")
    names = summaries(server.url)
    assert "Liveness and dependencies (public)" in names
    for name in [*names[:3], "Liveness and dependencies (public)"]:
        expect(page.locator("h2", has_text=name).first).to_be_visible()
    search = page.get_by_placeholder("Search...")  # redoc's index, built in its worker
    search.fill("Liveness")
    found = page.get_by_role("search").get_by_role("menuitem")
    expect(found).to_have_text(["getLiveness and dependencies (public)"])
    assert outside == []
    assert errors == []
    # redoc's "API docs by Redocly" credit shows its logo from cdn.redoc.ly: the docs
    # policy stops that request before it is made (hence not in `outside`), the link stays
    violations = page.evaluate("window.cspViolations")
    assert {(v["directive"], v["blocked"]) for v in violations} <= {("img-src", LOGO)}
    page.click("a[href='/docs/protocol']")
    expect(page.locator("body")).to_contain_text("The trichat wire protocol")
