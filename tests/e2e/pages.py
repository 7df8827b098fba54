"""What the e2e tests share: `trichat run --dev` as a process with REST helpers for the
other users, and the steps a person takes on the page (sign in, pick general, send)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Locator, Page, Response, expect

from tests.helpers.process import TrichatProcess

CHROMIUM = "/usr/bin/chromium"
SECRET = "e2e-secret-of-sufficient-length-for-hs256-xxxx"
# every page records the CSP violations it reports, in order, in window.cspViolations
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.cspViolations.push({directive: e.effectiveDirective, blocked: e.blockedURI}));
"""


class Server(TrichatProcess):
    def __init__(self, data: Path, port: int = 0, **env: str) -> None:
        self.data = data
        log = data.parent / f"server-{time.monotonic_ns()}.log"
        super().__init__(
            log,
            SECRET,
            PORT=str(port),
            TRICHAT_DATA_DIR=str(data),
            TRICHAT_DEV="1",
            TRICHAT_SHUTDOWN_GRACE="2s",
            **env,
        )

    def post(self, user: str, content: str, parent_seq: int | None = None) -> int:
        """Post in general (a reply with `parent_seq`); the message's seq."""
        body: dict[str, Any] = {"content": content}
        if parent_seq is not None:
            body["parent_seq"] = parent_seq
        return int(self.call(user, "POST", self.messages(), body, 201)["seq"])

    def edit(self, user: str, seq: int, content: str) -> None:
        self.call(user, "PATCH", f"{self.messages()}/{seq}", {"content": content})

    def delete(self, user: str, seq: int) -> None:
        self.call(user, "DELETE", f"{self.messages()}/{seq}")

    def react(self, user: str, seq: int, emoji: str) -> None:
        self.call(user, "PUT", f"{self.messages()}/{seq}/reactions/{urllib.parse.quote(emoji)}")

    def create_channel(self, user: str, name: str) -> None:
        self.call(user, "POST", "/channels", {"name": name}, 201)

    def messages(self) -> str:
        return f"/channels/{self.general}/messages"

    def call(
        self, user: str, method: str, path: str, body: object = None, status: int = 200
    ) -> dict[str, Any]:
        req = urllib.request.Request(
            f"{self.url}/api/v1/chat{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.token(user)}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == status
            return dict(json.loads(resp.read() or b"{}"))


def open_page(browser: Browser, url: str, width: int = 1100) -> tuple[Page, Response]:
    page = browser.new_page(viewport={"width": width, "height": 640})
    page.add_init_script(RECORD_VIOLATIONS)
    response = page.goto(url)
    assert response is not None
    return page, response


def sign_in(browser: Browser, url: str, name: str) -> Page:
    page, _ = open_page(browser, url)
    enter(page, name)
    return page


def enter(page: Page, name: str) -> None:
    page.fill("#devname", name)
    page.click("#devgo")
    expect(page.locator("#status")).to_have_text("online")
    page.click(".chan >> text=general")
    expect(page.locator("#channame")).to_have_text("# general")


def reload(page: Page) -> None:
    """Reload: the tab's session resumes (signed in, general joined afresh and shown)."""
    page.reload()
    expect(page.locator("#status")).to_have_text("online")
    expect(page.locator("#channame")).to_have_text("# general")


def send(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


def row(page: Page, text: str, where: str = "#log") -> Locator:
    """The message row in the main log (or `where`: "#thread") whose text holds `text`."""
    return page.locator(f"{where} .msg").filter(has_text=text)


def seq_of(page: Page, text: str) -> int:
    """The seq of a message the page shows (once acked: pending rows have none)."""
    found = row(page, text).and_(page.locator(".msg:not(.pending)"))
    expect(found).to_have_count(1)
    return int(found.get_attribute("data-seq") or "0")
