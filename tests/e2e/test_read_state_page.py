"""Read state on the web page (issue 17), in Chromium: unread badges per channel, the
"new messages" line where the marker was, marking read as messages are seen, and two
tabs of one user in step."""

from __future__ import annotations

from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.e2e.pages import RECORD_VIOLATIONS, Server, enter, row

# the tab as hidden (true) or shown (false), as the browser tells a page
HIDE = """(hidden) => {
  const state = () => (hidden ? "hidden" : "visible");
  Object.defineProperty(document, "visibilityState", {configurable: true, get: state});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def tab(context: BrowserContext, server: Server, name: str, got: list[str] | None = None) -> Page:
    """A tab of `context` signed in as `name`, in general; `got`: the frames it receives."""
    page = context.new_page()
    if got is not None:
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: got.append(str(f))))
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(server.url)
    enter(page, name)
    return page


def visit(page: Page, channel: str) -> None:
    page.click(f".chan >> text={channel}")
    expect(page.locator("#channame")).to_have_text(f"# {channel}")


def random_channel(server: Server) -> str:
    return str(server.call("bob", "POST", "/channels", {"name": "random"}, 201)["id"])


def post(server: Server, channel_id: str, user: str, content: str) -> int:
    body = {"content": content}
    return int(server.call(user, "POST", f"/channels/{channel_id}/messages", body, 201)["seq"])


def badge(page: Page, channel: str) -> Locator:
    return page.locator(".chan", has_text=channel).locator(".unread")


def test_two_tabs_show_the_badge_and_clear_it_together(browser: Browser, server: Server) -> None:
    rid = random_channel(server)
    context = browser.new_context(viewport={"width": 1100, "height": 640})
    got: list[str] = []
    tabs = [tab(context, server, "alice", got), tab(context, server, "alice")]
    for t in tabs:  # both have been in random (a marker there), both look at general
        visit(t, "random")
        visit(t, "general")
    post(server, rid, "bob", "one")
    two = post(server, rid, "bob", "two")
    for t in tabs:
        expect(badge(t, "random")).to_have_text("2")
    server.call("carol", "PUT", f"/channels/{rid}/read", {"seq": two})  # receipts: not alice's
    server.call("bob", "PUT", f"/channels/{rid}/read", {"seq": two})
    post(server, rid, "bob", "three")
    for t in tabs:
        expect(badge(t, "random")).to_have_text("3")
        expect(badge(t, "random")).to_have_attribute("aria-label", "3 unread")
        expect(badge(t, "general")).to_have_count(0)
    assert any('"user_id":"bob"' in f and '"type":"read"' in f for f in got)  # had a receipt
    expect(badge(tabs[0], "random")).to_have_text("3")  # and took it for none of its own
    visit(tabs[1], "random")  # tab 2 sees them: its read clears the badge in both tabs
    expect(row(tabs[1], "three")).to_have_count(1)
    for t in tabs:
        expect(badge(t, "random")).to_have_count(0)
    assert server.call("alice", "GET", "/me/unread")["total"] == 0
    post(server, rid, "bob", "four")  # seen at once in tab 2: no badge anywhere
    expect(row(tabs[1], "four")).to_have_count(1)
    expect(badge(tabs[0], "random")).to_have_count(0)
    expect(badge(tabs[1], "random")).to_have_count(0)
    context.close()


def test_the_new_messages_line_sits_above_the_first_unread(
    browser: Browser, server: Server
) -> None:
    rid = random_channel(server)
    post(server, rid, "bob", "read before")
    context = browser.new_context(viewport={"width": 1100, "height": 640})
    alice = tab(context, server, "alice")
    visit(alice, "random")
    expect(alice.locator("#log .divider")).to_have_count(0)  # nothing unread: no line
    visit(alice, "general")
    for text in ("first unread", "second unread"):
        post(server, rid, "bob", text)
    expect(badge(alice, "random")).to_have_text("2")
    visit(alice, "random")
    expect(alice.locator("#log .divider + .msg")).to_contain_text("first unread")
    expect(alice.locator("#log > *").filter(has_text="read before")).to_have_count(1)
    order = alice.locator("#log .msg .body, #log .divider")
    expect(order).to_have_text(["read before", "New messages", "first unread", "second unread"])
    expect(badge(alice, "random")).to_have_count(0)  # read: the line stays while here
    post(server, rid, "bob", "while here")
    expect(row(alice, "while here")).to_have_count(1)
    expect(alice.locator("#log .divider")).to_have_count(1)
    visit(alice, "general")  # gone once the channel is switched
    visit(alice, "random")
    expect(row(alice, "while here")).to_have_count(1)
    expect(alice.locator("#log .divider")).to_have_count(0)
    context.close()


def test_a_hidden_tab_counts_and_marks_read_once_shown(browser: Browser, server: Server) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 640})
    alice = tab(context, server, "alice")
    reads: list[str] = []
    alice.on(
        "websocket",
        lambda ws: ws.on("framesent", lambda f: reads.append(str(f)) if '"read"' in str(f) else 0),
    )
    alice.reload()  # the session resumes: its socket is watched from the start
    expect(alice.locator("#status")).to_have_text("online")
    expect(alice.locator("#channame")).to_have_text("# general")
    alice.evaluate(HIDE, True)
    for text in ("while away", "still away"):
        server.post("bob", text)
    expect(row(alice, "still away")).to_have_count(1)
    expect(badge(alice, "general")).to_have_text("2")  # the channel shown, the tab hidden
    assert reads == []
    alice.evaluate(HIDE, False)
    expect(badge(alice, "general")).to_have_count(0)
    assert len(reads) == 1
    assert server.call("alice", "GET", "/me/unread")["total"] == 0
    context.close()


def test_the_switcher_shows_unread_at_375_px(browser: Browser, server: Server) -> None:
    rid = random_channel(server)
    context = browser.new_context(viewport={"width": 375, "height": 640})
    page = context.new_page()
    page.goto(server.url)
    page.fill("#devname", "alice")
    page.click("#devgo")
    expect(page.locator("#status")).to_have_text("online")
    page.select_option("#chanswitch", value=rid)
    expect(page.locator("#channame")).to_have_text("# random")
    page.select_option("#chanswitch", value=server.general)
    expect(page.locator("#channame")).to_have_text("# general")
    expect(page.locator("#switchunread")).to_be_hidden()
    post(server, rid, "bob", "psst")
    expect(page.locator("#switchunread")).to_be_visible()
    expect(page.locator("#switchunread")).to_have_text("1")
    label = "1 unread in other channels"
    expect(page.locator("#switchunread")).to_have_attribute("aria-label", label)
    expect(page.locator(f"#chanswitch option[value='{rid}']")).to_have_text("# random (1 unread)")
    page.select_option("#chanswitch", value=rid)
    expect(row(page, "psst")).to_have_count(1)
    expect(page.locator("#switchunread")).to_be_hidden()
    expect(page.locator(f"#chanswitch option[value='{rid}']")).to_have_text("# random")
    context.close()
