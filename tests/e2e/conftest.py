"""Fixtures of the e2e tests: Debian's Chromium through Playwright, and a real
`trichat run --dev` with its own data folder."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.pages import CHROMIUM, Server


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
