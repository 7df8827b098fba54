"""The web client in headless Chromium (Debian's package), against `trichat run --dev`."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.helpers.ports import free_port
from tests.helpers.process import TrichatProcess

CHROMIUM = "/usr/bin/chromium"
SECRET = "e2e-secret-of-sufficient-length-for-hs256-xxxx"
SHOTS = os.environ.get("TRICHAT_SCREENSHOTS")  # a folder: save screenshots there (docs/)


class Server(TrichatProcess):
    def __init__(self, data: Path, port: int = 0) -> None:
        self.data = data
        log = data.parent / f"server-{time.monotonic_ns()}.log"
        super().__init__(
            log,
            SECRET,
            PORT=str(port),
            TRICHAT_DATA_DIR=str(data),
            TRICHAT_DEV="1",
            TRICHAT_SHUTDOWN_GRACE="2s",
        )

    def post(self, user: str, content: str) -> None:
        req = urllib.request.Request(
            f"{self.url}/api/v1/chat/channels/{self.general}/messages",
            method="POST",
            data=json.dumps({"content": content}).encode(),
            headers={
                "Authorization": f"Bearer {self.token(user)}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 201


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install chromium"
    # Playwright's sync API runs a plain asyncio loop; trio-asyncio (imported by other
    # tests in this process) replaces the asyncio policy, so use the default meanwhile.
    policy = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                ],
            )
            yield b
            b.close()
    finally:
        asyncio.set_event_loop_policy(policy)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path / "data")
    yield s
    if s.proc.poll() is None:
        s.stop()


def sign_in(browser: Browser, url: str, name: str) -> Page:
    page = browser.new_page(viewport={"width": 1100, "height": 640})
    page.goto(url)
    page.fill("#devname", name)
    page.click("#devgo")
    expect(page.locator("#status")).to_have_text("online")
    page.click(".chan >> text=general")
    expect(page.locator("#channame")).to_have_text("# general")
    return page


def send(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


def test_two_pages_chat_with_typing_and_presence(browser: Browser, server: Server) -> None:
    alice = sign_in(browser, server.url, "alice")
    bob = sign_in(browser, server.url, "bob")
    expect(alice.locator("#who")).to_contain_text("bob")
    expect(bob.locator("#who")).to_contain_text("alice")

    send(alice, "hello bob")
    expect(bob.locator(".msg .body").last).to_have_text("hello bob")
    expect(alice.locator(".msg.pending")).to_have_count(0)  # acked: no longer pending
    expect(bob.locator(".msg .author").last).to_have_text("alice")

    # keystrokes over ~3 s, as a person types: typing frames go out at most every 2 s
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
    send(alice, "x" * 501)  # too long: shown inline, not as an alert
    expect(alice.locator("#errors")).to_contain_text("too long")


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
