"""The web page as a newcomer first meets it (issue 18), in Chromium: a phone-wide
window, a reload, a refused message, the keyboard alone, an empty channel, no 404."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from tests.e2e.pages import Server, enter, open_page, row, send, sign_in

BOX = """(sel) => {
  const r = document.querySelector(sel).getBoundingClientRect(); return {x: r.x, w: r.width};
}"""
STYLE = "([id, name]) => getComputedStyle(document.getElementById(id))[name]"


def box(page: Page, selector: str) -> dict[str, Any]:
    return dict(page.evaluate(BOX, selector))


def scrolls_sideways(page: Page) -> bool:
    return bool(page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth"))


@pytest.mark.parametrize("width", [375, 1280])
def test_page_fits_the_window(browser: Browser, server: Server, width: int) -> None:
    page, _ = open_page(browser, server.url, width=width)
    assert not scrolls_sideways(page)  # the sign-in too
    enter_by_switcher = width < 700
    page.fill("#devname", "alice")
    page.click("#devgo")
    expect(page.locator("#status")).to_have_text("online")
    if enter_by_switcher:  # one column: the list is hidden, the switcher picks the channel
        expect(page.locator("#chanlist")).to_be_hidden()
        expect(page.locator("#who")).to_be_hidden()
        page.select_option("#chanswitch", label="# general")
    else:
        expect(page.locator("#chanswitch")).to_be_hidden()
        page.click(".chan >> text=general")
    expect(page.locator("#channame")).to_have_text("# general")
    send(page, "a message long enough to wrap on a phone: " + "word " * 30)
    expect(page.locator(".msg.pending")).to_have_count(0)
    log, compose = box(page, "#log"), box(page, "#compose")
    if enter_by_switcher:
        assert log["x"] == 0 and log["w"] == width  # the message column is the page's width
    else:
        assert 400 < log["w"] < width - 300  # beside the channels and who is online
        assert box(page, "#chanlist")["w"] > 150
    assert compose["w"] == log["w"]
    assert not scrolls_sideways(page)


def test_reload_keeps_the_session_and_rejoins(browser: Browser, server: Server) -> None:
    server.create_channel("bob", "random")
    alice = sign_in(browser, server.url, "alice")
    send(alice, "before the reload")
    alice.click(".chan >> text=random")
    expect(alice.locator("#channame")).to_have_text("# random")
    alice.reload()
    expect(alice.locator("#status")).to_have_text("online")
    expect(alice.locator("#signin")).to_be_hidden()
    expect(alice.locator("#channame")).to_have_text("# random")  # where alice was
    expect(alice.locator(".chan.joined")).to_have_text(["# general", "# random"])
    server.post("bob", "after the reload")  # general is joined again: it counts as unread
    expect(alice.locator(".chan", has_text="general").locator(".unread")).to_have_text("1")
    alice.click(".chan >> text=general")
    expect(alice.locator("#log .msg .body")).to_have_text(["before the reload", "after the reload"])


def test_a_refused_message_stays_marked_with_a_retry(browser: Browser, tmp_path: Path) -> None:
    server = Server(tmp_path / "data", TRICHAT_RATE_LIMIT_PER_MINUTE="2")
    try:
        alice = sign_in(browser, server.url, "alice")
        sent: list[str] = []
        alice.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(str(f))))
        alice.reload()  # the session resumes: its socket is watched from the start
        expect(alice.locator("#status")).to_have_text("online")
        expect(alice.locator("#channame")).to_have_text("# general")
        for text in ("one", "two", "three"):
            send(alice, text)
        failed = alice.locator("#log .msg.failed")
        expect(failed).to_have_count(1)
        expect(failed.locator(".body")).to_have_text("three")
        expect(failed.locator(".reason")).to_contain_text("rate limited")
        expect(alice.locator("#log .msg .body")).to_have_text(["one", "two", "three"])
        expect(alice.locator("#errors")).to_have_text("")  # the reason is on the row only
        tries = sum('"three"' in f for f in sent)
        failed.get_by_role("button", name="Retry sending this message").click()
        # sent again with the same id, refused again: still one row, in place, still failed
        expect(alice.locator("#log .msg.failed")).to_have_count(1)
        assert sum('"three"' in f for f in sent) == tries + 1
        expect(alice.get_by_role("textbox", name="Message")).to_be_focused()  # not lost
        expect(alice.locator("#log .msg .body")).to_have_text(["one", "two", "three"])
        expect(alice.locator("#errors")).to_have_text("")
        failed.get_by_role("button", name="Discard this message").click()
        expect(alice.locator("#log .msg .body")).to_have_text(["one", "two"])
    finally:
        server.stop()


def test_keyboard_labels_and_empty_state(browser: Browser, server: Server) -> None:
    server.create_channel("bob", "quiet")
    page, _ = open_page(browser, server.url)
    page.get_by_label("Your name").fill("alice")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text("online")
    composer = page.get_by_role("textbox", name="Message")
    expect(composer).to_be_disabled()
    assert page.evaluate(STYLE, ["text", "cursor"]) == "not-allowed"  # and looks it
    enabled = page.evaluate(STYLE, ["newname", "backgroundColor"])
    assert page.evaluate(STYLE, ["text", "backgroundColor"]) != enabled
    expect(page.get_by_label("New channel name")).to_be_visible()
    log = page.get_by_role("log", name="Messages")
    expect(log).to_have_attribute("aria-live", "polite")
    quiet = page.get_by_role("button", name="# quiet")
    for _ in range(10):  # Tab from the top reaches the channel rows
        page.keyboard.press("Tab")
        if quiet.evaluate("(b) => b === document.activeElement"):
            break
    expect(quiet).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#channame")).to_have_text("# quiet")
    expect(quiet).to_have_attribute("aria-current", "true")
    expect(composer).to_be_enabled()
    expect(log.locator(".empty")).to_have_text("No messages here yet: say hello.")
    send(page, "hello")
    expect(log.locator(".empty")).to_have_count(0)
    expect(row(page, "hello")).to_have_count(1)


def test_no_request_of_the_page_fails(browser: Browser, server: Server) -> None:
    page = browser.new_page()
    failed: list[str] = []

    def check(resp: Response) -> None:
        if resp.status >= 400:
            failed.append(f"{resp.status} {resp.url}")

    page.on("response", check)
    page.goto(server.url)
    enter(page, "alice")
    page.wait_for_load_state("networkidle")
    assert failed == []
    icon = page.evaluate("document.querySelector('link[rel=icon]').href")
    assert icon == f"{server.url}/favicon.svg"
    assert page.request.get(icon).status == 200


@pytest.mark.parametrize("width", [375, 1280])
def test_axe_finds_nothing_serious(browser: Browser, server: Server, width: int) -> None:
    server.post("bob", "hello alice")
    page, _ = open_page(browser, server.url, width=width)
    states = {"sign-in": axe_problems(page)}
    page.fill("#devname", "alice")
    page.click("#devgo")
    expect(page.locator("#status")).to_have_text("online")
    states["no channel"] = axe_problems(page)
    page.select_option("#chanswitch", label="# general") if width < 700 else page.click(
        ".chan >> text=general"
    )
    expect(row(page, "hello alice")).to_have_count(1)
    send(page, "x" * 501)  # refused: the failed row and its buttons are checked too
    expect(page.locator(".msg.failed")).to_have_count(1)
    states["a channel"] = axe_problems(page)
    assert states == {name: [] for name in states}


def axe_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']}: {[n['target'] for n in v['nodes']]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def test_a_channel_is_created_on_a_phone(browser: Browser, server: Server) -> None:
    page, _ = open_page(browser, server.url, width=375)
    page.fill("#devname", "alice")
    page.click("#devgo")
    expect(page.locator("#status")).to_have_text("online")
    expect(page.locator("#chanlist")).to_be_hidden()  # the list stays a switcher
    name = page.get_by_label("New channel name")
    expect(name).to_be_visible()
    name.fill("from-a-phone")
    page.get_by_role("button", name="Create the channel").click()
    expect(page.locator("#channame")).to_have_text("# from-a-phone")
    expect(page.locator("#chanswitch option:checked")).to_have_text("# from-a-phone")
    send(page, "the first message here")
    expect(page.locator(".msg.pending")).to_have_count(0)
    expect(row(page, "the first message here")).to_have_count(1)
    log = box(page, "#log")
    assert log["x"] == 0 and log["w"] == 375  # still one column, the page's width
    assert not scrolls_sideways(page)
