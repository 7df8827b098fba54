"""The channel log on the web page (issue 16) in Chromium: edit and delete your own
messages, react and see counts, threads beside the main log, and all of it right
after a reconnect during which others changed the log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Locator, Page, WebSocket, expect

from tests.e2e.pages import Server, enter, open_page, reload, row, send, seq_of, sign_in
from tests.helpers.ports import free_port


def at(page: Page, seq: int, where: str = "#log") -> Locator:
    """A message's row by seq: it stays the same row when its text changes."""
    return page.locator(f'{where} .msg[data-seq="{seq}"]')


def tool(message: Locator, label: str) -> Locator:
    return message.get_by_role("button", name=label, exact=True)


def expect_reactions(message: Locator, shown: list[str], pressed: list[bool]) -> None:
    chips = message.locator(".reaction")
    expect(chips).to_have_text(shown)
    for k, held in enumerate(pressed):
        expect(chips.nth(k)).to_have_attribute("aria-pressed", "true" if held else "false")


def test_edit_and_delete_own_messages(browser: Browser, server: Server) -> None:
    alice = sign_in(browser, server.url, "alice")
    bob = sign_in(browser, server.url, "bob")
    send(alice, "frist post")
    seq = seq_of(alice, "frist post")
    mine, theirs = at(alice, seq), at(bob, seq)
    expect(theirs.locator(".body")).to_have_text("frist post")
    expect(tool(theirs, "Edit this message")).to_have_count(0)  # bob's page: not his
    expect(tool(theirs, "Delete this message")).to_have_count(0)

    tool(mine, "Edit this message").click()
    editor = mine.get_by_role("textbox", name="Edit the message")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("frist post")
    editor.fill("never mind")
    editor.press("Escape")  # cancelled: nothing sent
    expect(mine.locator(".body")).to_have_text("frist post")
    expect(tool(mine, "Edit this message")).to_be_focused()
    tool(mine, "Edit this message").click()
    editor.fill("first post")
    send(bob, "meanwhile")  # the log redraws under the editor: it keeps its text and focus
    expect(row(alice, "meanwhile")).to_have_count(1)
    expect(editor).to_be_focused()
    expect(editor).to_have_value("first post")
    editor.press("Enter")
    for shown in (mine, theirs):
        expect(shown.locator(".body")).to_have_text("first post")
        expect(shown.locator(".edited")).to_have_text("(edited)")

    tool(mine, "Delete this message").click()
    tool(mine, "No, keep it").click()
    expect(mine.locator(".body")).to_have_text("first post")
    send(alice, "this one stays")
    kept = seq_of(alice, "this one stays")
    tool(mine, "Delete this message").click()
    tool(mine, "Yes, delete it").click()
    for shown in (mine, theirs):
        expect(shown.locator(".body")).to_have_text("message deleted")
        expect(shown).not_to_contain_text("first post")
        expect(shown.locator(".edited, button")).to_have_count(0)

    reload(bob)  # a fresh join leaves deleted messages out
    expect(at(bob, kept).locator(".body")).to_have_text("this one stays")
    expect(at(bob, seq)).to_have_count(0)


def test_reactions_show_counts_and_whose_they_are(browser: Browser, server: Server) -> None:
    alice = sign_in(browser, server.url, "alice")
    bob = sign_in(browser, server.url, "bob")
    send(alice, "react to me")
    seq = seq_of(alice, "react to me")
    mine, theirs = at(alice, seq), at(bob, seq)

    tool(mine, "Add a reaction").focus()  # by keyboard: the picker opens focused
    alice.keyboard.press("Enter")
    expect(tool(mine, "React with 👍")).to_be_focused()
    alice.keyboard.press("Enter")
    expect_reactions(mine, ["👍 1"], [True])
    expect_reactions(theirs, ["👍 1"], [False])

    theirs.locator(".reaction").click()  # bob adds his: the count rises for both
    expect_reactions(theirs, ["👍 2"], [True])
    expect_reactions(mine, ["👍 2"], [True])
    tool(theirs, "Add a reaction").click()
    tool(theirs, "React with 🎉").click()
    expect_reactions(mine, ["👍 2", "🎉 1"], [True, False])

    mine.locator(".reaction").first.click()  # alice takes hers back
    expect_reactions(mine, ["👍 1", "🎉 1"], [False, False])
    expect_reactions(theirs, ["👍 1", "🎉 1"], [True, True])

    for page, held in ((bob, [True, True]), (alice, [False, False])):
        reload(page)  # which are yours: from REST after a reload
        expect_reactions(at(page, seq), ["👍 1", "🎉 1"], held)


def test_replies_go_in_a_thread_and_count_on_the_root(browser: Browser, server: Server) -> None:
    alice = sign_in(browser, server.url, "alice")
    bob = sign_in(browser, server.url, "bob")
    send(alice, "lunch plans?")
    root = seq_of(alice, "lunch plans?")

    tool(at(bob, root), "Reply in a thread").click()
    expect(bob.locator("#thread")).to_be_visible()
    expect(bob.locator("#threadroot .body")).to_have_text("lunch plans?")
    expect(bob.locator("#threadtext")).to_be_focused()
    bob.keyboard.type("noon?")
    bob.keyboard.press("Enter")
    expect(bob.locator("#threadlog .msg:not(.pending) .body")).to_have_text(["noon?"])
    for page in (alice, bob):
        expect(at(page, root).locator(".replies")).to_have_text("1 reply")
        expect(page.locator("#log")).not_to_contain_text("noon?")  # not in the main log

    tool(at(alice, root), "Open the thread: 1 reply").click()
    expect(alice.locator("#threadlog .body")).to_have_text(["noon?"])
    alice.fill("#threadtext", "12:30")
    alice.press("#threadtext", "Enter")
    expect(bob.locator("#threadlog .body")).to_have_text(["noon?", "12:30"])
    expect(bob.locator("#threadcount")).to_have_text("2 replies")
    expect(at(alice, root).locator(".replies")).to_have_text("2 replies")

    reply = row(bob, "noon?", "#threadlog")
    tool(reply, "Delete this message").click()
    tool(reply, "Yes, delete it").click()
    expect(alice.locator("#threadlog .body")).to_have_text(["message deleted", "12:30"])
    expect(at(alice, root).locator(".replies")).to_have_text("1 reply")

    reload(bob)  # a fresh page: the count from the history, the thread from REST
    expect(bob.locator("#thread")).to_be_hidden()
    tool(at(bob, root), "Open the thread: 1 reply").click()
    expect(bob.locator("#threadlog .body")).to_have_text(["12:30"])
    tool(bob.locator("#thread"), "Close the thread").click()
    expect(bob.locator("#thread")).to_be_hidden()
    expect(bob.locator("#threadlog .msg")).to_have_count(0)


def watch_frames(page: Page) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The frames the page's sockets send and receive, decoded, as they go."""
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []

    def on_socket(ws: WebSocket) -> None:
        ws.on("framesent", lambda payload: sent.append(json.loads(payload)))
        ws.on("framereceived", lambda payload: received.append(json.loads(payload)))

    page.on("websocket", on_socket)
    return sent, received


def test_after_a_reconnect_the_page_shows_what_others_changed(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    alice, _ = open_page(browser, server.url)
    sent, received = watch_frames(alice)
    enter(alice, "alice")
    draft = server.post("bob", "first draft")
    oops = server.post("bob", "oops")
    send(alice, "hello all")
    send(alice, "lunch?")
    hello, lunch = seq_of(alice, "hello all"), seq_of(alice, "lunch?")
    server.post("bob", "noon", parent_seq=lunch)
    expect(at(alice, lunch).locator(".replies")).to_have_text("1 reply")
    expect(at(alice, oops).locator(".body")).to_have_text("oops")
    tool(at(alice, hello), "Add a reaction").click()
    tool(at(alice, hello), "React with 👍").click()
    expect_reactions(at(alice, hello), ["👍 1"], [True])  # the last entry: an event
    cursor = max(f["seq"] for f in received if f.get("type") == "reaction_added")

    port = server.port
    server.stop()
    expect(alice.locator("#status")).to_have_text("reconnecting…")
    elsewhere = Server(server.data, port=free_port())  # while alice is away
    elsewhere.edit("bob", draft, "final draft")
    elsewhere.delete("bob", oops)
    elsewhere.react("bob", hello, "👍")
    elsewhere.react("bob", hello, "🎉")
    elsewhere.post("bob", "or one?", parent_seq=lunch)
    elsewhere.post("bob", "missed me?")
    elsewhere.stop()
    again = Server(server.data, port=port)
    try:
        expect(alice.locator("#status")).to_have_text("online", timeout=20_000)
        expect(at(alice, draft).locator(".body")).to_have_text("final draft")
        expect(at(alice, draft).locator(".edited")).to_have_text("(edited)")
        expect(at(alice, oops).locator(".body")).to_have_text("message deleted")
        expect_reactions(at(alice, hello), ["👍 2", "🎉 1"], [True, False])
        expect(at(alice, lunch).locator(".replies")).to_have_text("2 replies")
        expect(alice.locator("#log .msg .body").last).to_have_text("missed me?")
        joins = [f for f in sent if f["type"] == "join"]
        assert [j.get("since") for j in joins] == [None, cursor]  # the event's seq, not a message's

        tool(at(alice, lunch), "Open the thread: 2 replies").click()
        expect(alice.locator("#threadlog .body")).to_have_text(["noon", "or one?"])
        at(alice, hello).locator(".reaction").first.click()  # and it still works
        expect_reactions(at(alice, hello), ["👍 1", "🎉 1"], [False, False])
    finally:
        again.stop()


def test_the_page_modules_load_under_the_policy(browser: Browser, server: Server) -> None:
    """app.js imports its modules (no build step): each comes guarded like the page."""
    page = browser.new_page()
    scripts: dict[str, dict[str, str]] = {}
    page.on(
        "response",
        lambda r: scripts.update({r.url: r.all_headers()}) if r.url.endswith(".js") else None,
    )
    page.goto(server.url)
    expect(page.locator("#devname")).to_be_visible()  # the script ran: dev sign-in shown
    names = ["app.js", "core.js", "log.js", "view.js"]
    assert sorted(scripts) == [f"{server.url}/{name}" for name in names]
    for headers in scripts.values():
        assert headers["content-type"].startswith("text/javascript")
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
