"""The web client in headless Chromium (Debian's package), against `trichat run --dev`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, Frame, Route, expect

from tests.e2e.pages import Server, enter, open_page, send, sign_in
from tests.helpers.ports import free_port

SHOTS = os.environ.get("TRICHAT_SCREENSHOTS")  # a folder: save screenshots there (docs/)


def test_two_pages_chat_with_typing_and_presence(browser: Browser, server: Server) -> None:
    alice = sign_in(browser, server.url, "alice")
    bob = sign_in(browser, server.url, "bob")
    expect(alice.locator("#who")).to_contain_text("bob")
    expect(bob.locator("#who")).to_contain_text("alice")

    send(alice, "hello bob")
    expect(bob.locator(".msg .body").last).to_have_text("hello bob")
    expect(alice.locator(".msg.pending")).to_have_count(0)  # acked: no longer pending
    expect(bob.locator(".msg .author").last).to_have_text("alice")

    # keystrokes over ~3 s, as a person types: typing frames go out at most every 2.5 s
    alice.type("#text", "I am typing this", delay=200)
    expect(bob.locator("#typing")).to_have_text("alice is typing…")
    send(alice, "typed it")
    expect(bob.locator(".msg .body").last).to_have_text("typed it")
    if SHOTS:
        send(bob, "Looks good — shipping it!")
        expect(alice.locator(".msg .body").last).to_have_text("Looks good — shipping it!")
        alice.screenshot(path=str(Path(SHOTS) / "web-client.png"))

    bob.close()
    expect(alice.locator("#who")).not_to_contain_text("bob")


def test_message_content_is_text_not_html(browser: Browser, server: Server) -> None:
    alice = sign_in(browser, server.url, "alice")
    bob = sign_in(browser, server.url, "bob")
    evil = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2"><b>bold</b>'
    send(alice, evil)
    expect(bob.locator(".msg .body").last).to_have_text(evil)
    assert bob.locator(".msg .body img, .msg .body script, .msg .body b").count() == 0
    assert bob.evaluate("window.pwned") is None


def test_inline_errors_and_scrollback(browser: Browser, server: Server) -> None:
    for k in range(60):
        server.post(f"old-timer-{k % 5}", f"old {k}")  # 20 a minute each
    alice = sign_in(browser, server.url, "alice")
    expect(alice.locator(".msg")).to_have_count(50)  # HISTORY_ON_JOIN
    alice.click("#older")
    expect(alice.locator(".msg")).to_have_count(60)
    expect(alice.locator(".msg .body").first).to_have_text("old 0")
    send(alice, "x" * 501)  # too long: shown inline on the message, not as an alert
    expect(alice.locator(".msg.failed .reason")).to_contain_text("too long")


def test_page_reconnects_and_shows_what_it_missed(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    alice = sign_in(browser, server.url, "alice")
    send(alice, "before the restart")
    expect(alice.locator(".msg.pending")).to_have_count(0)
    port = server.port
    server.stop()
    expect(alice.locator("#status")).to_have_text("reconnecting…")
    # while alice's page is away, others talk (on a server on another port)
    elsewhere = Server(server.data, port=free_port())
    elsewhere.post("bob", "missed 1")
    elsewhere.post("bob", "missed 2")
    elsewhere.stop()
    again = Server(server.data, port=port)
    try:
        expect(alice.locator("#status")).to_have_text("online", timeout=20_000)
        bodies = alice.locator(".msg .body")
        expect(bodies).to_have_text(["before the restart", "missed 1", "missed 2"])
        send(alice, "after")
        expect(bodies.last).to_have_text("after")
        expect(alice.locator(".msg.pending")).to_have_count(0)
    finally:
        again.stop()


def test_page_needs_no_inline_script_and_talks_to_its_own_origin_only(
    browser: Browser, server: Server
) -> None:
    page, response = open_page(browser, server.url)
    headers = response.all_headers()
    csp = {d.split()[0]: d.split()[1:] for d in headers["content-security-policy"].split(";")}
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["script-src"] == ["'self'"] and csp["connect-src"] == ["'self'"]
    assert headers["x-frame-options"] == "DENY"
    enter(page, "alice")  # script and style load from files; the page's own WebSocket opens
    send(page, "still works")
    expect(page.locator(".msg.pending")).to_have_count(0)  # acked over the WebSocket
    assert page.evaluate("getComputedStyle(document.body).display") == "flex"  # app.css applied

    elsewhere = [
        f"ws://127.0.0.1:{free_port()}/",  # another port
        f"ws://localhost:{server.port}/ws",  # another host: the same server, listening
    ]
    for url in elsewhere:
        page.evaluate("(url) => { new WebSocket(url); }", url)
    page.evaluate("(url) => fetch(url).catch(() => {})", f"http://localhost:{server.port}/")
    page.wait_for_function("window.cspViolations.length >= 3", timeout=10_000)
    # in the order provoked, and none before: the page itself never tripped the policy
    assert page.evaluate("window.cspViolations") == [
        {"directive": "connect-src", "blocked": url}
        for url in [*elsewhere, f"http://localhost:{server.port}/"]
    ]


def without(names: tuple[str, ...]) -> Callable[[Route], None]:
    """A route handler: the server's response, less these headers."""

    def handle(route: Route) -> None:
        got = route.fetch()
        kept = {k: v for k, v in got.headers.items() if k.lower() not in names}
        route.fulfill(response=got, headers=kept)

    return handle


def test_page_refuses_to_be_framed(browser: Browser, server: Server) -> None:
    """Framed by another origin: refused by either header alone; loads without both
    (which shows the refusal is the headers' doing)."""
    page = browser.new_page()
    framer, html = "http://framer.test/", f'<iframe src="{server.url}/"></iframe>'
    page.route(framer, lambda r: r.fulfill(content_type="text/html", body=html))
    outcomes = {True: f"{server.url}/", False: "chrome-error://chromewebdata/"}  # framed?
    for stripped, framed in [
        ((), False),
        (("content-security-policy",), False),
        (("x-frame-options",), False),
        (("content-security-policy", "x-frame-options"), True),
    ]:
        page.route(f"{server.url}/", without(stripped))
        with page.expect_event("framenavigated", lambda f: f.url in outcomes.values()) as navigated:
            page.goto(framer)
        frame: Frame = navigated.value
        assert frame.url == outcomes[framed], stripped
        expect(frame.locator("#devname")).to_have_count(1 if framed else 0)
        page.unroute(f"{server.url}/")


def test_page_lists_more_than_a_page_of_channels(browser: Browser, server: Server) -> None:
    names = [f"room-{k:03d}" for k in range(120)]
    for k, name in enumerate(names):
        server.create_channel(f"maker-{k // 10}", name)  # 10 a minute per user
    page = sign_in(browser, server.url, "alice")
    rows = page.locator("#chanlist .chan")
    expect(rows).to_have_count(121)  # general, then the 120 in creation order
    expect(rows).to_have_text(["# general", *[f"# {name}" for name in names]])
